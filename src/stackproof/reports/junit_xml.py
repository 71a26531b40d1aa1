"""``junit.xml``: one testcase per check x target, so CI systems show stackproof's verdicts
next to their tests. The control ID is in the test name and in its properties; a suppressed or
skipped result is ``skipped``, FAIL is ``failure``, ERROR is ``error``. BASELINED (a failure a
baseline file accepted) is ``skipped`` with a message saying so: visible, not failing; the
baselined findings that are fixed are a suite of their own, so the file can shrink."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from stackproof.reports.sweep_report import tags_of
from stackproof.reports.tool_rules import tool_rules

OUTCOME = {
    "FAIL": "failure",
    "ERROR": "error",
    "SKIP": "skipped",
    "SUPPRESSED": "skipped",
    "BASELINED": "skipped",
    "WARNING": "system-out",
}


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
            "skipped": sum(r["status"] in ("SKIP", "SUPPRESSED", "BASELINED") for r in results),
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
            ("region", next((e["region"] for e in run.get("environments", []) if e["name"] == target), run["region"])),
            ("target", target),
            *suite_tags(run, target),
            *coverage_properties(run, target),
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
                *tags_of(result).items(),
            ):
                ET.SubElement(case_properties, "property", name=name, value=str(value))
            outcome = OUTCOME.get(result["status"])
            if outcome:
                first = result["message"].splitlines()[0] if result["message"] else result["status"]
                accepted = result.get("suppression")
                if accepted:
                    first = (
                        f"suppressed: {accepted['reason']} (owner {accepted['owner']},"
                        f" expires {accepted['expires']}, {accepted['source']})"
                    )
                if result["status"] == "BASELINED" and result.get("baseline"):
                    first = f"baselined: an accepted finding of {result['baseline']['file']}: {first}"
                element = ET.SubElement(case, outcome, message=first, type=result["status"])
                element.text = result["message"]
            drill = result.get("drill")
            if drill:
                for name in ("rto_seconds", "rpo_seconds"):
                    ET.SubElement(case_properties, "property", name=name, value=str(drill[name]))
            out = list(result["notes"])
            if drill:
                out += [
                    f"{step['started']}s +{step['duration']}s {step['status']}: {step['name']}"
                    for step in drill["steps"]
                ]
                out += [f"cleanup {c['status']}: {c['what']}" for c in drill["cleanup"]]
            if out:
                ET.SubElement(case, "system-out").text = "\n".join(out)
    for tool in report.get("tools", []):
        _tool_suite(root, tool, run, totals)
    if report.get("suppressions"):
        _suppression_suite(root, report["suppressions"], run, totals)
    if run.get("baseline"):
        _baseline_suite(root, run["baseline"], run, totals)
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _suite(
    root: ET.Element,
    name: str,
    run: dict[str, Any],
    cases: list[tuple[str, str, str | None, str]],
    totals: dict[str, int],
) -> None:
    """A suite of ``(name, classname, outcome or None, message)`` cases."""
    counts = {
        "tests": len(cases),
        "failures": sum(c[2] == "failure" for c in cases),  # warnings (system-out) pass
        "errors": sum(c[2] == "error" for c in cases),
        "skipped": sum(c[2] == "skipped" for c in cases),
    }
    for key, value in counts.items():
        totals[key] += value
    suite = ET.SubElement(
        root,
        "testsuite",
        {"name": name, "timestamp": run["started"][:19], "time": "0.000", **{k: str(v) for k, v in counts.items()}},
    )
    for case_name, classname, outcome, message in cases:
        case = ET.SubElement(suite, "testcase", name=case_name, classname=classname, time="0.000")
        if outcome == "system-out":  # a warning: the case passes, its text stays visible
            ET.SubElement(case, "system-out").text = f"WARNING: {message}"
        elif outcome:
            element = ET.SubElement(
                case, outcome, message=message.splitlines()[0] if message else outcome, type=outcome
            )
            element.text = message


def _tool_suite(root: ET.Element, tool: dict[str, Any], run: dict[str, Any], totals: dict[str, int]) -> None:
    """cfn-lint or checkov on the template: a case for the run itself and one per finding."""
    cases: list[tuple[str, str, str | None, str]] = []
    classname = f"stackproof.{tool.get('target', 'template')}.{tool['tool']}"
    for row in tool_rules({"tools": [tool]}):
        if row.id == row.tool:
            # The run itself: an error when the tool did not run; its findings are the failures.
            outcome = OUTCOME["ERROR"] if row.status == "ERROR" else None
            cases.append((row.tool, classname, outcome, row.title))
            continue
        for finding in row.findings:
            where = f"{finding['resource'] or ''} ({finding['file']}:{finding['line']})" if finding["line"] else ""
            message = finding["message"] + (f" — {finding['justification']}" if finding["justification"] else "")
            cases.append(
                (
                    f"{row.id} {where}".strip(),
                    classname,
                    OUTCOME.get(finding["status"]),
                    message,
                )
            )
    _suite(root, classname, run, cases, totals)


def _suppression_suite(
    root: ET.Element, suppressions: list[dict[str, Any]], run: dict[str, Any], totals: dict[str, int]
) -> None:
    """Each suppression is a case: an expired or invalid one fails."""
    cases: list[tuple[str, str, str | None, str]] = []
    for s in suppressions:
        scope = s["resource"] or "all resources"
        name = f"suppression {s['control']} {scope} ({s['source']})"
        if s["state"] in ("expired", "invalid"):
            cases.append(
                (name, "stackproof.suppressions", "failure", f"{s['problem']}: {s['reason']} (owner {s['owner']})")
            )
        else:
            cases.append((name, "stackproof.suppressions", None, ""))
    _suite(root, "stackproof.suppressions", run, cases, totals)


def suite_tags(run: dict[str, Any], column: str) -> list[tuple[str, Any]]:
    """In a sweep, the suite's environment with its account, region and stacks."""
    for environment in run.get("environments", []):
        if environment["name"] == column:
            stacks = ",".join(environment["stacks"])
            return [("environment", column), ("account", environment["account"] or ""), ("stacks", stacks)]
    return []


def coverage_properties(run: dict[str, Any], column: str) -> list[tuple[str, Any]]:
    """The coverage of the target a suite holds (``reference/target`` when several ran)."""
    for c in run["coverage"]:
        if column in (c["target"], f"{c['reference']}/{c['target']}"):
            return [
                ("verdict", run["verdict"]),
                *(
                    (f"coverage_{k}", c[k])
                    for k in ("controls", "proven", "failed", "suppressed", "not_shown", "percent")
                ),
            ]
    return [("verdict", run["verdict"])]


def _baseline_suite(root: ET.Element, baseline: dict[str, Any], run: dict[str, Any], totals: dict[str, int]) -> None:
    """Each baselined finding the run no longer finds is a passing case saying the baseline can
    shrink: the CI's test view lists them without failing the run."""
    cases: list[tuple[str, str, str | None, str]] = []
    for entry in baseline["fixed"]:
        where = f" {', '.join(entry['resources'])}" if entry["resources"] else ""
        name = f"fixed, remove from the baseline: {entry['control']}{where} ({entry['fingerprint'][:12]})"
        cases.append((name, "stackproof.baseline", None, ""))
    _suite(root, "stackproof.baseline", run, cases, totals)
