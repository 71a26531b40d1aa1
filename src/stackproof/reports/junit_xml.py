"""``junit.xml``: one testcase per check x target, so CI systems show stackproof's verdicts
next to their tests. The control ID is in the test name and in its properties; a suppressed or
skipped result is ``skipped``, FAIL is ``failure``, ERROR is ``error``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

OUTCOME = {"FAIL": "failure", "ERROR": "error", "SKIP": "skipped", "SUPPRESSED": "skipped"}


def render(report: dict[str, Any]) -> str:
    run = report["run"]
    controls = {c["id"]: c for c in report["catalogue"]}
    by_target: dict[str, list[dict[str, Any]]] = {t: [] for t in run["targets"]}
    for result in report["results"]:
        by_target.setdefault(result["target"], []).append(result)
    root = ET.Element("testsuites", name=f"stackproof {run['id']}")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for target, results in by_target.items():
        counts = {
            "tests": len(results),
            "failures": sum(r["status"] == "FAIL" for r in results),
            "errors": sum(r["status"] == "ERROR" for r in results),
            "skipped": sum(r["status"] in ("SKIP", "SUPPRESSED") for r in results),
        }
        for key, value in counts.items():
            totals[key] += value
        attributes = {
            "name": f"stackproof.{target}",
            "timestamp": run["started"][:19],
            "time": f"{sum(r['duration'] for r in results):.3f}",
            **{k: str(v) for k, v in counts.items()},
        }
        suite = ET.SubElement(root, "testsuite", attributes)
        properties = ET.SubElement(suite, "properties")
        for name, value in (
            ("template", run["template"]["path"]),
            ("template_sha256", run["template"]["sha256"]),
            ("region", run["region"]),
            ("target", target),
        ):
            ET.SubElement(properties, "property", name=name, value=str(value))
        for result in results:
            control = controls.get(result["control"], {})
            case = ET.SubElement(
                suite,
                "testcase",
                name=f"{result['control']} {result['check']}",
                classname=f"stackproof.{target}.{control.get('family', 'checks')}",
                time=f"{result['duration']:.3f}",
            )
            case_properties = ET.SubElement(case, "properties")
            for name, value in (
                ("control", result["control"]),
                ("severity", control.get("severity", "")),
                ("status", result["status"]),
                ("source", f"{control.get('seed', '')}: {control.get('quote', '')}"),
            ):
                ET.SubElement(case_properties, "property", name=name, value=str(value))
            outcome = OUTCOME.get(result["status"])
            if outcome:
                first = result["message"].splitlines()[0] if result["message"] else result["status"]
                element = ET.SubElement(case, outcome, message=first, type=result["status"])
                element.text = result["message"]
            if result["notes"]:
                ET.SubElement(case, "system-out").text = "\n".join(result["notes"])
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
