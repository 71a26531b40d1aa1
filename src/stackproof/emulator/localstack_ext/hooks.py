"""Start-up hooks (``localstack.hooks.on_infra_start``) run in the LocalStack process.

``keep_file_system_configs``: LocalStack 4.13.1 drops a function's ``FileSystemConfigs``; they
are recorded when the function is created (through CloudFormation or the API) and answered by
GetFunction and GetFunctionConfiguration (see :mod:`.mounts`).
"""

from __future__ import annotations

import functools
from typing import Any

from localstack.runtime import hooks


@hooks.on_infra_start()
def keep_file_system_configs() -> None:
    from localstack.services.lambda_.provider import LambdaProvider
    from localstack.services.lambda_.resource_providers.aws_lambda_function import LambdaFunctionProvider

    from stackproof.emulator.localstack_ext import mounts

    cfn_create = LambdaFunctionProvider.create

    def create(self: Any, request: Any) -> Any:
        event = cfn_create(self, request)
        model = event.resource_model or {}
        if model.get("Arn"):
            mounts.record(model["Arn"], (request.desired_state or {}).get("FileSystemConfigs"))
            if request.desired_state.get("FileSystemConfigs"):
                model["FileSystemConfigs"] = request.desired_state["FileSystemConfigs"]
        return event

    LambdaFunctionProvider.create = create

    create_function = LambdaProvider.create_function

    def create_function_keeping(self: Any, context: Any, request: Any) -> Any:
        result = create_function(self, context, request)
        if request.get("FileSystemConfigs"):
            mounts.record(result["FunctionArn"], request["FileSystemConfigs"])
            result["FileSystemConfigs"] = mounts.configs_of(result["FunctionArn"])
        return result

    get_configuration = LambdaProvider.get_function_configuration

    def get_function_configuration(self: Any, context: Any, function_name: str, qualifier: Any = None) -> Any:
        result = get_configuration(self, context, function_name, qualifier)
        if configs := mounts.configs_of(result["FunctionArn"]):
            result["FileSystemConfigs"] = configs
        return result

    get_function = LambdaProvider.get_function

    def get_function_with(self: Any, context: Any, function_name: str, qualifier: Any = None) -> Any:
        result = get_function(self, context, function_name, qualifier)
        configuration = result.get("Configuration") or {}
        if configs := mounts.configs_of(configuration.get("FunctionArn", "")):
            configuration["FileSystemConfigs"] = configs
        return result

    for name, wrapper, original in (
        ("create_function", create_function_keeping, create_function),
        ("get_function_configuration", get_function_configuration, get_configuration),
        ("get_function", get_function_with, get_function),
    ):
        # The dispatch table finds a handler by the name (and @handler marks) of the original.
        setattr(LambdaProvider, name, functools.wraps(original)(wrapper))


ROUTE_TARGETS = (
    "CarrierGatewayId",
    "CoreNetworkArn",
    "EgressOnlyInternetGatewayId",
    "GatewayId",
    "InstanceId",
    "LocalGatewayId",
    "NatGatewayId",
    "NetworkInterfaceId",
    "TransitGatewayId",
    "VpcEndpointId",
    "VpcPeeringConnectionId",
)


@hooks.on_infra_start()
def keep_route_targets() -> None:
    """LocalStack 4.13.1's AWS::EC2::Route provider creates the route without its target
    (GatewayId, NatGatewayId, ...): every route would lead nowhere. Create it with them."""
    from localstack.services.cloudformation.resource_provider import OperationStatus, ProgressEvent
    from localstack.services.ec2.resource_providers import aws_ec2_route

    def create(self: Any, request: Any) -> Any:
        model = request.desired_state
        destinations = ("DestinationCidrBlock", "DestinationIpv6CidrBlock", *ROUTE_TARGETS)
        params = {key: model[key] for key in destinations if model.get(key)}
        request.aws_client_factory.ec2.create_route(RouteTableId=model["RouteTableId"], **params)
        model["Id"] = aws_ec2_route.generate_route_id(
            model["RouteTableId"], model.get("DestinationCidrBlock"), model.get("DestinationIpv6CidrBlock", "")
        )
        return ProgressEvent(
            status=OperationStatus.SUCCESS, resource_model=model, custom_context=request.custom_context
        )

    aws_ec2_route.EC2RouteProvider.create = create


@hooks.on_infra_start()
def keep_log_group_settings() -> None:
    """LocalStack 4.13.1's AWS::Logs::LogGroup provider creates the group without its retention
    and KMS key (the group would keep logs forever, unencrypted); set both after creating it."""
    from localstack.services.logs.resource_providers.aws_logs_loggroup import LogsLogGroupProvider

    create = LogsLogGroupProvider.create

    def create_with_settings(self: Any, request: Any) -> Any:
        event = create(self, request)
        model = event.resource_model or {}
        name = model.get("LogGroupName")
        if name and str(event.status.name) == "SUCCESS":
            logs = request.aws_client_factory.logs
            if model.get("RetentionInDays"):
                logs.put_retention_policy(logGroupName=name, retentionInDays=int(model["RetentionInDays"]))
            if model.get("KmsKeyId"):  # LocalStack's logs lacks AssociateKmsKey; its moto backend keeps the key
                from moto.logs.models import logs_backends

                group = logs_backends[request.account_id][request.region_name].groups[name]
                group.kms_key_id = model["KmsKeyId"]
        return event

    LogsLogGroupProvider.create = create_with_settings


@hooks.on_infra_start()
def real_ecr_repositories() -> None:
    """LocalStack 4.13.1's AWS::ECR::Repository provider is a mock that creates nothing (for CDK
    bootstrapping); ECR is answered by moto here (:mod:`.services`), so create the repository
    there, through moto's model, like the other types of :mod:`.resources`."""
    from localstack.services.ecr.resource_providers import aws_ecr_repository_plugin

    from stackproof.emulator.localstack_ext.resources import provider_for

    def load(self: Any) -> None:
        self.factory = provider_for("AWS::ECR::Repository")

    aws_ecr_repository_plugin.ECRRepositoryProviderPlugin.load = load
