"""Availability Zones per region, offline, for ``Fn::GetAZs``.

Other renderers download this at run time; the suite must work without a network. The
lists are the zones a new account sees by default (opt-in zones excluded); unknown regions
give None, which the resolver turns into an Unknown rather than a guess.
"""

from __future__ import annotations

_ZONE_LETTERS = {
    "us-east-1": "abcdef",
    "us-east-2": "abc",
    "us-west-1": "ac",
    "us-west-2": "abcd",
    "ca-central-1": "abd",
    "eu-west-1": "abc",
    "eu-west-2": "abc",
    "eu-west-3": "abc",
    "eu-central-1": "abc",
    "eu-north-1": "abc",
    "eu-south-1": "abc",
    "ap-south-1": "abc",
    "ap-northeast-1": "acd",
    "ap-northeast-2": "abcd",
    "ap-northeast-3": "abc",
    "ap-southeast-1": "abc",
    "ap-southeast-2": "abc",
    "sa-east-1": "abc",
    "me-south-1": "abc",
    "af-south-1": "abc",
}


def availability_zones(region: str) -> list[str] | None:
    letters = _ZONE_LETTERS.get(region)
    return None if letters is None else [f"{region}{letter}" for letter in letters]


def known_regions() -> list[str]:
    return sorted(_ZONE_LETTERS)
