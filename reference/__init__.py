"""The reference deployments and the policy values, shipped as ``stackproof.reference``: data
only (templates and parameter files, policy.yaml, resilience.yaml, the read-only IAM policy,
the bootstrap script and the sync function's source)."""
