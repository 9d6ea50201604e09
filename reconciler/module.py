"""The contract every resource module implements: batched observe, pure diff, apply, delete."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from reconciler.diagnostics import LintFinding
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.targets.prefetch import Read

LINE_BREAKS = "[\n\r\u2028\u2029\u0085\u0000]"  # what may never be inside a value that becomes one line

TargetT = TypeVar("TargetT")  # the target a module acts on: a server Target, a DockerEngine, an AwsRegion…


@dataclass(frozen=True)
class TerraformObject:
    """One resource as Terraform's provider holds it: its type, a suffix for the name when one reconcile
    resource is several Terraform resources (`_public_access_block`), and its values."""

    type: str
    suffix: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Adopted:
    """A peer's record of one object (a Terraform state's resource) as this type's spec entry."""

    attributes: dict[str, Any]
    object_id: str  # what `reconcile state import` takes for it
    secrets: dict[str, str] = field(default_factory=dict)  # attribute -> the environment variable the spec reads it from
    notes: tuple[str, ...] = ()  # what the user must know (e.g. a value the peer kept only as a hash)
    unmanaged: dict[str, str] = field(default_factory=dict)  # attribute left to the world (ignore_changes) -> why
    files: dict[str, str] = field(default_factory=dict)  # file the spec needs beside it -> the peer's own path
    identity: dict[str, Any] = field(default_factory=dict)  # recorded in the adoption state beside import_identity


class NotCarried(Exception):
    """A peer's setting a type cannot carry faithfully: the attribute it belongs to is left unmanaged."""

    def __init__(self, attribute: str, reason: str):
        super().__init__(f"{attribute}: {reason}")
        self.attribute = attribute
        self.reason = reason


class NotConvertible(Exception):
    """A peer's task this type cannot express faithfully (the message says what and why)."""


def ansible_args(module: str, args: Mapping[str, Any], allowed: Iterable[str]) -> dict[str, Any]:
    """A task's arguments, refused (NotConvertible) when it uses one the conversion does not carry over."""
    extra = sorted(set(args) - set(allowed))
    if extra:
        raise NotConvertible(f"{module}: {', '.join(extra)} {'is' if len(extra) == 1 else 'are'} not supported")
    return {k: v for k, v in args.items() if v is not None}


UNCHECKED = "_unchecked"  # set by a plan made with --no-checks on resources of modules that run checks


