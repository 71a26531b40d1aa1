"""The ``moto`` target (in process, the embedded default) and ``moto-server`` (moto's
threaded HTTP server on a free loopback port, reached through an endpoint URL exactly as
AWS is). Both deploy the template through CloudFormation ``create_stack``, creating first
what it needs (the listener's ACM certificate, the sync function's zip), then build the
model from describe calls and tear everything down on close.

Their clients come from the :class:`~stackproof.targets.aws_calls.ClientCache` the aws target
uses (one botocore Config, one client per service and region), watched by one
:class:`~stackproof.targets.aws_calls.CallRecorder` per target. In-process moto fits it as well
as the server does: ``mock_aws`` intercepts every client of the process whatever its endpoint or
Config, so the cache only spares remaking a client per call, and the hook per client counts the
same calls the session-wide hook did. The recorder is reset once the stack is deployed: the
count printed is what reading the deployment took (the quota reads excepted, as before), and on
a drill's stack what the drill did, never the deploy itself."""

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
from stackproof.targets.aws_calls import CallRecorder, ClientCache
from stackproof.targets.stack_handle import StackHandle
from stackproof.template.loader import TemplateError, load_parameters, load_template
from stackproof.template.stack_set import expand, resolve_set

STACK_NAME = "stackproof"  # a single template's stack; a set's stacks keep the names their importers expect


def combine(results: list[deploy.DeployResult]) -> deploy.DeployResult:
    """One result for every stack created (a set's stacks and nested stacks): logical IDs are
    qualified with their stack's name when there is more than one stack."""
    if len(results) == 1:
        return results[0]

    def qualified(items: dict[str, Any], result: deploy.DeployResult) -> dict[str, Any]:
        return {f"{result.stack_name}/{lid}": value for lid, value in items.items()}

    combined = deploy.DeployResult(
        stack_name=", ".join(r.stack_name for r in results),
        status="CREATE_COMPLETE"
        if all(r.status == "CREATE_COMPLETE" for r in results)
        else next(r.status for r in results if r.status != "CREATE_COMPLETE"),
        reason="; ".join(f"{r.stack_name}: {r.reason}" for r in results if r.reason) or None,
        expected={},
        created={},
    )
    for result in results:
        combined.expected.update(qualified(result.expected, result))
        combined.created.update(qualified(result.created, result))
        combined.failed.update(qualified(result.failed, result))
        combined.unsupported_types |= result.unsupported_types
    return combined


