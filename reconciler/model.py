"""Typed values that flow between the stages of the engine.

load -> render -> validate -> graph -> observe -> plan -> apply -> state -> report.
Every value here is a frozen dataclass; stages never mutate what they receive.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.diagnostics import JsonPath, Location, SourceDocument
from reconciler.inventory import Inventory

SENSITIVE = "(sensitive)"  # what every output shows in place of a secret
DEFAULT_WORKSPACE = "default"
WORKSPACE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # one rule for --workspace, the environment, every backend


def workspace_problem(name: str) -> str | None:
    """Why `name` cannot name a workspace (it becomes part of paths and keys), or None."""
    if WORKSPACE_NAME.match(name):
        return None
    return (f"workspace name {name!r} may hold only letters, digits, _ and -, at most 64 of them (it becomes part "
            "of the state's path or key)")


def normal_address(address: str) -> str:
    """An address as reconcile writes it: `file.g["a"]` and `file.g['a']` are `file.g[a]`."""
    return re.sub(r"""\[(["'])([^\]]*)\1\]""", r"[\2]", address)


def covers(pattern: str, address: str) -> bool:
    """Whether `pattern` (a resource, or one of its instances) names `address`: `file.g` names `file.g[a]` and
    `file.g[a][web1]`; `file.g[a]` names `file.g[a][web1]` but not `file.g[b]`."""
    return address == pattern or address.startswith(pattern + "[")


def address_scope(address: str, type_name: str, name: str) -> str:
    """The component scope an address starts with: "component.web." of `component.web.file.conf[h]`."""
    base = address.split("[", 1)[0]
    tail = f"{type_name}.{name}"
    return base[: -len(tail)] if base.endswith(tail) else ""


@dataclass(frozen=True)
class GroupQuery:
    """What a dynamic group asks of its source type's module."""

    tags: Mapping[str, str]  # the objects must carry these tags (the query form)
    resources: tuple[Resource, ...]  # the spec's resources that form the group, or that the tags match
    by_reference: bool  # True: only the objects of `resources`; False: every object carrying `tags`


@dataclass(frozen=True)
class GroupMembers:
    """What a module found for a dynamic group: the instances there now, as attribute maps (instance_id,
    private_ip_address, public_ip_address, private_dns_name, public_dns_name, tags…), and how many more
    the spec's resources are still to create."""

    instances: tuple[Mapping[str, Any], ...] = ()
    expected_new: int = 0


@dataclass(frozen=True)
class Selection:
    """What a plan covers: --target, --exclude, --limit, --no-prune, --allow-data-loss; `destroy`: everything
    the stack manages goes (`reconcile destroy`)."""

    targets: tuple[str, ...] = ()
    limit: tuple[str, ...] = ()
    prune: bool = True
    allow_data_loss: bool = False
    full_refresh: bool = False  # read every object in full: no settings taken from the state's snapshots
    exclude: tuple[str, ...] = ()  # everything but these and what depends on them
    destroy: bool = False
    no_checks: bool = False  # plan only: commands' unless/onlyif are not run on the targets
    allow_empty: bool = False  # a spec with no resources may destroy everything the stack manages

    @property
    def partial(self) -> bool:
        """Only some of the spec is planned: what the spec no longer has is not pruned."""
        return bool(self.targets or self.limit)

    def to_json(self) -> dict[str, Any]:
        return {"targets": list(self.targets), "limit": list(self.limit), "prune": self.prune,
                "allow_data_loss": self.allow_data_loss, "exclude": list(self.exclude), "destroy": self.destroy,
                "allow_empty": self.allow_empty}

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Selection:
        return cls(tuple(map(str, body.get("targets") or ())), tuple(map(str, body.get("limit") or ())),
                   bool(body.get("prune", True)), bool(body.get("allow_data_loss", False)),
                   exclude=tuple(map(str, body.get("exclude") or ())), destroy=bool(body.get("destroy", False)),
                   allow_empty=bool(body.get("allow_empty", False)))


@dataclass(frozen=True)
class Lifecycle:
    prevent_destroy: bool | None = None  # None: not written in the spec (False: explicitly allowed)
    ignore_changes: frozenset[str] = frozenset()
    create_before_destroy: bool = False  # a replacement creates the new object before the old one goes
    allow_data_loss: bool = False  # destroying it may lose data (as --allow-data-loss, for this resource only)


@dataclass(frozen=True)
class DriftPolicy:
    """What `reconcile watch` does about a resource's drift (`drift:`)."""

    remediate: str = "report"  # report | auto
    every: float | None = None  # seconds between observations; None: the watch interval

    @property
    def automatic(self) -> bool:
        return self.remediate == "auto"


@dataclass(frozen=True)
class StackId:
    """Who owns an object: the spec's `name:` and the workspace. Written on every object reconcile creates
    (AWS tag reconcile:stack, Docker label reconcile.stack); never derived from a filesystem path."""

    name: str
    workspace: str = "default"

    def __str__(self) -> str:
        return f"{self.name}/{self.workspace}"


@dataclass(frozen=True)
class Move:
    """`moved: [{from: ADDR, to: ADDR}]`: the state (and ownership marks) follow a renamed resource."""

    source: str
    destination: str
    location: Location | None = None


@dataclass(frozen=True)
class Removal:
    """`removed: [{address: ADDR, destroy: BOOL}]`: what to do with an object no longer in the spec."""

    address: str
    destroy: bool
    location: Location | None = None


# The mark a secret lookup's names carry among a run's secrets (`secrets[address]`), and what the state and
# saved plans hold instead of a value that came from a secret store.
EPHEMERAL = "(ephemeral)"


@dataclass(frozen=True)
class Resource:
    """One node of the graph: a resource of the spec on one target."""

    address: str  # type.name, or type.name[host] for a group-expanded resource
    type: str
    name: str
    target: str  # "local", a host name, a docker engine name, or an AWS region
    attributes: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()
    lifecycle: Lifecycle = Lifecycle()
    sensitive: frozenset[str] = frozenset()
    location: Location | None = None
    json_path: JsonPath = ()
    host: str | None = None  # the inventory host for server resources on a host
    ephemeral: frozenset[str] = frozenset()  # attributes holding a value from a secret store: written nowhere
    prior: Mapping[str, Any] = field(default_factory=dict)  # identity recorded in the state (e.g. a former name)
    key_locations: Mapping[str, Location] = field(default_factory=dict)  # where each attribute was written
    scope: str = ""  # "component.web." for a resource of a component (nested: "component.a.component.b.")
    adopted: bool = False  # the state calls its object found (imported, adopted): managed, never marked as ours
    notify: tuple[str, ...] = ()  # handlers this one triggers when it changes: "service.nginx: reload", "command.x"
    triggered_by: tuple[str, ...] = ()  # what triggers this one (its default action) when it changes
    drift: DriftPolicy = DriftPolicy()  # what `watch` does about its drift

    def where(self, key: str | None = None) -> Location | None:
        """The location of an attribute (else of the resource itself)."""
        return self.key_locations.get(key, self.location) if key else self.location

    @property
    def base_address(self) -> str:
        return f"{self.scope}{self.type}.{self.name}"

    def get(self, key: str, default: Any = None) -> Any:
        return self.attributes.get(key, default)


@dataclass(frozen=True)
class Observed:
    """What really exists for one resource, in the spec's attribute names.

    `ours`: the object carries this stack's ownership marks (tags, labels), so reconcile made it even if
    the state does not say so (a lost state being rebuilt). Objects found by name or path, or taken over
    with `import:`/`adopt:`, are not ours: the state records them as found, and removing them from the
    spec releases them instead of destroying them.
    """

    attributes: Mapping[str, Any]
    identity: Mapping[str, Any] = field(default_factory=dict)
    ours: bool = False


@dataclass(frozen=True)
class Unobservable:
    """What a module's observe() returns for one resource it could not look at (e.g. a name clash)."""

    reason: str


class Action(str, enum.Enum):
    NOOP = "no-op"
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    FORGET = "forget"  # leave the object as it is and stop managing it

    @property
    def symbol(self) -> str:
        return {"no-op": " ", "create": "+", "update": "~", "replace": "-/+", "delete": "-", "forget": "."}[self.value]


class Unknown:
    """Marks a value that is known only after apply (an unresolved reference)."""

    def __repr__(self) -> str:
        return "(known after apply)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unknown)

    def __hash__(self) -> int:
        return 0

    def __reduce__(self) -> str:
        return "UNKNOWN"  # unpickled (e.g. on a Dask worker) as this module's one instance


UNKNOWN = Unknown()


@dataclass(frozen=True)
class AttrDiff:
    name: str
    before: Any
    after: Any
    sensitive: bool = False
    forces_replace: bool = False


@dataclass(frozen=True)
class Change:
    address: str
    type: str
    action: Action
    diffs: tuple[AttrDiff, ...] = ()
    reason: str = ""
    resource: Resource | None = None  # desired; for a resource removed from the spec, rebuilt from state
    observed: Observed | None = None
    pruned: bool = False  # the resource is in the state but no longer in the spec
    moved_from: str | None = None  # `moved:` — the state entry of this address is taken from here
    verb: str = ""  # what an update does when it is an action rather than a change of values: run, restart…
    depends_on: tuple[str, ...] = ()  # for objects removed from the spec: what they were found to depend on
    replacing: Observed | None = None  # create_before_destroy: the old object, still there while the new is made
    triggered_by: tuple[str, ...] = ()  # the triggers that fired it (notify/triggered_by), with trigger_action
    trigger_action: str = ""  # what they asked of it: restart, reload, run…
    deferred: bool = False  # on a host known after apply: planned and applied once the host answers
    retiring: Resource | None = None  # an identity change: the old object (from the state), destroyed or released
    where: str = ""  # where the object lives: "path /etc/app.conf on web1", "bucket logs in eu-west-1"

    @property
    def going_resource(self) -> Resource | None:
        """What the destroy half of this change removes: the old object of an identity change, else its own."""
        return self.retiring or self.resource

    @property
    def replace_causes(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.diffs if d.forces_replace)

    @property
    def actionable(self) -> bool:
        return self.action is not Action.NOOP or self.moved_from is not None


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    spec_hash: str
    fingerprint: str  # hash of everything observed; a saved plan is stale when it differs
    state_serial: int
    failures: Mapping[str, str] = field(default_factory=dict)  # address -> why it could not be planned
    blockers: tuple[str, ...] = ()  # problems that forbid applying this plan at all (prevent_destroy)
    observed_hashes: Mapping[str, str] = field(default_factory=dict)  # address -> hash of what was observed

    warnings: tuple[str, ...] = ()  # worth knowing, not blocking (e.g. a suggested `moved:`)
    outputs: tuple[Any, ...] = ()  # reconciler.engine.outputs.OutputValue, as known at plan time
    data: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # what each data lookup read
    texts: Mapping[str, str] = field(default_factory=dict)  # address -> content diff shown under it (masked)
    unknown: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # unsettled journal intents, by address
    policy: tuple[Any, ...] = ()  # reconciler.policy.rego.PolicyFinding: what the policies said of this plan

    @property
    def actionable(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.actionable)

    def counts(self) -> dict[str, int]:
        out = {"add": 0, "change": 0, "destroy": 0, "forget": 0, "move": 0, "run": 0}
        for c in self.changes:
            if c.action is Action.CREATE:
                out["add"] += 1
            elif c.action is Action.UPDATE and c.verb == "run":
                out["run"] += 1
            elif c.action is Action.UPDATE:
                out["change"] += 1
            elif c.action is Action.DELETE:
                out["destroy"] += 1
            elif c.action is Action.REPLACE:
                out["add"] += 1
                out["destroy"] += 1
            elif c.action is Action.FORGET:
                out["forget"] += 1
            if c.moved_from is not None:
                out["move"] += 1
        return out


class Status(str, enum.Enum):
    OK = "ok"
    NOOP = "no-op"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Result:
    address: str
    action: Action
    status: Status
    error: str = ""
    observed: Observed | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Output:
    """`outputs.NAME`: a value the stack gives out (references resolved after apply)."""

    name: str
    value: Any
    sensitive: bool = False
    description: str = ""
    location: Location | None = None


@dataclass(frozen=True)
class Spec:
    """A loaded, rendered and validated spec: everything the later stages need."""

    document: SourceDocument
    resources: tuple[Resource, ...]
    inventory: Inventory
    settings: Mapping[str, Any]  # the docker: and aws: blocks
    hash: str  # changes whenever anything the spec asks for changes (templates and env included)
    stack: StackId = StackId("default")
    moved: tuple[Move, ...] = ()
    removed: tuple[Removal, ...] = ()
    named: bool = True  # False: the spec has no `name:` and the stack name is a default
    outputs: tuple[Output, ...] = ()
    data: tuple[Resource, ...] = ()  # `data:` lookups, address data.TYPE.NAME, read at every plan
    fact_targets: frozenset[str] = frozenset()  # targets whose templates read `host.facts`
    facts_known: bool = False  # built with the hosts' real facts (else stand-ins: see build_spec)
    reads: frozenset[str] = frozenset()  # files and trees the spec reads besides its own (templates, copy sources)
