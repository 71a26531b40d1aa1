"""The deployment: every model object plus the relationship queries the controls share."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from stackproof.model.types import (
    AutoScalingGroup,
    Gateway,
    InstanceProfile,
    LaunchTemplate,
    Location,
    NetworkAcl,
    Obj,
    Parameter,
    PolicyDocument,
    Role,
    Route,
    RouteTable,
    SecretSurface,
    SecurityGroup,
    StackTemplate,
    Subnet,
)
from stackproof.template.values import Symbolic, Unknown

T = TypeVar("T", bound=Obj)

PUBLIC, PRIVATE, ISOLATED = "public", "private", "isolated"
EGRESS_KINDS = frozenset({"igw", "nat", "egress-only-igw", "tgw", "vgw", "peering", "instance", "eni"})
DEFAULT_ROUTES = frozenset({"0.0.0.0/0", "::/0"})


@dataclass
class Deployment:
    """What one target shows of one stack: the only thing checks see."""

    target: str
    name: str
    region: str
    source: str  # template path, or stack ARN
    parameters: list[Parameter] = field(default_factory=list)
    policies: list[PolicyDocument] = field(default_factory=list)
    declared: dict[str, Any] = field(default_factory=dict)  # the template's Metadata.stackproof

    @property
    def reference(self) -> str:
        """Which reference system the template says it is (Metadata.stackproof.reference); a
        template that says nothing is held to the dashboard's promises."""
        declared = self.declared.get("reference")
        return declared if isinstance(declared, str) and declared else "dashboard"

    api_calls: dict[str, int] = field(default_factory=dict)  # deployed targets: calls made to build it
    skipped: dict[str, str] = field(default_factory=dict)  # resources the target did not create
    quota_facts: dict[str, Any] = field(default_factory=dict)  # deployed targets: applied quotas and usage
    parameter_values: dict[str, Any] = field(default_factory=dict)  # the stack's (or template's) parameters
    tls_probes: list[Any] = field(default_factory=list)  # aws: live handshakes (TlsProbe)
    stacks: dict[str, str] = field(default_factory=dict)  # a set: each stack's name and its template or ARN
    template_digests: dict[str, str] = field(default_factory=dict)  # deployed: sha256 of each stack's template
    link_problems: list[Any] = field(default_factory=list)  # a set: imports nothing exports, missing children
    links: int = 0  # a set: imports another stack satisfied, and nested stacks expanded
    _objects: dict[type[Obj], dict[str, Obj]] = field(default_factory=lambda: defaultdict(dict))
    _aliases: dict[str, str] = field(default_factory=dict)
    gaps: dict[type[Obj], Unknown] = field(default_factory=dict)  # kinds the target could not read
    not_emulated: dict[type[Obj], str] = field(default_factory=dict)  # kinds the target does not provide

    def add(self, obj: Obj, *aliases: str) -> None:
        """Add ``obj``; ``aliases`` are other identifiers for it (ARNs, names) that
        references in a deployed stack use."""
        self._objects[type(obj)][obj.key] = obj
        for alias in aliases:
            if alias:
                self._aliases[alias] = obj.key

    def resolve_key(self, value: Any) -> Any:
        """The model key ``value`` names: itself, or the object it is an alias of."""
        if isinstance(value, str) and value in self._aliases:
            return self._aliases[value]
        return value

    def refs(self, value: Any) -> set[str]:
        """Keys of the model objects a value (or list of values) refers to: logical IDs
        behind Ref/GetAtt/Sub on a template, ARNs and names on a deployed stack."""
        from stackproof.model.documents import as_list, names

        found = names(value)
        for item in as_list(value):
            if isinstance(item, str) and not isinstance(item, Symbolic):
                for candidate in (item, item.removesuffix("/*"), item.removesuffix(":*")):
                    key = self._aliases.get(candidate)
                    if key is not None:
                        found.add(key)
        return found

    def unreadable(self, kind: type[Obj]) -> None:
        """Raise when ``kind`` could not be read: NotEmulated (SKIP) where an emulator declared
        it missing, Undecidable (ERROR) where the target could not read it or its listing is not
        proven complete. Every accessor calls this first, so no lookup answers "none" or "not
        found" over a kind that was never seen: a check cannot pass over what was not read."""
        if kind in self.not_emulated:
            from stackproof.model.outcomes import NotEmulated

            raise NotEmulated(f"{kind.__name__}: {self.not_emulated[kind]}")
        if kind in self.gaps:
            from stackproof.model.outcomes import Undecidable

            raise Undecidable(f"{kind.__name__} objects: {self.gaps[kind].reason}")

    def all(self, kind: type[T]) -> list[T]:
        """Every object of ``kind``; Undecidable when the target could not read that kind."""
        self.unreadable(kind)
        return list(self._objects.get(kind, {}).values())  # type: ignore[arg-type]

    def get(self, kind: type[T], key: Any) -> T | None:
        """The object of ``kind`` that ``key`` names, or None when there is none; Undecidable
        (or NotEmulated) when ``kind`` was not fully read, since "none" would then be a guess."""
        self.unreadable(kind)
        return self.lookup(kind, key)

    def lookup(self, kind: type[T], key: Any) -> T | None:
        """What was read of ``kind`` under ``key``, gaps ignored: for the builders that record
        the gaps, never for checks (they use :meth:`get`)."""
        if not isinstance(key, str):
            return None
        found = self._objects.get(kind, {}).get(self.resolve_key(key))
        return found  # type: ignore[return-value]

    def find(self, key: Any) -> Obj | None:
        """The object of any kind keyed ``key``; not finding it while some kind is unread is
        Undecidable (it could be that kind's)."""
        if not isinstance(key, str):
            return None
        for objects in self._objects.values():
            if key in objects:
                return objects[key]
        for kind in (*self.not_emulated, *self.gaps):
            self.unreadable(kind)
        return None

    def count(self) -> int:
        """The objects the resources became; facts about the templates themselves (where
        secrets surface, how big each template is) are not counted."""
        return sum(len(v) for kind, v in self._objects.items() if kind not in (SecretSurface, StackTemplate))

    # ------------------------------------------------------------------ network
    def route_table_of(self, subnet: Subnet) -> RouteTable:
        """The explicitly associated route table, else the VPC's main one (which the
        template cannot see: its routes are then Unknown)."""
        index = self._subnet_route_tables()
        if subnet.key in index:
            return index[subnet.key]
        for table in self.all(RouteTable):
            if table.main and table.vpc == subnet.vpc:
                return table
        return RouteTable(
            key=f"main route table of {subnet.vpc}",
            location=Location(f"main route table of {subnet.vpc}", "AWS::EC2::RouteTable"),
            vpc=subnet.vpc,
            main=True,
            routes=Unknown(
                f"{subnet.key} has no explicit route table association, so it uses the VPC's main "
                "route table, which AWS creates outside the template; its routes are not known here"
            ),
        )

    def _subnet_route_tables(self) -> dict[str, RouteTable]:
        index = {}
        for table in self.all(RouteTable):
            for subnet in table.subnets:
                index[subnet] = table
        return index

    def tier_of(self, subnet: Subnet) -> str | Unknown:
        """Classify by routes, never by name: public (a default route to an internet gateway),
        private (other egress beyond the VPC, e.g. through NAT), isolated (none)."""
        routes = self.route_table_of(subnet).routes
        if isinstance(routes, Unknown):
            return routes
        kinds = set()
        for route in routes:
            if isinstance(route.destination, Unknown):
                return route.destination
            if route.target_kind == "unknown":
                return Unknown(f"route to {route.destination} has a target that is not known")
            kinds.add((route.destination in DEFAULT_ROUTES, route.target_kind))
        if any(kind == "igw" for default, kind in kinds if default):
            return PUBLIC
        if any(kind in EGRESS_KINDS for _, kind in kinds):
            return PRIVATE
        return ISOLATED

    def internet_routes(self, table: RouteTable) -> list[Route] | Unknown:
        """Routes that leave the VPC for the internet or anywhere beyond (NET-02's list)."""
        if isinstance(table.routes, Unknown):
            return table.routes
        return [
            r
            for r in table.routes
            if r.target_kind in ("igw", "nat", "egress-only-igw") or r.destination in DEFAULT_ROUTES
        ]

    def subnets_by_tier(self) -> dict[str, list[Subnet]]:
        tiers: dict[str, list[Subnet]] = defaultdict(list)
        for subnet in self.all(Subnet):
            tier = self.tier_of(subnet)
            tiers[tier if isinstance(tier, str) else "unknown"].append(subnet)
        return tiers

    def network_acl_of(self, subnet: Subnet) -> NetworkAcl | None:
        for acl in self.all(NetworkAcl):
            if subnet.key in acl.subnets:
                return acl
        return None

    def gateway(self, key: Any) -> Gateway | None:
        return self.get(Gateway, key)

    # ------------------------------------------------------------------ compute
    def launch_template_of(self, group: AutoScalingGroup) -> LaunchTemplate | None:
        """What the group launches from: its launch template, else its launch configuration
        (both are :class:`LaunchTemplate` objects in the model)."""
        return self.get(LaunchTemplate, group.launch_template) or self.get(LaunchTemplate, group.launch_configuration)

    def instance_roles(self) -> list[Role]:
        """Roles the application instances run with: group -> launch template (or launch
        configuration) -> profile -> role."""
        roles = []
        for group in self.all(AutoScalingGroup):
            template = self.launch_template_of(group)
            profile = self.get(InstanceProfile, template.instance_profile) if template else None
            roles += [r for k in (profile.roles if profile else []) if (r := self.get(Role, k)) is not None]
        return roles

    def security_groups(self, keys: Iterable[Any]) -> list[SecurityGroup]:
        return [sg for key in keys if (sg := self.get(SecurityGroup, key)) is not None]
