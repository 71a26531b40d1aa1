"""Reading CloudFormation templates."""
