"""What the state holds, independent of where it is kept: resource records, run records, and the
portable JSON document (`state pull` / `state push`, remote backends)."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from reconciler.errors import StateDamaged
from reconciler.ignored_keys import without_keys
from reconciler.model import EPHEMERAL, UNKNOWN, Lifecycle, Resource, StackId, address_scope

DOCUMENT_KIND = "reconcile-state"
KEEP_RETIRED = 10_000  # addresses that left the state, remembered so `moved:`/`removed:` entries stay valid
DOCUMENT_VERSION = 2
CREATED, FOUND = "created", "found"


def salted_hash(value: Any) -> str:
    salt = secrets.token_hex(8)
    digest = hashlib.sha256((salt + json.dumps(value, sort_keys=True, default=str)).encode()).hexdigest()
    return f"salted-sha256:{salt}:{digest}"


def is_salted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("salted-sha256:")


def matches_salted(stored: Any, value: Any) -> bool:
    if not is_salted(stored):
        return False
    _, salt, digest = stored.split(":", 2)
    return bool(hashlib.sha256((salt + json.dumps(value, sort_keys=True, default=str)).encode()).hexdigest() == digest)


def scrub(values: Mapping[str, Any], secret: Iterable[str], digested: Iterable[str] = (),
          ephemeral: Iterable[str] = ()) -> dict[str, Any]:
    """Values fit to store: secrets as salted hashes; `digested` attributes (large texts such as file
    contents, declared by each module) as their sha256; values from a secret store (`ephemeral`) not at
    all, not even hashed."""
    hidden, digest, gone = set(secret), set(digested), set(ephemeral)
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is UNKNOWN:
            continue
        if key in gone:
            out[key] = EPHEMERAL
        elif key in hidden and value is not None:
            out[key] = salted_hash(value)
        elif key in digest and isinstance(value, str) and not value.startswith("sha256:"):
            out[key] = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
        else:
            out[key] = value
    return out


def journal_entries(changes: Iterable[tuple[str, str, str]], since: str) -> dict[str, dict[str, str]]:
    """An apply's intents, written before it changes anything: (address, action, origin) -> journal entries.
    `origin` is what the state will call the object once made ("created", or "found" for one adopted)."""
    return {address: {"action": action, "origin": origin, "since": since} for address, action, origin in changes}


def unsettled(journal: Mapping[str, Mapping[str, Any]], records: Mapping[str, StateRecord]) -> dict[str, dict[str, Any]]:
    """The intents whose outcome the state does not know: a run wrote them, then stopped (killed, power lost)
    before it recorded that object. A record written since the intent settles it."""
    out = {}
    for address, entry in journal.items():
        record = records.get(address)
        if record is None or record.updated_at < str(entry.get("since", "")):
            out[address] = dict(entry)
    return out


@dataclass(frozen=True)
class Carried:
    """What an apply could not finish and the next one must: handlers notified but not run (failed, skipped, or
    left out by --target/--limit/--only-drifted), and rollouts a health gate stopped (the next apply starts at
    the failed batch and checks its gate again before going on)."""

    handlers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # receiver -> {action, causes}
    rollouts: Mapping[str, list[str]] = field(default_factory=dict)  # group -> the hosts of the batch it stopped at

    def to_json(self) -> dict[str, Any]:
        return {"handlers": {a: dict(h) for a, h in sorted(self.handlers.items())},
                "rollouts": {g: list(h) for g, h in sorted(self.rollouts.items())}}

    @classmethod
    def from_json(cls, body: Any) -> Carried:
        if not isinstance(body, Mapping):
            return cls()
        handlers: Mapping[str, Any] = body["handlers"] if isinstance(body.get("handlers"), Mapping) else {}
        rollouts: Mapping[str, Any] = body["rollouts"] if isinstance(body.get("rollouts"), Mapping) else {}
        return cls({str(a): dict(h) for a, h in handlers.items() if isinstance(h, Mapping)},
                   {str(g): [str(x) for x in h] for g, h in rollouts.items() if isinstance(h, list)})


def with_retired(retired: tuple[str, ...], address: str) -> tuple[str, ...]:
    """`retired` with `address` added last (each once; the oldest forgotten past KEEP_RETIRED)."""
    return (*(a for a in retired if a != address), address)[-KEEP_RETIRED:]


def now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass(frozen=True)
class StateRecord:
    address: str
    type: str
    name: str
    target: str
    host: str | None
    identity: Mapping[str, Any]
    attributes: Mapping[str, Any]
    observed: Mapping[str, Any]
    depends_on: tuple[str, ...]  # every dependency edge: depends_on and `${…}` references alike
    prevent_destroy: bool
    updated_at: str
    origin: str = CREATED  # created by reconcile, or found already there (existed, imported, adopted)

    def as_resource(self) -> Resource:
        """A stand-in for a resource no longer in the spec, good enough to observe and delete it."""
        return Resource(
            address=self.address, type=self.type, name=self.name, target=self.target,
            attributes={**self.attributes, "state": "absent"},
            lifecycle=Lifecycle(True if self.prevent_destroy else None),
            host=self.host, prior=dict(self.identity), scope=address_scope(self.address, self.type, self.name),
        )

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["depends_on"] = list(self.depends_on)
        return body

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> StateRecord:
        return cls(
            address=str(body["address"]), type=str(body["type"]), name=str(body["name"]),
            target=str(body["target"]), host=body.get("host"), identity=dict(body.get("identity") or {}),
            attributes=dict(body.get("attributes") or {}), observed=dict(body.get("observed") or {}),
            depends_on=tuple(body.get("depends_on") or ()), prevent_destroy=bool(body.get("prevent_destroy")),
            updated_at=str(body.get("updated_at") or ""), origin=str(body.get("origin") or CREATED),
        )


@dataclass(frozen=True)
class RunRecord:
    id: int
    kind: str
    spec: str
    started_at: str
    finished_at: str | None
    status: str  # running | ok | failed | drift | error | interrupted
    user: str
    host: str
    summary: Mapping[str, Any]
    pid: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> RunRecord:
        return cls(int(body["id"]), str(body["kind"]), str(body["spec"]), str(body["started_at"]),
                   body.get("finished_at"), str(body["status"]), str(body.get("user", "")),
                   str(body.get("host", "")), dict(body.get("summary") or {}), int(body.get("pid") or 0))


@dataclass(frozen=True)
class StateDocument:
    """The whole state as one JSON value: what `state pull` prints and remote backends store."""

    lineage: str
    serial: int
    stack: StackId | None
    resources: Mapping[str, StateRecord]
    outputs: Mapping[str, Any] = field(default_factory=dict)
    retired: tuple[str, ...] = ()  # addresses that left the state (moved, pruned, forgotten), newest last
    journal: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # an apply's intents (see Journal)
    carried: Mapping[str, Any] = field(default_factory=dict)  # work left for the next apply (see Carried)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": DOCUMENT_KIND, "version": DOCUMENT_VERSION, "lineage": self.lineage, "serial": self.serial,
            "stack": {"name": self.stack.name, "workspace": self.stack.workspace} if self.stack else None,
            "resources": [r.to_json() for _, r in sorted(self.resources.items())],
            "outputs": dict(self.outputs),
            "retired": list(self.retired),
            "journal": {a: dict(e) for a, e in sorted(self.journal.items())},
            "carried": dict(self.carried),
        }

    @classmethod
    def from_json(cls, body: Any, where: str = "the state") -> StateDocument:
        if not isinstance(body, dict) or body.get("kind") != DOCUMENT_KIND:
            raise StateDamaged(f"{where} is not a reconcile state document (no \"kind\": \"{DOCUMENT_KIND}\")")
        if int(body.get("version", 0)) > DOCUMENT_VERSION:
            raise StateDamaged(f"{where} was written by a newer reconcile (format {body.get('version')}); upgrade")
        try:
            stack = body.get("stack")
            return cls(
                lineage=str(body["lineage"]), serial=int(body["serial"]),
                stack=StackId(str(stack["name"]), str(stack["workspace"])) if stack else None,
                resources={str(r["address"]): StateRecord.from_json(r) for r in body.get("resources") or []},
                outputs=dict(body.get("outputs") or {}),
                retired=tuple(str(a) for a in body.get("retired") or ()),
                journal={str(a): dict(e) for a, e in (body.get("journal") or {}).items()},
                carried=dict(body.get("carried") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StateDamaged(f"{where} is damaged: {type(exc).__name__}: {exc}") from None


def attributes_differ(record: StateRecord, resource: Resource, secret: Iterable[str],
                      digested: Iterable[str] = ()) -> bool:
    """Whether `resource` asks for other values than the record's last-applied ones (secrets by hash)."""
    hidden = set(secret)
    ignored = resource.lifecycle.ignore_changes
    now = without_keys(scrub({k: v for k, v in resource.attributes.items() if v is not UNKNOWN}, (), digested),
                       ignored)
    stored = without_keys(record.attributes, ignored)
    for key in set(now) | set(stored):
        want, had = now.get(key), stored.get(key)
        if key in resource.ephemeral or had == EPHEMERAL:
            continue  # a secret store's value: compared with what the target holds, never with the state
        if key in hidden and is_salted(had):
            if not matches_salted(had, resource.attributes.get(key)):
                return True
        elif want != had:
            return True
    return False
