"""A deployment is a set of stacks: exports resolve imports across templates, nested stacks are
expanded with what their parent passes, and the three forms of the reference (one file, a
three-stack set, a parent with nested stacks) give the same verdict on every control, for the
reference and for every mutant."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackproof import catalogue
from stackproof.build.stack_set import SUB_VARIABLE, names_used, nested, stack_set
from stackproof.model.deployment import Deployment
from stackproof.model.types import AutoScalingGroup, DbInstance, Subnet
from stackproof.results.evaluate import evaluate
from stackproof.targets import TargetError, TargetOptions
from stackproof.targets.template import TemplateTarget
from stackproof.template.cfn_yaml import load_text
from tests.conftest import REGION, ROOT, TEMPLATE, stackproof_run
from tests.mutants import MUTANTS, Mutant

CFN = ROOT / "reference" / "cloudformation"
PARAMS = CFN / "dashboard.params.json"
CONTROLS = [c for c, control in catalogue.load().items() if control.active and control.suite == "checks"]

NETWORK = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.1.0.0/16}
  DbSubnetA:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref Vpc, CidrBlock: 10.1.1.0/24, AvailabilityZone: !Select [0, !GetAZs ""]}
  DbSubnetB:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref Vpc, CidrBlock: 10.1.2.0/24, AvailabilityZone: !Select [1, !GetAZs ""]}
  Isolated:
    Type: AWS::EC2::RouteTable
    Properties: {VpcId: !Ref Vpc}
  AssocA:
    Type: AWS::EC2::SubnetRouteTableAssociation
    Properties: {SubnetId: !Ref DbSubnetA, RouteTableId: !Ref Isolated}
  AssocB:
    Type: AWS::EC2::SubnetRouteTableAssociation
    Properties: {SubnetId: !Ref DbSubnetB, RouteTableId: !Ref Isolated}
Outputs:
  SubnetA:
    Value: !Ref DbSubnetA
    Export: {Name: !Sub "${AWS::StackName}-DbSubnetA"}
  SubnetB:
    Value: !Ref DbSubnetB
    Export: {Name: !Sub "${AWS::StackName}-DbSubnetB"}
"""

DATABASE = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  NetworkStack: {Type: String, Default: team-net}
Resources:
  Subnets:
    Type: AWS::RDS::DBSubnetGroup
    Properties:
      DBSubnetGroupDescription: database subnets
      SubnetIds:
        - !ImportValue {"Fn::Sub": "${NetworkStack}-DbSubnetA"}
        - !ImportValue {"Fn::Sub": "${NetworkStack}-DbSubnetB"}
  Database:
    Type: AWS::RDS::DBInstance
    Properties:
      Engine: mariadb
      DBInstanceClass: db.t3.micro
      DBSubnetGroupName: !Ref Subnets
