"""Restore and resilience drills: the engine, the runbooks, and the guards for live accounts."""
