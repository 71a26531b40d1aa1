"""Nested stacks (``AWS::CloudFormation::Stack``) on moto as CloudFormation creates them.

moto 5.2.5 creates a nested stack from its S3 ``TemplateURL`` and resolves
``Fn::ImportValue`` against the region's exports, but three things a parent with children
needs are missing, and each would either crash the parent's creation or hide the child:

* the parameters a parent passes are handed over as resolved values, so a list (``!GetAZs``,
  a ``CommaDelimitedList`` passed on) or a number reaches moto's parameter parser, which
  calls ``str.split`` on it; CloudFormation passes every parameter as a string;
* ``Fn::GetAtt [Child, Outputs.X]`` fails: moto's stack model has no ``get_cfn_attribute``;
* the nested stack's physical ID is its name, where CloudFormation gives its stack ARN (what
  ``Ref`` returns and what ``ListStackResources`` reports, so a reader follows it by ARN);
* a ``AWS::SSM::Parameter::Value<...>`` parameter naming no Parameter Store key crashes
  moto (``AttributeError``), where CloudFormation refuses the stack with a validation error
  naming the key. A child that declares such a type and is passed its parent's already
  resolved value (an AMI ID) is refused this way on AWS.

Installed explicitly by :func:`install` (from ``moto_patches.install``), idempotently.
"""

from __future__ import annotations

from typing import Any

_installed = False


def as_parameter(value: Any) -> str:
    """A value as CloudFormation passes it to a nested stack's parameter: always a string,
    lists joined with commas (how ``CommaDelimitedList`` and ``List<...>`` parameters read)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(as_parameter(v) for v in value)
    return str(value)


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
    from moto.cloudformation.models import Stack

    original = Stack.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(
        cls: type[Stack],
        /,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Stack:
        properties = dict(cloudformation_json.get("Properties") or {})
        given = properties.get("Parameters") or {}
        properties["Parameters"] = {str(k): as_parameter(v) for k, v in given.items()}
        fixed = {**cloudformation_json, "Properties": properties}
        stack: Stack = original(cls, resource_name, fixed, account_id, region_name, **kwargs)
        return stack

    def get_cfn_attribute(self: Stack, attribute_name: str) -> Any:
        if attribute_name.startswith("Outputs."):
            key = attribute_name.removeprefix("Outputs.")
            output = self.output_map.get(key) if key in self.output_map else None
            if output is not None:
                return output.value
        raise UnformattedGetAttTemplateException()

    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.parsing import ResourceMap
    from moto.ssm.models import ssm_backends

    original_ssm = ResourceMap.parse_ssm_parameter

    def parse_ssm_parameter(self: ResourceMap, value: str, value_type: str) -> str:
        backend = ssm_backends[self._account_id][self._region_name]
        if backend.get_parameter(value) is None:
            raise ValidationError(
                message=f"Unable to fetch parameters [{value}] from parameter store for this account."
            )
        return original_ssm(self, value, value_type)

    ResourceMap.parse_ssm_parameter = parse_ssm_parameter  # type: ignore[method-assign]
    Stack.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment]
    Stack.get_cfn_attribute = get_cfn_attribute  # type: ignore[attr-defined]
    Stack.physical_resource_id = property(lambda self: self.stack_id)  # type: ignore[method-assign,assignment]
    _installed = True
