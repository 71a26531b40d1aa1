"""What moto's CloudFormation models need before LocalStack's engine drives them.

stackproof's moto extension already fills moto's gaps for its in-process target: models for
the types moto skips (scaling policies, alarms, Backup, network ACL entries, ...), GetAtt on
EFS, physical IDs for RDS and Redshift groups, and the DB instance properties moto misreads.
The same fixes are installed here, once, in the LocalStack process; the rest of that extension
(drills' data planes, stack updates) is not, since LocalStack has its own engine.
"""

from __future__ import annotations

from typing import Any

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    from moto.rds.models import DBInstance

    from stackproof.emulator import moto_models, moto_patches

    moto_models.register()
    _moto_ext_names()
    moto_patches._efs_attributes()
    moto_patches._physical_ids()
    original = DBInstance.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_db_instance(
        cls: Any, /, resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        properties = moto_patches._rds_instance_properties(cloudformation_json["Properties"])
        return original(cls, resource_name, {**cloudformation_json, "Properties": properties}, *args, **kwargs)

    DBInstance.create_from_cloudformation_json = classmethod(create_db_instance)  # type: ignore[method-assign,assignment]
    _settings_moto_skips()


def _moto_ext_names() -> None:
    """LocalStack ships moto-ext 5.1, where a few attributes stackproof's models (written for
    moto 5.2) read have their older names."""
    from moto.ec2.models.network_acls import NetworkAcl

    if not hasattr(NetworkAcl, "_associations"):
        NetworkAcl._associations = property(lambda self: self.associations)  # type: ignore[assignment]


def _settings_moto_skips() -> None:
    """The properties moto's models ignore, set after creation as stackproof's moto target does
    (the file system's policy, the database's deletion protection and log exports, ...)."""
    from moto.autoscaling.models import FakeLaunchConfiguration
    from moto.ecr.models import Repository
    from moto.ecs.models import Service
    from moto.efs.models import FileSystem
    from moto.rds.models import DBInstance

    from stackproof.emulator import moto_patches

    moto_patches._load_balancer_types()
    moto_patches._service_quotas()
    moto_patches._after_create(DBInstance, moto_patches._database_settings)
    moto_patches._after_create(FileSystem, moto_patches._file_system_policy)
    moto_patches._after_create(Service, moto_patches._service_networking)
    moto_patches._after_create(Repository, moto_patches._repository_settings)
    moto_patches._after_create(FakeLaunchConfiguration, moto_patches._launch_configuration_settings)
