"""Calculations on the deployment model that controls and drills share: the policy values,
service-quota demand, the scaling simulation and drift between two models."""
