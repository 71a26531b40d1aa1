"""The Backup API operations of :mod:`stackproof.emulator.backup_jobs`, wired into moto's
Backup service: URL routes added to moto's table and handlers added to its response class, so
boto3 reaches them in process and through moto's server alike."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from stackproof.emulator import backup_jobs as jobs
from stackproof.emulator.moto_models import access_policies

ROUTES = (
    "{0}/backup-jobs/?$",
    "{0}/backup-jobs/(?P<job>[^/]+)$",
    "{0}/restore-jobs/?$",
    "{0}/restore-jobs/(?P<job>[^/]+)$",
    "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/?$",
    "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/(?P<arn>[^/]+)$",
    "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/(?P<arn>[^/]+)/restore-metadata$",
    "{0}/backup-vaults/(?P<name>[^/]+)/access-policy$",
    "{0}/resources/(?P<arn>.+)/recovery-points/?$",
)


def _error(exc: jobs.BackupError) -> tuple[int, dict[str, str], str]:
    body = json.dumps({"__type": exc.code, "Message": str(exc), "message": str(exc)})
    return exc.status, {"status": str(exc.status), "x-amzn-ErrorType": exc.code}, body


def _time(value: Any) -> float:
    return float(value.timestamp())


def _point_dict(p: jobs.RecoveryPoint, account_id: str, region: str) -> dict[str, Any]:
    return {
        "RecoveryPointArn": p.arn,
        "BackupVaultName": p.vault,
        "BackupVaultArn": f"arn:aws:backup:{region}:{account_id}:backup-vault:{p.vault}",
        "ResourceArn": p.resource_arn,
        "ResourceType": p.resource_type,
        "CreationDate": _time(p.created),
        "CompletionDate": _time(p.created),
        "Status": p.status,
    }


def _segment(path: str, after: str) -> str:
    parts = path.split("/")
    return unquote(parts[parts.index(after) + 1])


def handlers() -> dict[str, Any]:
    """Methods for moto's BackupResponse, named after the operations."""

    def body(self: Any) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body or "{}")
        return parsed

    def efs(self: Any) -> Any:
        from moto.efs.models import efs_backends

        return efs_backends[self.current_account][self.region]

    def policy(self: Any, vault: str) -> Any:
        return access_policies.get((self.current_account, self.region, vault))

    def start_backup_job(self: Any) -> Any:
        params = body(self)
        vault = params["BackupVaultName"]
        try:
            self.backup_backend.describe_backup_vault(vault)
            fs_id = jobs.file_system_id(params["ResourceArn"])
            job = jobs.start_backup_job(
                self.current_account, self.region, vault, params["ResourceArn"], fs_id in efs(self).file_systems_by_id
            )
        except jobs.BackupError as exc:
            return _error(exc)
        return json.dumps(
            {
                "BackupJobId": job.id,
                "RecoveryPointArn": job.detail["recovery_point"],
                "CreationDate": _time(job.detail["created"]),
            }
        )

    def describe_backup_job(self: Any) -> Any:
        try:
            job = jobs.describe_backup_job(self.current_account, self.region, self.path.rstrip("/").split("/")[-1])
        except jobs.BackupError as exc:
            return _error(exc)
        return json.dumps(
            {
                "BackupJobId": job.id,
                "BackupVaultName": job.detail["vault"],
                "ResourceArn": job.detail["resource_arn"],
                "RecoveryPointArn": job.detail["recovery_point"],
                "ResourceType": "EFS",
                "State": job.status,
                "CreationDate": _time(job.detail["created"]),
            }
        )

    def list_recovery_points_by_backup_vault(self: Any) -> Any:
        vault = _segment(self.path, "backup-vaults")
        points = jobs.recovery_points(self.current_account, self.region, vault=vault)
        return json.dumps({"RecoveryPoints": [_point_dict(p, self.current_account, self.region) for p in points]})

    def list_recovery_points_by_resource(self: Any) -> Any:
        arn = unquote(self.path.split("/resources/", 1)[1].rsplit("/recovery-points", 1)[0])
        points = jobs.recovery_points(self.current_account, self.region, resource_arn=arn)
        return json.dumps({"RecoveryPoints": [_point_dict(p, self.current_account, self.region) for p in points]})

    def describe_recovery_point(self: Any) -> Any:
        try:
            found = jobs.point(self.current_account, self.region, _segment(self.path, "recovery-points"))
        except jobs.BackupError as exc:
            return _error(exc)
        return json.dumps(_point_dict(found, self.current_account, self.region))

    def delete_recovery_point(self: Any) -> Any:
        vault = _segment(self.path, "backup-vaults")
        try:
            jobs.delete_recovery_point(
                self.current_account, self.region, vault, _segment(self.path, "recovery-points"), policy(self, vault)
            )
        except jobs.BackupError as exc:
            return _error(exc)
        return "{}"

    def get_recovery_point_restore_metadata(self: Any) -> Any:
        arn = _segment(self.path, "recovery-points")
        try:
            found = jobs.point(self.current_account, self.region, arn)
        except jobs.BackupError as exc:
            return _error(exc)
        return json.dumps(
            {
                "BackupVaultArn": f"arn:aws:backup:{self.region}:{self.current_account}:backup-vault:{found.vault}",
                "RecoveryPointArn": arn,
                "RestoreMetadata": {
                    "file-system-id": found.file_system_id,
                    "Encrypted": "true",
                    "PerformanceMode": "generalPurpose",
                },
            }
        )

    def start_restore_job(self: Any) -> Any:
        params = body(self)
        metadata = {str(k): str(v) for k, v in (params.get("Metadata") or {}).items()}
        backend = efs(self)

        def create_file_system(meta: dict[str, str]) -> str:
            made = backend.create_file_system(
                creation_token=meta.get("CreationToken") or f"restore-{len(backend.file_systems_by_id)}-{id(meta)}",
                performance_mode=meta.get("PerformanceMode", "generalPurpose"),
                encrypted=meta.get("Encrypted", "false").lower() == "true",
                kms_key_id=meta.get("KmsKeyId"),
                throughput_mode="bursting",
                provisioned_throughput_in_mibps=None,
                availability_zone_name=None,
                backup=False,
                tags=[{"Key": "aws:backup:source-resource", "Value": metadata.get("file-system-id", "")}],
            )
            return str(made.file_system_id)

        try:
            found = jobs.point(self.current_account, self.region, params["RecoveryPointArn"])
            job = jobs.start_restore_job(
                self.current_account,
                self.region,
                params["RecoveryPointArn"],
                metadata,
                policy(self, found.vault),
                found.vault,
                create_file_system,
                lambda fs: fs in backend.file_systems_by_id,
            )
        except jobs.BackupError as exc:
            return _error(exc)
        return json.dumps({"RestoreJobId": job.id})

    def describe_restore_job(self: Any) -> Any:
        try:
            job = jobs.describe_restore_job(self.current_account, self.region, self.path.rstrip("/").split("/")[-1])
        except jobs.BackupError as exc:
            return _error(exc)
        fs_id = job.detail["file_system_id"]
        answer = {
            "RestoreJobId": job.id,
            "RecoveryPointArn": job.detail["recovery_point"],
            "Status": job.status,
            "ResourceType": "EFS",
            "CreatedResourceArn": f"arn:aws:elasticfilesystem:{self.region}:{self.current_account}:file-system/{fs_id}",
        }
        if job.failure and job.status == "FAILED":
            answer["StatusMessage"] = job.failure
        return json.dumps(answer)

    def get_backup_vault_access_policy(self: Any) -> Any:
        vault = _segment(self.path, "backup-vaults")
        document = policy(self, vault)
        if document is None:
            return _error(jobs.BackupError("ResourceNotFoundException", f"vault {vault} has no access policy", 404))
        text = document if isinstance(document, str) else json.dumps(document)
        return json.dumps({"BackupVaultName": vault, "Policy": text})

    def put_backup_vault_access_policy(self: Any) -> Any:
        vault = _segment(self.path, "backup-vaults")
        access_policies[(self.current_account, self.region, vault)] = json.loads(body(self)["Policy"])
        return "{}"

    def delete_backup_vault_access_policy(self: Any) -> Any:
        access_policies.pop((self.current_account, self.region, _segment(self.path, "backup-vaults")), None)
        return "{}"

    return {
        name: value for name, value in locals().items() if callable(value) and name not in ("body", "efs", "policy")
    }


def install() -> None:
    from moto.backup import urls
    from moto.backup.responses import BackupResponse

    for name, handler in handlers().items():
        setattr(BackupResponse, name, handler)
    for route in ROUTES:
        urls.url_paths.setdefault(route, urls.response.dispatch)
        if route.endswith("/?$"):
            # moto's server makes Flask rules of these, dropping "/?": the form with the slash
            # is the one that also matches botocore's "/recovery-points/" (strict_slashes=False).
            urls.url_paths.setdefault(route[: -len("/?$")] + "/$", urls.response.dispatch)