def reset_data_plane() -> None:
    """What the emulator keeps beside moto (file system directories, recovery points)."""
    from stackproof.emulator import az_faults, backup_jobs, efs_data, lambda_local, mariadb_data, ssm_sandbox

    ssm_sandbox.reset()
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
        self._client: ClientCache | None = None
        # Every call of the clients of ``_client`` since the stack was deployed (see the module's doc).
        self.recorder = CallRecorder()
        self.created: list[tuple[str, str]] = []  # prerequisites made for the stack
        self.deployed: list[str] = []  # the stacks created, in order (a set: exporters first)

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

    def _open(self) -> tuple[Any, ClientCache, dict[str, str], deploy.DeployResult]:
        """Start the emulator and create the stack or set: (session, client factory,
        parameters, the combined result). A set's stacks are created exporters first, a
        parent after its children are uploaded; ``self.deployed`` keeps their names."""
        import boto3

        specs = self.options.templates or (self.options.template,)
        try:
            paths = expand(specs)
            templates = [load_template(p) for p in paths]
            parameters = load_parameters(Path(self.options.params)) if self.options.params else {}
        except TemplateError as exc:
            raise TargetError(str(exc)) from None
        given = bool(self.options.stack_name) and len(paths) > 1
        names = self.options.stack_name.split(",") if given and self.options.stack_name else None
        if len(paths) == 1:
            names = [STACK_NAME]
        self.prepare_emulator()
        endpoint = self.start()
        session = boto3.Session(
            region_name=self.options.region, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        client = self._client = ClientCache(session, self.recorder, endpoint_url=endpoint)
        declared = {name: spec for template in templates for name, spec in template.parameters.items()}
        self.provide_prerequisites(client, declared, parameters)
        try:
            urls = {prefix: Path(directory) for prefix, directory in self.options.template_urls}
            resolved = resolve_set(paths, parameters, self.options.region, stack_names=names, template_urls=urls)
        except TemplateError as exc:
            raise TargetError(str(exc)) from None
        bucket = parameters.get("SyncFunctionCodeBucket") or self.staging_bucket(client)
        cloudformation = client("cloudformation")
        results: list[deploy.DeployResult] = []
        for member in deploy.deploy_order(resolved, self.options.region):
            stack_name = deploy.deployable_name(member, given or len(paths) == 1)
            planned = deploy.package(member, resolved.stacks, client("s3"), bucket, stack_name)
            self.deployed.append(stack_name)  # before creating: a refused create may leave a stack behind
            try:
                result = deploy.create_stack(
                    cloudformation,
                    stack_name,
                    member.template.path,
                    planned.parameters,
                    s3=client("s3"),
                    staging_bucket=bucket,
                    keep_failed=self.keep_failed,
                    body=planned.body,
                    expected=planned.expected,
                )
            except deploy.DeployFailed:
                raise
            except Exception as exc:  # the API refused the stack (a ClientError, or an emulator's own)
                failure = f"{type(exc).__name__}: {exc}"
                raise TargetError(f"{self.name}: CreateStack {stack_name} failed: {failure}") from None
            if result.status != "CREATE_COMPLETE" and not result.failed:
                raise TargetError(f"{self.name}: stack {stack_name} {result.status}: {result.reason}")
            results += [result, *deploy.nested_results(cloudformation, planned, result)]
        combined = combine(results)
        if combined.skipped and not self.keep_failed:  # the emulator reported success without creating these
            skipped = ", ".join(f"{lid} ({rtype})" for lid, rtype in sorted(combined.skipped.items()))
            raise TargetError(f"{self.name} cannot create {skipped}; its results would be incomplete")
        self.recorder.reset()
        return session, client, parameters, combined

    def staging_bucket(self, client: Any) -> str:
        """A bucket for templates over CloudFormation's inline limit (as the AWS CLI stages them)."""
        name = "stackproof-template-staging"
        region = self.options.region
        config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        client("s3").create_bucket(Bucket=name, **config)
        self.created.append(("bucket", name))
        return name

    def open_stacks(self) -> tuple[ClientCache, list[str], dict[str, str]]:
        """The deployment (one stack, or every stack of a set) deployed and kept running until
        :meth:`close`: the client, the stacks' names and the parameters."""
        try:
            _, client, parameters, _ = self._open()
        except deploy.DeployFailed as exc:
            self.cleanup(True)
            raise TargetError(f"{self.name}: {exc}") from None
        except BaseException:
            self.cleanup(True)
            raise
        return client, list(self.deployed), parameters

    def open_stack(self) -> StackHandle:
        """The reference deployed and kept running for a drill, until :meth:`close`."""
        client, stacks, parameters = self.open_stacks()
        if len(stacks) != 1:
            self.cleanup(True)
            raise TargetError(f"{self.name}: a drill changes one stack; this deployment is {len(stacks)} stacks")
        return StackHandle(client, stacks[0], parameters, Path(self.options.template), self.options.region)

    def deployment(self) -> Deployment:
        from stackproof.model import from_aws

        region = self.options.region
        # The model is a snapshot. Whatever was created is removed as soon as it is built, also
        # when deploying fails or is interrupted; moto targets share one emulator per process.
        failed = True
        try:
            _, client, _, result = self._open()
            model = from_aws.build(client, self.deployed, region, self.name, selections=self.selections(region))
            model.api_calls = dict(self.recorder.calls)
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

    @property
    def deletes_stacks(self) -> bool:
        """Whether cleaning up deletes each stack (reverse order) before stopping. moto and
        moto-server are reset wholesale on stop, which removes every stack and resource at
        once; their DeleteStack cannot be relied on instead (moto 5.2.5 leaves a VPC's route
        tables, network ACLs, endpoints and NAT gateway behind and then refuses the VPC with
        DependencyViolation). An emulator that persists (LocalStack) gets every stack deleted."""
        return self.name not in ("moto", "moto-server")

    def cleanup(self, failed: bool) -> None:
        """Remove what was created; a cleanup error never hides the error that came first."""
        try:
            errors: list[str] = []
            if self.deletes_stacks and self._client is not None and self.deployed:
                errors = deploy.delete_stacks(self._client("cloudformation"), self.deployed)
            self.deployed.clear()
            self.stop()
            if errors:
                raise TargetError("; ".join(errors))
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
