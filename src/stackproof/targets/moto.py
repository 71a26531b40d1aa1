"""The ``moto`` target (in process, the embedded default) and ``moto-server`` (moto's
threaded HTTP server on a free loopback port, reached through an endpoint URL exactly as
AWS is). Both deploy the template through CloudFormation ``create_stack``, creating first
what it needs (the listener's ACM certificate, the sync function's zip), then build the
model from describe calls and tear everything down on close."""

from __future__ import annotations

import logging
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from stackproof.domain import policy
from stackproof.model.deployment import Deployment
from stackproof.support import paths
from stackproof.support.ports import free_port
from stackproof.targets import TargetError, TargetOptions, deploy, quota_usage
from stackproof.targets.aws_calls import CallRecorder
from stackproof.targets.stack_handle import StackHandle
from stackproof.template.loader import TemplateError, load_parameters, load_template

STACK_NAME = "stackproof"


def reset_data_plane() -> None:
    """What the emulator keeps beside moto (file system directories, recovery points)."""
    from stackproof.emulator import az_faults, backup_jobs, efs_data, lambda_local, mariadb_data

    az_faults.reset()
    mariadb_data.reset()
    efs_data.reset()
    backup_jobs.reset()
    lambda_local.pending.clear()


class MotoTarget:
    name = "moto"
    keep_failed = False  # moto must create everything; a failure is the run's error

    def __init__(self, options: TargetOptions) -> None:
        self.options = options
        self._mock: Any = None
        self._client: Any = None
        self.created: list[tuple[str, str]] = []  # prerequisites made for the stack

    # Where the clients point: in process here, an HTTP endpoint for moto-server.
    def start(self) -> str | None:
        from moto import mock_aws

        self._mock = mock_aws()
        self._mock.start()
        return None

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        reset_data_plane()

    def close(self) -> None:
        self.stop()

    def prepare_emulator(self) -> None:
        from stackproof.emulator.moto_patches import install

        install()

    def apply_declared_quotas(self, declared: dict[str, Any]) -> None:
        """The emulated account has the increases the template declares, as a user following
        the template's instructions would have requested them."""
        from stackproof.emulator.moto_patches import applied_quotas

        applied_quotas.clear()
        for increase in declared.get("quota_increases") or []:
            applied_quotas[str(increase["code"])] = float(increase["value"])

    def selections(self, region: str) -> Any:
        """moto has no Backup selection API; the emulator extension keeps them."""
        from stackproof.emulator import moto_models

        def lookup(plan: str) -> list[dict[str, Any]]:
            kept = moto_models.selections[("123456789012", region)].values()
            return [s for s in kept if s["BackupPlanId"] == plan]

        return lookup

    def _open(self) -> tuple[Any, Any, dict[str, str], deploy.DeployResult]:
        """Start the emulator and create the stack: (session, client factory, parameters, result)."""
        import boto3

        template_path = Path(self.options.template)
        try:
            template = load_template(template_path)
            parameters = load_parameters(Path(self.options.params)) if self.options.params else {}
        except TemplateError as exc:
            raise TargetError(str(exc)) from None
        self.prepare_emulator()
        endpoint = self.start()
        session = boto3.Session(
            region_name=self.options.region, aws_access_key_id="testing", aws_secret_access_key="testing"
        )

        def client(service: str) -> Any:
            made: Any = session.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]
            return made

        self._client = client
        self.provide_prerequisites(client, template.parameters, parameters)
        try:
            result = deploy.create_stack(
                client("cloudformation"),
                STACK_NAME,
                template_path,
                parameters,
                s3=client("s3"),
                staging_bucket=parameters.get("SyncFunctionCodeBucket") or self.staging_bucket(client),
                keep_failed=self.keep_failed,
            )
        except deploy.DeployFailed:
            raise
        except Exception as exc:  # the API refused the stack (a ClientError, or an emulator's own)
            raise TargetError(f"{self.name}: CreateStack failed: {type(exc).__name__}: {exc}") from None
        if result.status != "CREATE_COMPLETE" and not result.failed:
            raise TargetError(f"{self.name}: stack {result.status}: {result.reason}")
        if result.skipped and not self.keep_failed:  # the emulator reported success without creating these
            skipped = ", ".join(f"{lid} ({rtype})" for lid, rtype in sorted(result.skipped.items()))
            raise TargetError(f"{self.name} cannot create {skipped}; its results would be incomplete")
        return session, client, parameters, result

    def staging_bucket(self, client: Any) -> str:
        """A bucket for templates over CloudFormation's inline limit (as the AWS CLI stages them)."""
        name = "stackproof-template-staging"
        region = self.options.region
        config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        client("s3").create_bucket(Bucket=name, **config)
        self.created.append(("bucket", name))
        return name

    def open_stack(self) -> StackHandle:
        """The reference deployed and kept running for a drill, until :meth:`close`."""
        try:
            _, client, parameters, _ = self._open()
        except deploy.DeployFailed as exc:
            self.cleanup(True)
            raise TargetError(f"{self.name}: {exc}") from None
        except BaseException:
            self.cleanup(True)
            raise
        return StackHandle(client, STACK_NAME, parameters, Path(self.options.template), self.options.region)

    def deployment(self) -> Deployment:
        from stackproof.model import from_aws

        region = self.options.region
        # The model is a snapshot. Whatever was created is removed as soon as it is built, also
        # when deploying fails or is interrupted; moto targets share one emulator per process.
        failed = True
        try:
            session, client, _, result = self._open()
            recorder = CallRecorder(session)
            model = from_aws.build(client, STACK_NAME, region, self.name, selections=self.selections(region))
            model.api_calls = dict(recorder.calls)
            for logical_id, (resource_type, reason) in result.failed.items():
                for kind in from_aws.TYPE_KINDS.get(resource_type, ()):
                    model.not_emulated[kind] = f"{self.name} could not create {resource_type} {logical_id}: {reason}"
            for logical_id, resource_type in result.skipped.items():
                for kind in from_aws.TYPE_KINDS.get(resource_type, ()):
                    model.not_emulated.setdefault(kind, f"{self.name} did not create {resource_type} {logical_id}")
            self.apply_declared_quotas(model.declared)
            model.quota_facts = quota_usage.collect(client, policy.load())
            model.skipped = result.skipped
            failed = False
            return model
        except deploy.DeployFailed as exc:
            raise TargetError(f"{self.name}: {exc}") from None
        finally:
            self.cleanup(failed)

    def cleanup(self, failed: bool) -> None:
        """Remove what was created; a cleanup error never hides the error that came first."""
        try:
            self.stop()
        except Exception as exc:
            if not failed:
                raise TargetError(f"{self.name}: cleaning up failed: {exc}") from None
            print(f"stackproof: {self.name}: cleaning up after the failure also failed: {exc}", file=sys.stderr)

    def provide_prerequisites(self, client: Any, declared: Any, parameters: dict[str, str]) -> None:
        """What the template expects to exist: the listener's certificate, the function's zip."""
        from stackproof.build.lambda_zip import build_zip

        if "CertificateArn" in declared:
            domain = parameters.get("DomainName") or "dashboard.example.com"
            parameters["CertificateArn"] = deploy.import_certificate(client("acm"), domain)
            self.created.append(("certificate", parameters["CertificateArn"]))
        if "SyncFunctionCodeBucket" in declared:
            bucket = parameters.setdefault("SyncFunctionCodeBucket", "stackproof-artifacts")
            key = parameters.get("SyncFunctionCodeKey", str(declared["SyncFunctionCodeKey"].get("Default", "code.zip")))
            with tempfile.TemporaryDirectory() as tmp:
                archive = build_zip(paths.sync_function_dir(), Path(tmp) / "code.zip")
                deploy.upload_code(client("s3"), bucket, key, archive, self.options.region)
            self.created.append(("bucket", bucket))


class MotoServerTarget(MotoTarget):
    name = "moto-server"

    def start(self) -> str:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        port = free_port()
        self._server: ThreadedMotoServer | None = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()
        self._endpoint = f"http://127.0.0.1:{port}"
        return self._endpoint

    def stop(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            # Reset through moto's own API, as any client of the server would.
            request = urllib.request.Request(f"{self._endpoint}/moto-api/reset", method="POST")
            urllib.request.urlopen(request, timeout=10).close()
            server.stop()
            self._server = None
        reset_data_plane()
