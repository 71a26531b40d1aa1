"""Fixes to moto's CloudFormation handling that the reference template needs.

Each fix names the moto behaviour it corrects. They are installed explicitly (never at
import time) and are idempotent, so a test session can install them once.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

_installed = False


def _rds_instance_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """moto 5.2 passes a Ref'd DBParameterGroup through as the model object and ignores
    ``VPCSecurityGroups`` (it reads ``VpcSecurityGroupIds``), so the instance lost both."""
    fixed = dict(properties)
    group = fixed.get("DBParameterGroupName")
    if group is not None and not isinstance(group, str):
        fixed["DBParameterGroupName"] = group.name
    subnet_group = fixed.get("DBSubnetGroupName")
    if isinstance(subnet_group, str):  # moto reads .name; with a physical ID the Ref is the name
        fixed["DBSubnetGroupName"] = SimpleNamespace(name=subnet_group)
    if "VPCSecurityGroups" in fixed and "VpcSecurityGroupIds" not in fixed:
        fixed["VpcSecurityGroupIds"] = fixed["VPCSecurityGroups"]
    return fixed


def _efs_attributes() -> None:
    """moto 5.2's EFS models cannot answer ``Fn::GetAtt`` (no ``get_cfn_attribute``)."""
    from moto.efs.models import AccessPoint, FileSystem

    def file_system_attribute(self: FileSystem, name: str) -> str:
        values = {"Arn": self.file_system_arn, "FileSystemId": self.file_system_id}
        return _attribute(values, "AWS::EFS::FileSystem", name)

    def access_point_attribute(self: AccessPoint, name: str) -> str:
        values = {"Arn": self.access_point_arn, "AccessPointId": self.access_point_id}
        return _attribute(values, "AWS::EFS::AccessPoint", name)

    FileSystem.get_cfn_attribute = file_system_attribute  # type: ignore[attr-defined]
    AccessPoint.get_cfn_attribute = access_point_attribute  # type: ignore[attr-defined]


def _physical_ids() -> None:
    """moto 5.2 gives some models no physical ID, so describe_stack_resources cannot map
    their logical IDs to the real resources; these are the ones a deployed model reads."""
    from moto.efs.models import AccessPoint
    from moto.rds.models import DBParameterGroup, DBSubnetGroup

    DBSubnetGroup.physical_resource_id = property(lambda self: self.name)  # type: ignore[attr-defined]
    DBParameterGroup.physical_resource_id = property(lambda self: self.name)  # type: ignore[attr-defined]
    AccessPoint.physical_resource_id = property(lambda self: self.access_point_id)  # type: ignore[attr-defined]


def _attribute(values: dict[str, str], resource_type: str, name: str) -> str:
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

    if name not in values:
        raise UnformattedGetAttTemplateException()
    return values[name]


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.rds.models import DBInstance

    original = DBInstance.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_db_instance(
        cls: type[DBInstance],
        /,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> DBInstance:
        fixed = {
            **cloudformation_json,
            "Properties": _rds_instance_properties(cloudformation_json["Properties"]),
        }
        instance: DBInstance = original(cls, resource_name, fixed, account_id, region_name, **kwargs)
        return instance

    DBInstance.create_from_cloudformation_json = classmethod(create_db_instance)  # type: ignore[method-assign,assignment]
    _efs_attributes()
    _physical_ids()
    from stackproof.emulator.moto_models import register

    register()
    _installed = True
