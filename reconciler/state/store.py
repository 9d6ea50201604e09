"""The state: SQLite, mode 0600. Managed resources with their last-applied values, and the run history."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.model import UNKNOWN, Lifecycle, Observed, Resource

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
    address TEXT PRIMARY KEY, type TEXT NOT NULL, name TEXT NOT NULL, target TEXT NOT NULL, host TEXT,
    identity TEXT NOT NULL, attributes TEXT NOT NULL, observed TEXT NOT NULL, depends_on TEXT NOT NULL,
    prevent_destroy INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, spec TEXT NOT NULL, started_at TEXT NOT NULL,
    finished_at TEXT, status TEXT NOT NULL, user TEXT NOT NULL, host TEXT NOT NULL, summary TEXT NOT NULL
);
"""


def default_state_path(spec_path: str | Path) -> Path:
    spec = Path(spec_path).absolute()
    return (spec if spec.is_dir() else spec.parent) / ".reconcile" / "state.db"


def salted_hash(value: Any) -> str:
    salt = secrets.token_hex(8)
    digest = hashlib.sha256((salt + json.dumps(value, sort_keys=True, default=str)).encode()).hexdigest()
    return f"salted-sha256:{salt}:{digest}"


def is_salted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("salted-sha256:")


def matches_salted(stored: Any, value: Any) -> bool:
    if not (isinstance(stored, str) and stored.startswith("salted-sha256:")):
        return False
    _, salt, digest = stored.split(":", 2)
    return hashlib.sha256((salt + json.dumps(value, sort_keys=True, default=str)).encode()).hexdigest() == digest


def scrub(values: Mapping[str, Any], secret: Iterable[str]) -> dict[str, Any]:
    """Values fit to store: secrets as salted hashes, file contents as their digest."""
    hidden = set(secret)
    out = {}
    for key, value in values.items():
        if value is UNKNOWN:
            continue
        if key in hidden and value is not None:
            out[key] = salted_hash(value)
        elif key == "content" and isinstance(value, str) and not value.startswith("sha256:"):
            out[key] = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
        else:
            out[key] = value
    return out


def attributes_differ(record: StateRecord, resource: Resource, secret: Iterable[str]) -> bool:
    """Whether `resource` asks for other values than the record's last-applied ones (secrets by hash)."""
    hidden = set(secret)
    now = scrub({k: v for k, v in resource.attributes.items() if v is not UNKNOWN}, ())
    stored = dict(record.attributes)
    for key in set(now) | set(stored):
        want, had = now.get(key), stored.get(key)
        if key in hidden and is_salted(had):
            if not matches_salted(had, resource.attributes.get(key)):
                return True
        elif want != had:
            return True
    return False


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
    depends_on: tuple[str, ...]
    prevent_destroy: bool
    updated_at: str

    def as_resource(self) -> Resource:
        """A stand-in for a resource no longer in the spec, good enough to observe and delete it."""
        return Resource(
            address=self.address, type=self.type, name=self.name, target=self.target,
            attributes={**self.attributes, "state": "absent"},
            lifecycle=Lifecycle(True if self.prevent_destroy else None),
            host=self.host,
        )


@dataclass(frozen=True)
class RunRecord:
    id: int
    kind: str
    spec: str
    started_at: str
    finished_at: str | None
    status: str
    user: str
    host: str
    summary: Mapping[str, Any]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class StateStore:
    """One SQLite database. Use from one thread; every write is its own transaction."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            os.chmod(self.path, 0o600)
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode = WAL")  # the WAL file takes the database's 0600 mode
            self.db.execute("PRAGMA synchronous = NORMAL")
        else:
            self.db = sqlite3.connect(":memory:", isolation_level=None)
        self.db.execute("PRAGMA busy_timeout = 30000")
        self.db.executescript(SCHEMA)

    @classmethod
    def open_readonly(cls, path: str | Path) -> StateStore:
        """The state if it exists, else an empty one; reading never creates a state file."""
        return cls(path, create=Path(path).exists())

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta --------------------------------------------------------------------------------
    @property
    def serial(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'serial'").fetchone()
        return int(row[0]) if row else 0

    def bump_serial(self) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES ('serial', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    # -- resources ---------------------------------------------------------------------------
    def records(self) -> dict[str, StateRecord]:
        rows = self.db.execute(
            "SELECT address, type, name, target, host, identity, attributes, observed, depends_on, "
            "prevent_destroy, updated_at FROM resources ORDER BY address"
        ).fetchall()
        return {row[0]: _record(row) for row in rows}

    def get(self, address: str) -> StateRecord | None:
        return self.records().get(address)

    def save(self, resource: Resource, observed: Observed | None, secret: Iterable[str]) -> None:
        hidden = set(secret)
        observed_attrs = scrub(observed.attributes if observed else {}, hidden)
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT OR REPLACE INTO resources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    resource.address, resource.type, resource.name, resource.target, resource.host,
                    json.dumps(dict(observed.identity) if observed else {}, default=str),
                    json.dumps(scrub(resource.attributes, hidden), default=str),
                    json.dumps(observed_attrs, default=str),
                    json.dumps(list(resource.depends_on)),
                    int(bool(resource.lifecycle.prevent_destroy)),
                    _now(),
                ),
            )

    def forget(self, address: str) -> bool:
        with self.db:
            self.db.execute("BEGIN")
            cur = self.db.execute("DELETE FROM resources WHERE address = ?", (address,))
        return cur.rowcount > 0

    # -- history -----------------------------------------------------------------------------
    def start_run(self, kind: str, spec: str) -> int:
        with self.db:
            self.db.execute("BEGIN")
            cur = self.db.execute(
                "INSERT INTO runs(kind, spec, started_at, status, user, host, summary) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (kind, spec, _now(), "running", _user(), socket.gethostname(), "{}"),
            )
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, status: str, summary: Mapping[str, Any]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
                (_now(), status, json.dumps(summary, default=str), run_id),
            )

    def runs(self, kind: str | None = None, limit: int = 50) -> list[RunRecord]:
        query = "SELECT id, kind, spec, started_at, finished_at, status, user, host, summary FROM runs"
        args: tuple[Any, ...] = ()
        if kind:
            query += " WHERE kind = ?"
            args = (kind,)
        query += " ORDER BY id DESC LIMIT ?"
        rows = self.db.execute(query, args + (limit,)).fetchall()
        return [RunRecord(*row[:8], summary=json.loads(row[8])) for row in rows]


def _record(row: tuple[Any, ...]) -> StateRecord:
    return StateRecord(
        address=row[0], type=row[1], name=row[2], target=row[3], host=row[4],
        identity=json.loads(row[5]), attributes=json.loads(row[6]), observed=json.loads(row[7]),
        depends_on=tuple(json.loads(row[8])), prevent_destroy=bool(row[9]), updated_at=row[10],
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