"""


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return directory


def model(*specs: Path, params: Path | None = None, stack_name: str | None = None) -> Deployment:
    options = TargetOptions(
        str(specs[0]), str(params) if params else None, REGION, stack_name, templates=tuple(map(str, specs))
    )
    return TemplateTarget(options).deployment()


def test_exports_link_the_stacks_and_the_exporting_stack_is_named_by_its_importers(tmp_path: Path) -> None:
    write(tmp_path, {"net.yaml": NETWORK, "db.yaml": DATABASE})
    deployment = model(tmp_path)
    assert deployment.stacks == {"db": str(tmp_path / "db.yaml"), "net": str(tmp_path / "net.yaml")}
    assert deployment.link_problems == []
    assert deployment.links == 2
    (database,) = deployment.all(DbInstance)
    assert database.location.stack == "db"
    subnet = deployment.get(Subnet, "DbSubnetA")
    assert subnet is not None
    assert subnet.location.stack == "net"
    assert subnet.location.file == str(tmp_path / "net.yaml")
    assert evaluate(deployment, "NET-02")[0] == "PASS"
    assert evaluate(deployment, "DEP-01") == ("PASS", "")


def test_an_import_nothing_exports_is_an_error_naming_export_and_resource(tmp_path: Path) -> None:
    write(tmp_path, {"db.yaml": DATABASE})
    deployment = model(tmp_path / "db.yaml")
    status, message = evaluate(deployment, "DEP-01")
    assert status == "ERROR"
    assert (
        f"Subnets imports team-net-DbSubnetA, which no stack of the set exports — stack db ({tmp_path / 'db.yaml'}:10)"
        in message
    )
    assert "team-net-DbSubnetB" in message
    assert evaluate(deployment, "NET-02")[0] == "ERROR"


def test_explicit_stack_names_decide_the_export_names(tmp_path: Path) -> None:
    write(tmp_path, {"a_net.yaml": NETWORK, "b_db.yaml": DATABASE})
    assert evaluate(model(tmp_path, stack_name="team-net,team-db"), "DEP-01")[0] == "PASS"
    wrong = model(tmp_path, stack_name="other-net,team-db")
    assert evaluate(wrong, "DEP-01")[0] == "ERROR"


def test_two_stacks_asking_for_different_names_of_one_exporter_are_not_guessed(tmp_path: Path) -> None:
    second = (
        DATABASE.replace("Default: team-net", "Default: prod-net")
        .replace("Subnets:", "Subnets2:")
        .replace("Database:", "Database2:")
        .replace("!Ref Subnets", "!Ref Subnets2")
    )
    write(
        tmp_path, {"net.yaml": NETWORK.replace('DbSubnetB"}', 'DbSubnetB"}'), "db.yaml": DATABASE, "db2.yaml": second}
    )
    deployment = model(tmp_path)
    assert evaluate(deployment, "DEP-01")[0] == "ERROR"


def test_a_second_export_of_a_name_is_refused_as_cloudformation_does(tmp_path: Path) -> None:
    write(tmp_path, {"net.yaml": NETWORK, "net2.yaml": NETWORK, "db.yaml": DATABASE})
    with pytest.raises(TargetError, match="is also exported by stack"):
        model(tmp_path / "net.yaml", tmp_path / "net2.yaml", tmp_path / "db.yaml", stack_name="team-net,team-net,db")


def test_logical_ids_two_stacks_share_are_kept_apart(tmp_path: Path) -> None:
    other = NETWORK.replace("10.1.", "10.9.").replace("${AWS::StackName}-DbSubnet", "${AWS::StackName}-Other")
    write(tmp_path, {"net.yaml": NETWORK, "other.yaml": other, "db.yaml": DATABASE})
    deployment = model(tmp_path)
    keys = sorted(s.key for s in deployment.all(Subnet))
    assert keys == ["net/DbSubnetA", "net/DbSubnetB", "other/DbSubnetA", "other/DbSubnetB"]
    assert evaluate(deployment, "NET-02")[0] == "PASS"  # the database's subnets are net's, isolated


PARENT = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Cidr: {Type: String, Default: 10.4.0.0/16}
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: !Ref Cidr}
  Network:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: children/network.yaml
      Parameters: {VpcId: !Ref Vpc}
  App:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: ./children/app.yaml
      Parameters:
        SubnetA: !GetAtt Network.Outputs.SubnetA
        SubnetB: !GetAtt Network.Outputs.SubnetB
"""
CHILD_NETWORK = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  VpcId: {Type: String}
Resources:
  SubnetA:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref VpcId, CidrBlock: 10.4.1.0/24, AvailabilityZone: !Select [0, !GetAZs ""]}
  SubnetB:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref VpcId, CidrBlock: 10.4.2.0/24, AvailabilityZone: !Select [1, !GetAZs ""]}
Outputs:
  SubnetA: {Value: !Ref SubnetA}
  SubnetB: {Value: !Ref SubnetB}
"""
CHILD_APP = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  SubnetA: {Type: String}
  SubnetB: {Type: String}
Resources:
  Group:
    Type: AWS::AutoScaling::AutoScalingGroup
    Properties:
      MinSize: "1"
      MaxSize: "2"
      VPCZoneIdentifier: [!Ref SubnetA, !Ref SubnetB]
"""


