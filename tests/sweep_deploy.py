"""Deployments for the sweep tests and benchmark: moto's server on loopback, and a stack created
in any account and region through an assumed role (moto keeps one backend per account and
gives an assumed role's credentials the role's account)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference" / "cloudformation" / "dashboard.yaml"
PARAMS = ROOT / "reference" / "cloudformation" / "dashboard.params.json"
DEPLOYER = "deployer"  # the role the stacks are created through, in every account

# A few resources of the kinds the controls read: real verdicts (NET-05's ingress rules, DAT-05's
# bucket), quick to deploy. It is not the dashboard, so most controls find their subject missing.
SMALL = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
        "Web": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "web",
                "VpcId": {"Ref": "Vpc"},
                "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}],
            },
        },
        "Data": {"Type": "AWS::S3::Bucket"},
    },
}


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's threaded server on a free loopback port, with stackproof's emulator extensions
    (they patch moto in this process, where the server runs): its endpoint."""
    import logging

    from moto.server import ThreadedMotoServer

    from stackproof.emulator.moto_patches import install
    from stackproof.support.ports import free_port

    install()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()  # the accounts live in this process: leave none to the next test
        server.stop()


def role_session(endpoint: str, account: str, region: str, role: str = DEPLOYER) -> Any:
    """A boto3 session in ``account`` through ``arn:aws:iam::<account>:role/<role>``."""
    import boto3

    plain: dict[str, Any] = {
        "endpoint_url": endpoint,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    arn = f"arn:aws:iam::{account}:role/{role}"
    creds = boto3.client("sts", region_name=region, **plain).assume_role(RoleArn=arn, RoleSessionName="deploy")[
        "Credentials"
    ]
    return boto3.Session(
        region_name=region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def deploy_small(endpoint: str, account: str, region: str, stack_name: str) -> None:
    from stackproof.targets import deploy

    cloudformation = role_session(endpoint, account, region).client("cloudformation", endpoint_url=endpoint)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "small.json"
        path.write_text(json.dumps(SMALL), encoding="utf-8")
        result = deploy.create_stack(cloudformation, stack_name, path, {})
    assert result.status == "CREATE_COMPLETE", result.summary()


def deploy_reference(endpoint: str, account: str, region: str, stack_name: str) -> None:
    """The dashboard reference with its parameters file, as ``stackproof run --target
    moto-server`` deploys it: the listener's certificate imported into ACM and the sync
    function's zip uploaded first."""
    from stackproof.build.lambda_zip import build_zip
    from stackproof.support import paths
    from stackproof.targets import deploy
    from stackproof.template.loader import load_parameters
    from stackproof.template.stack_set import resolve_set

    session = role_session(endpoint, account, region)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint)

    parameters = load_parameters(PARAMS)
    parameters["CertificateArn"] = deploy.import_certificate(client("acm"), parameters["DomainName"])
    bucket = f"{parameters['SyncFunctionCodeBucket']}-{account}-{region}"
    parameters["SyncFunctionCodeBucket"] = bucket
    with tempfile.TemporaryDirectory() as tmp:
        archive = build_zip(paths.sync_function_dir(), Path(tmp) / "code.zip")
        deploy.upload_code(client("s3"), bucket, parameters.get("SyncFunctionCodeKey", "code.zip"), archive, region)
    resolved = resolve_set([REFERENCE], parameters, region, stack_names=[stack_name])
    (member,) = resolved.stacks
    planned = deploy.package(member, resolved.stacks, client("s3"), bucket, stack_name)
    result = deploy.create_stack(
        client("cloudformation"),
        stack_name,
        member.template.path,
        planned.parameters,
        s3=client("s3"),
        staging_bucket=bucket,
        body=planned.body,
        expected=planned.expected,
    )
    assert result.status == "CREATE_COMPLETE", result.summary()