class Module(Generic[TargetT]):
    """One resource type. Subclasses declare their attributes and implement observe/apply/delete.

    The engine owns the choice of action (see reconciler.engine.diff); a module only says which
    attributes are secret, which force a replacement, which are computed by the real world,
    and how to compare a desired value with an observed one when plain equality is wrong.
    """

    type_name: ClassVar[str]
    family: ClassVar[str] = "server"  # the kind of target: server | docker | aws
    sensitive: ClassVar[frozenset[str]] = frozenset()
    requires_replace: ClassVar[frozenset[str]] = frozenset()
    computed: ClassVar[frozenset[str]] = frozenset()  # known only once the resource exists
    volatile: ClassVar[frozenset[str]] = frozenset()  # computed ones an in-place update may change
    not_compared: ClassVar[frozenset[str]] = frozenset({"state"})  # steer the module, aren't properties
    default_state: ClassVar[str] = "present"
    absent_states: ClassVar[frozenset[str]] = frozenset({"absent"})
    trigger_attribute: ClassVar[str | None] = None  # e.g. restart_on: addresses whose change triggers this one
    triggered_actions: ClassVar[tuple[str, ...]] = ()  # what notify/triggered_by may ask of it; the first is the default
    handler_only: ClassVar[bool] = False  # True: with triggers, it acts only when one fires (a handler command)
    observe_unresolved: ClassVar[bool] = False  # True: observe() copes with UNKNOWN attribute values
    prunable: ClassVar[bool] = True  # False: removing it from the spec undoes nothing, it is just forgotten
    forget_reason: ClassVar[str] = "no longer in the spec; there is nothing to undo"  # what a plan says then
    runs_checks: ClassVar[bool] = False  # observe() runs read-only commands of the spec's (unless/onlyif)
    digest_attributes: ClassVar[frozenset[str]] = frozenset()  # stored in the state as their sha256 (contents)
    co_managed: ClassVar[frozenset[str]] = frozenset()  # others change these by design (a scaling policy's desired
    # capacity): not drift unless the spec sets them
    holds_paths: ClassVar[bool] = False  # True: other resources' paths under its path() are its contents (a directory)

    # -- declared by the engine's diff --------------------------------------------------------
    def desired(self, resource: Resource) -> dict[str, Any]:
        """The comparable properties the spec asks for (unset ones are left out: not drift)."""
        return {
            k: v for k, v in resource.attributes.items() if v is not None and k not in self.not_compared
        }

    def equal(self, name: str, desired: Any, observed: Any) -> bool:
        return bool(desired == observed)

    def triggered(self, change: Change, cause: str, action: str) -> Change:
        """The change to make because `cause` (one or more addresses, comma-separated) changes in this run
        and asks for `action` (one of triggered_actions). `change` is what the diff alone decided."""
        return change

    def import_identity(self, object_id: str) -> dict[str, Any]:
        """The state identity of an existing object given by its id or name (`reconcile state import`)."""
        return {"id": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        """What the object is in the world (a path, a name), when two addresses could mean the same one.
        A plan that would destroy under one address the object another address manages is refused."""
        return None

    name_attribute: ClassVar[str | None] = None  # the attribute naming its object (bucket, queue_name…), if any

    def locate(self, resource: Resource) -> str | None:
        """What the object is, as plans say it ("path /etc/app.conf", "bucket logs"): its physical key, else
        its name; None when it has neither (its target still says where)."""
        key = self.physical_key(resource)
        if key is not None:
            return key
        if self.name_attribute:
            return f"{self.name_attribute} {resource.get(self.name_attribute) or resource.name}"
        return None

    def planned(self, resource: Resource) -> dict[str, Any]:
        """Computed attributes already known before the object exists (e.g. a name taken from the spec)."""
        return {}

    def secret_attributes(self, resource: Resource) -> frozenset[str]:
        """Attributes never shown or stored in clear: the module's own and those the spec marks."""
        return self.sensitive | resource.sensitive

    def prepare(self, attributes: dict[str, Any], load: Any) -> dict[str, Any]:
        """At load time, after rendering: turn what the spec wrote into what the module works with (e.g. a
        template file into content). `load` is a reconciler.spec.templates.LoadContext; raise
        TemplateFileError for a problem to report at the resource's line."""
        return attributes

    def path(self, resource: Resource) -> str | None:
        """The filesystem path the resource writes on its target, if any (lint: writes under a managed
        directory must depend on it)."""
        return None

    def lint(self, resource: Resource) -> Iterable[LintFinding]:
        """`validate --strict` rules of this type on one resource (pure: no host is contacted)."""
        return ()

    def state_of(self, resource: Resource) -> str:
        return str(resource.get("state") or self.default_state)

    def destroy_hazard(self, target: TargetT, change: Change, going: Sequence[Change] = ()) -> str | None:
        """Why destroying this object loses data (e.g. a volume that holds some), or None.

        Called at plan time for deletes and replaces; `going` holds every delete and replace of the plan
        on the same target (a directory's managed files go with it). Such a change is refused unless the
        run allows data loss (`--allow-data-loss`, `lifecycle.allow_data_loss`).
        """
        return None

    def prepare_replace(self, target: TargetT, change: Change) -> None:
        """Before the old object of a replacement is destroyed: get what the new one needs (e.g. pull its
        image), so that a failure leaves the old object running."""
        return None

    def after_replace(self, target: TargetT, change: Change, new: Observed) -> Observed:
        """With `lifecycle.create_before_destroy`: called once the old object is gone (e.g. to give the new
        container the name the old one had). `apply` is called with the old object in `change.replacing`,
        so it can make the new one coexist with it."""
        return new

    # -- implemented by each module -----------------------------------------------------------
    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        """The reads `observe` makes on a server target (stats, file contents, read-only commands), so the
        engine can gather those of every type on a host in one round trip before observing; observe then
        gets them from the batch. Reads not declared here still work, at the cost of their own trip."""
        return ()

    def observe(
        self, target: TargetT, resources: Sequence[Resource]
    ) -> Mapping[str, Observed | Unobservable | None]:
        """Observe ALL `resources` of this type on one target in one batch, keyed by address.

        None: it does not exist. Unobservable(reason): it cannot be planned (reported, others go on).
        """
        raise NotImplementedError

    def apply(self, target: TargetT, change: Change) -> Observed:
        """Create or update the resource so that it matches `change.resource`; return what now exists."""
        raise NotImplementedError

    def delete(self, target: TargetT, resource: Resource, observed: Observed) -> None:
        raise NotImplementedError


class RefinesChange(Protocol):
    """A type whose change is more than its attributes' difference (a moved tag, a registry's new image, a
    handler's state): given the engine's change (`engine.diff.compute_change`), it returns its own. The engine
    detects it (`engine.diff.change_for`); a type without it takes the engine's change as it is."""

    def refine_change(self, change: Change, resource: Resource, observed: Observed | None) -> Change: ...


class DataSource(Generic[TargetT]):
    """A read-only lookup of something reconcile does not manage (Terraform's data sources): an AMI by its
    name, a VPC by its tags, a file on a host. Read during every plan, never written, never in the state;
    resources read its attributes as `${data.TYPE.NAME.ATTRIBUTE}`."""

    type_name: ClassVar[str]
    family: ClassVar[str] = "server"
    provides: ClassVar[frozenset[str]] = frozenset()  # the attributes a read returns (beyond the query's own)
    sensitive: ClassVar[frozenset[str]] = frozenset()
    # Ephemeral (values from a secret store): sensitive, and written nowhere, not even hashed; read again by
    # every plan and apply, and compared with what the target holds.
    ephemeral: ClassVar[bool] = False

    def read(self, target: TargetT, queries: Sequence[Resource]) -> Mapping[str, Mapping[str, Any] | Unobservable]:
        """Answer ALL `queries` of this type on one target in one batch, keyed by address: the attributes
        found, or Unobservable(why) when a query finds nothing or more than one thing."""
        raise NotImplementedError