def test_nested_stacks_are_expanded_with_what_the_parent_passes(tmp_path: Path) -> None:
    write(tmp_path, {"parent.yaml": PARENT, "children/network.yaml": CHILD_NETWORK, "children/app.yaml": CHILD_APP})
    deployment = model(tmp_path / "parent.yaml")
    assert sorted(deployment.stacks) == ["parent", "parent/App", "parent/Network"]
    (group,) = deployment.all(AutoScalingGroup)
    assert group.location.stack == "parent/App"
    assert [str(s) for s in group.subnets] == ["SubnetA", "SubnetB"]
    subnet = deployment.get(Subnet, "SubnetA")
    assert subnet is not None
    assert subnet.vpc == "Vpc"  # the parent's VPC, passed by reference
    assert deployment.links == 2
    assert evaluate(deployment, "DEP-01")[0] == "PASS"


def test_a_directory_of_a_parent_and_its_children_is_one_deployment(tmp_path: Path) -> None:
    write(tmp_path, {"parent.yaml": PARENT, "children/network.yaml": CHILD_NETWORK, "children/app.yaml": CHILD_APP})
    (tmp_path / "network.yaml").write_text((tmp_path / "children" / "network.yaml").read_text())
    deployment = model(tmp_path / "parent.yaml", tmp_path / "children" / "network.yaml")
    assert sorted(deployment.stacks) == ["parent", "parent/App", "parent/Network"]


def test_a_nested_stack_on_s3_is_an_error_until_mapped(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "parent.yaml": PARENT.replace("children/network.yaml", "https://bucket.s3.amazonaws.com/t/network.yaml"),
            "children/network.yaml": CHILD_NETWORK,
            "children/app.yaml": CHILD_APP,
        },
    )
    status, message = evaluate(model(tmp_path / "parent.yaml"), "DEP-01")
    assert status == "ERROR"
    assert "nested stack Network: https://bucket.s3.amazonaws.com/t/network.yaml is not a local file" in message
    assert "--template-url" in message


def test_a_nested_template_that_is_not_there_is_refused_with_its_line(tmp_path: Path) -> None:
    write(tmp_path, {"parent.yaml": PARENT, "children/app.yaml": CHILD_APP})
    with pytest.raises(TargetError, match=r"parent.yaml:\d+: nested stack Network: no template at"):
        model(tmp_path / "parent.yaml")


