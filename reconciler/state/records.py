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
from reconciler.model import UNKNOWN, Lifecycle, Resource, StackId, address_scope

DOCUMENT_KIND = "reconcile-state"
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


def scrub(values: Mapping[str, Any], secret: Iterable[str], digested: Iterable[str] = ()) -> dict[str, Any]:
    """Values fit to store: secrets as salted hashes; `digested` attributes (large texts such as file
    contents, declared by each module) as their sha256."""
    hidden, digest = set(secret), set(digested)
    out = {}
    for key, value in values.items():
        if value is UNKNOWN:
            continue
        if key in hidden and value is not None:
            out[key] = salted_hash(value)
        elif key in digest and isinstance(value, str) and not value.startswith("sha256:"):
            out[key] = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
        else:
            out[key] = value
    return out


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

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": DOCUMENT_KIND, "version": DOCUMENT_VERSION, "lineage": self.lineage, "serial": self.serial,
            "stack": {"name": self.stack.name, "workspace": self.stack.workspace} if self.stack else None,
            "resources": [r.to_json() for _, r in sorted(self.resources.items())],
            "outputs": dict(self.outputs),
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
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StateDamaged(f"{where} is damaged: {type(exc).__name__}: {exc}") from None
