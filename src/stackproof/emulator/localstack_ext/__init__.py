"""stackproof's extension of LocalStack's free edition (the ``localstack`` extra).

Loaded only inside a LocalStack process, through the entry points that ``pyproject.toml``
declares (``localstack.aws.provider``, ``localstack.cloudformation.resource_providers``): the
services LocalStack 4.13.1 answers with 501 in its free edition are answered by the moto
backends LocalStack already ships, and the CloudFormation types it deploys as ``unknown``
placeholders are created through moto's own CloudFormation models, so LocalStack's
CloudFormation engine gets real physical IDs and attributes. Nothing here is imported by
stackproof's own pipeline.
"""