def test_the_command_takes_a_set_and_names_each_file(tmp_path: Path) -> None:
    write(tmp_path, {"net.yaml": NETWORK, "db.yaml": DATABASE.replace('-DbSubnetA"}', '-Missing"}')})
    proc = stackproof_run(
        "--template", str(tmp_path / "net.yaml"), "--template", str(tmp_path / "db.yaml"), "-k", "fit_together"
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "DEP-01   high     ERROR" in proc.stdout
    assert "Subnets imports team-net-Missing, which no stack of the set exports" in proc.stdout
    assert f"stack db ({tmp_path / 'db.yaml'}:10)" in proc.stdout


# ---------------------------------------------------------------- the three forms agree


def verdicts(deployment: Deployment) -> dict[str, str]:
    return {c: evaluate(deployment, c)[0] for c in CONTROLS if c != "DEP-01"}


def forms(template: Path, directory: Path) -> dict[str, tuple[Path, ...]]:
    """The single file and the two generated forms of it, with the reference's partition
    (a resource a mutant added goes to the part of the first resource it refers to)."""
    data: dict[str, Any] = json.loads(json.dumps(load_text(template.read_text())))
    parts: dict[str, list[str]] = yaml.safe_load((CFN / "dashboard.parts.yaml").read_text())["parts"]
    parts = {p: [r for r in ids if r in data["Resources"]] for p, ids in parts.items()}
    owner = {r: p for p, ids in parts.items() for r in ids}
    for logical_id, resource in data["Resources"].items():
        if logical_id not in owner:
            home = next((owner[n] for n in sorted(names_used(resource)) if n in owner), "network")
            parts[home].append(logical_id)
            owner[logical_id] = home
    set_dir, nested_dir = directory / "set", directory / "nested"
    set_dir.mkdir()
    nested_dir.mkdir()
    for name, document in stack_set(data, parts, "dashboard").items():
        (set_dir / f"{name}.json").write_text(json.dumps(document))
    for name, document in nested(data, parts, {p: f"{p}.json" for p in parts}).items():
        (nested_dir / f"{name}.json").write_text(json.dumps(document))
    return {"single": (template,), "set": (set_dir,), "nested": (nested_dir / "parent.json",)}


def verdicts_of_forms(template: Path, directory: Path) -> dict[str, dict[str, str] | str]:
    found: dict[str, dict[str, str] | str] = {}
    for form, specs in forms(template, directory).items():
        try:
            found[form] = verdicts(model(*specs, params=PARAMS))
        except TargetError as exc:
            found[form] = f"refused: {str(exc).split(':')[-1].strip()}"
    return found


def differences(one: dict[str, str] | str, other: dict[str, str] | str) -> Any:
    if isinstance(one, dict) and isinstance(other, dict):
        return {c: (v, other.get(c)) for c, v in one.items() if other.get(c) != v}
    return (one, other)


def test_the_three_forms_of_the_reference_agree_on_every_control(tmp_path: Path) -> None:
    found = verdicts_of_forms(TEMPLATE, tmp_path)
    assert found["single"] == found["set"] == found["nested"]
    assert set(found["single"].values()) == {"PASS", "SKIP"}  # type: ignore[union-attr]


@pytest.mark.slow
@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: f"{m.control}:{m.name}")
def test_the_three_forms_agree_on_every_mutant(mutant: Mutant, tmp_path: Path) -> None:
    path = mutant.apply(TEMPLATE, tmp_path)
    found = verdicts_of_forms(path, tmp_path)
    assert found["set"] == found["single"], differences(found["single"], found["set"])
    assert found["nested"] == found["single"], differences(found["single"], found["nested"])
    if isinstance(found["single"], dict):
        assert found["single"][mutant.control] == mutant.expected


def test_generated_forms_keep_sub_variables_resolvable() -> None:
    for path in (CFN / "dashboard-set").glob("*.yaml"):
        text = path.read_text()
        assert "${NetworkStackName}" in text or path.stem == "network"
        assert all(not v.startswith("Imported") for v in SUB_VARIABLE.findall(text))


def test_a_nested_stack_on_s3_is_read_from_the_directory_its_location_maps_to(tmp_path: Path) -> None:
    url = "https://bucket.s3.amazonaws.com/t/network.yaml"
    write(
        tmp_path,
        {
            "parent.yaml": PARENT.replace("children/network.yaml", url),
            "children/network.yaml": CHILD_NETWORK,
            "children/app.yaml": CHILD_APP,
        },
    )
    options = TargetOptions(
        str(tmp_path / "parent.yaml"),
        None,
        REGION,
        template_urls=(("https://bucket.s3.amazonaws.com/t", str(tmp_path / "children")),),
    )
    deployment = TemplateTarget(options).deployment()
    assert sorted(deployment.stacks) == ["parent", "parent/App", "parent/Network"]
    assert evaluate(deployment, "DEP-01")[0] == "PASS"
    proc = stackproof_run(
        "--template",
        str(tmp_path / "parent.yaml"),
        "-k",
        "fit_together",
        "--template-url",
        f"https://bucket.s3.amazonaws.com/t={tmp_path / 'children'}",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "DEP-01   high     PASS" in proc.stdout


def test_an_import_whose_name_is_not_known_offline_is_an_error_naming_why(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "net.yaml": NETWORK,
            "db.yaml": DATABASE.replace(
                "NetworkStack: {Type: String, Default: team-net}", "NetworkStack: {Type: String}"
            ),
        },
    )
    status, message = evaluate(model(tmp_path), "DEP-01")
    assert status == "ERROR"
    assert "Subnets imports an export whose name is not known offline" in message
    assert "parameter NetworkStack has no default and no value was given" in message
