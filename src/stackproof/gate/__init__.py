"""The gate tools run beside the checks (cfn-lint, checkov): finding them, running them
offline, and reading their findings as rules of their own."""
