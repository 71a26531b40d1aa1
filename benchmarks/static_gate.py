"""Benchmark: `stackproof run --target template --tools none` (its own checks only) against
`checkov -f` on the same templates.

Measures whole commands (process start included), median of several runs, on the reference
template and on generated templates of about 1,000 and 2,000 resources, and prints the ratio
checkov / stackproof for each. Goals: stackproof at least 5x faster than checkov, 2,000
resources in under 3 s, and near-linear growth (the 2,000/1,000 time ratio close to 2).

    python benchmarks/static_gate.py [--runs 3] [--checkov PATH]

checkov runs from its own environment (`tox -e static` creates .tox/static); set
STACKPROOF_CHECKOV or pass --checkov to point elsewhere.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference" / "cloudformation" / "dashboard.yaml"
PARAMS = ROOT / "reference" / "cloudformation" / "dashboard.params.json"
sys.path.insert(0, str(ROOT / "src"))

from stackproof.template.cfn_yaml import load_text  # noqa: E402


def block(i: int) -> dict[str, Any]:
    """Ten resources of the kinds the controls read, wired to the reference VPC."""
    sg = f"Cell{i}SecurityGroup"
    return {
        f"Cell{i}Subnet": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": {"Ref": "Vpc"},
                "CidrBlock": f"10.{1 + i // 250}.{i % 250}.0/24",
                "AvailabilityZone": {"Fn::Select": [i % 2, {"Fn::GetAZs": ""}]},
            },
        },
        f"Cell{i}RouteTable": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "Vpc"}}},
        f"Cell{i}Route": {
            "Type": "AWS::EC2::Route",
            "Properties": {
                "RouteTableId": {"Ref": f"Cell{i}RouteTable"},
                "DestinationCidrBlock": "0.0.0.0/0",
                "NatGatewayId": {"Ref": "NatGateway"},
            },
        },
        f"Cell{i}Association": {
            "Type": "AWS::EC2::SubnetRouteTableAssociation",
            "Properties": {"SubnetId": {"Ref": f"Cell{i}Subnet"}, "RouteTableId": {"Ref": f"Cell{i}RouteTable"}},
        },
        f"Cell{i}AclAssociation": {
            "Type": "AWS::EC2::SubnetNetworkAclAssociation",
            "Properties": {"SubnetId": {"Ref": f"Cell{i}Subnet"}, "NetworkAclId": {"Ref": "PrivateNetworkAcl"}},
        },
        sg: {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {"GroupDescription": f"cell {i}", "VpcId": {"Ref": "Vpc"}},
        },
        f"Cell{i}Ingress": {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {
                "GroupId": {"Fn::GetAtt": [sg, "GroupId"]},
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "SourceSecurityGroupId": {"Fn::GetAtt": ["LoadBalancerSecurityGroup", "GroupId"]},
                "Description": "from the load balancer",
            },
        },
        f"Cell{i}Bucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
                "VersioningConfiguration": {"Status": "Enabled"},
            },
        },
        f"Cell{i}BucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": f"Cell{i}Bucket"},
                "PolicyDocument": {
                    "Statement": [
                        {
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": {"Fn::Sub": "${Cell" + str(i) + "Bucket.Arn}/*"},
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ]
                },
            },
        },
        f"Cell{i}Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 365}},
    }


def generated(resources: int, directory: Path) -> Path:
    data = json.loads(json.dumps(load_text(REFERENCE.read_text(encoding="utf-8"))))
    cells = 0
    while len(data["Resources"]) + 10 <= resources:
        data["Resources"].update(block(cells))
        cells += 1
    path = directory / f"generated-{resources}.json"
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def timed(command: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, cwd=ROOT)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--checkov", help="checkov executable (default: STACKPROOF_CHECKOV, .tox/static, PATH)")
    args = parser.parse_args()
    from stackproof.gate.tools import ToolMissing, find_tool

    checkov = args.checkov or str(ROOT / ".tox" / "static" / "bin" / "checkov")
    if not Path(checkov).exists():
        try:
            checkov = find_tool("checkov", "STACKPROOF_CHECKOV")
        except ToolMissing as exc:
            print(f"benchmark: {exc}", file=sys.stderr)
            return 2
    stackproof = [
        sys.executable,
        "-m",
        "stackproof.cli",
        "run",
        "--target",
        "template",
        "--tools",
        "none",
        "--no-reports",
        "--params",
        str(PARAMS),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        cases = [("reference", REFERENCE), *((f"{n} resources", generated(n, Path(tmp))) for n in (1000, 2000))]
        print(f"{'template':<16} {'resources':>9} {'stackproof s':>13} {'checkov s':>10} {'checkov/stackproof':>19}")
        times = {}
        for label, path in cases:
            count = len(load_text(path.read_text(encoding="utf-8"))["Resources"])
            ours = timed([*stackproof, "--template", str(path)], args.runs)
            theirs = timed(
                [checkov, "-f", str(path), "--framework", "cloudformation", "--skip-download", "--quiet", "--compact"],
                args.runs,
            )
            times[label] = ours
            print(f"{label:<16} {count:>9} {ours:>13.2f} {theirs:>10.2f} {theirs / ours:>18.1f}x")
        growth = times["2000 resources"] / times["1000 resources"]
        print(f"growth 1,000 -> 2,000 resources: {growth:.2f}x the time (linear would be about 2x, less with start-up)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
