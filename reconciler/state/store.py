"""The local state: one SQLite file, mode 0600, beside the spec. Managed resources with their last-applied
values and every dependency edge, the stack identity and lineage, and the run history.

Damage is reported, never papered over: an empty (0-byte), truncated or foreign file is an error that
names the backups (`reconcile state versions`, `reconcile state restore VERSION`). A copy of the database
is taken before the first write of every run that changes it, so the last good states can be restored.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reconciler.errors import StateDamaged, StateError
from reconciler.key_source import Sealing
from reconciler.model import Observed, Resource, StackId
from reconciler.state import local_backups, run_history
from reconciler.state.local_backups import RESTORE_HINT, StateVersion, write_plain
from reconciler.state.records import (
    CREATED,
    Carried,
    RunRecord,
    StateDocument,
    StateRecord,
    now_text,
    scrub,
    unsettled,
    with_retired,
)
from reconciler.state.sqlite_file import open_database

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
    address TEXT PRIMARY KEY, type TEXT NOT NULL, name TEXT NOT NULL, target TEXT NOT NULL, host TEXT,
    identity TEXT NOT NULL, attributes TEXT NOT NULL, observed TEXT NOT NULL, depends_on TEXT NOT NULL,
    prevent_destroy INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL, origin TEXT NOT NULL DEFAULT 'created'
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, spec TEXT NOT NULL, started_at TEXT NOT NULL,
    finished_at TEXT, status TEXT NOT NULL, user TEXT NOT NULL, host TEXT NOT NULL, summary TEXT NOT NULL,
    pid INTEGER NOT NULL DEFAULT 0
);
"""
COLUMNS = ("address, type, name, target, host, identity, attributes, observed, depends_on, prevent_destroy, "
           "updated_at, origin")


class SqliteStateStore:
    """One SQLite database. Use from one thread; every write is its own transaction.

    `writable=False` (plan, drift, state list…) never creates a file: a missing state reads as empty.
    """

    def __init__(self, path: str | Path, *, writable: bool = True):
        self.path = Path(path)
        self.location = str(self.path)
        self.writable = writable
        self.is_new = not self.path.exists()
        self._backed_up = False
        try:
            self.db = self._connect()
            self._prepare()
        except sqlite3.DatabaseError as exc:
            raise StateDamaged(f"the state {self.path} cannot be read as a reconcile state ({exc}); "
                               f"restore a backup: {RESTORE_HINT}") from None
        if writable:
            self.mark_interrupted()

    # -- opening -------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        db, self.is_new = open_database(self.path, self.writable, self.is_new)
        return db

    def _prepare(self) -> None:
        tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not self.is_new and self.path.exists() and "resources" not in tables:
            raise StateDamaged(f"{self.path} is an SQLite file but not a reconcile state (no resources table); "
                               f"restore a backup: {RESTORE_HINT}")
        if self.writable or not tables:
            self.db.executescript(SCHEMA)
            self._migrate()
            if self.writable and self._meta("lineage") is None:
                self._set_meta("lineage", str(uuid.uuid4()))

    def _migrate(self) -> None:
        """Add the columns a state written by an older reconcile lacks."""
        for table, column, ddl in (("resources", "origin", "TEXT NOT NULL DEFAULT 'created'"),
                                   ("runs", "pid", "INTEGER NOT NULL DEFAULT 0")):
            have = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}")

    @classmethod
    def open_readonly(cls, path: str | Path) -> SqliteStateStore:
        """The state if it exists, else an empty one; reading never creates a state file."""
        return cls(path, writable=False)

    def close(self) -> None:
        self.db.close()

    def flush(self) -> None:
        """Nothing to do: every write is committed as it is made."""

    def rekey(self, sealing: Sealing | None) -> None:
        """A plain state stays plain; one to encrypt is opened as a SealedStateStore (see backend.open)."""
        if sealing is not None:
            raise StateError(f"{self.path} is a plain state: open it through its backend with the key to encrypt it")

    def __enter__(self) -> SqliteStateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta ----------------------------------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                        (key, value, value))

    @property
    def serial(self) -> int:
        return int(self._meta("serial") or 0)

    @property
    def lineage(self) -> str:
        return self._meta("lineage") or ""

    @property
    def stack(self) -> StackId | None:
        raw = self._meta("stack")
        if not raw:
            return None
        body = json.loads(raw)
        return StackId(body["name"], body["workspace"])

    def set_stack(self, stack: StackId) -> None:
        if self.stack != stack:
            self._before_write()
            self._set_meta("stack", json.dumps({"name": stack.name, "workspace": stack.workspace}))

    @property
    def outputs(self) -> dict[str, Any]:
        """The spec's outputs as of the last apply: name -> {"value", "sensitive"} (sensitive ones unset)."""
        raw = self._meta("outputs")
        return dict(json.loads(raw)) if raw else {}

    def set_outputs(self, outputs: Mapping[str, Any]) -> None:
        if self.outputs != dict(outputs):
            self._before_write()
            self._set_meta("outputs", json.dumps(outputs, sort_keys=True, default=str))

    def bump_serial(self) -> None:
        self._before_write()
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES ('serial', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    # -- resources -----------------------------------------------------------------------------
    def records(self) -> dict[str, StateRecord]:
        rows = self.db.execute(f"SELECT {COLUMNS} FROM resources ORDER BY address").fetchall()
        return {row[0]: _record(row) for row in rows}

    def get(self, address: str) -> StateRecord | None:
        row = self.db.execute(f"SELECT {COLUMNS} FROM resources WHERE address = ?", (address,)).fetchone()
        return _record(row) if row else None

    def save(self, resource: Resource, observed: Observed | None, secret: Iterable[str], *,
             origin: str = CREATED, depends_on: Iterable[str] = (), digested: Iterable[str] = ()) -> None:
        hidden = set(secret)
        record = StateRecord(
            address=resource.address, type=resource.type, name=resource.name, target=resource.target,
            host=resource.host, identity=dict(observed.identity) if observed else {},
            attributes=scrub(resource.attributes, hidden, digested, resource.ephemeral),
            observed=scrub(observed.attributes if observed else {}, hidden, digested, resource.ephemeral),
            depends_on=tuple(sorted(set(depends_on) | set(resource.depends_on))),
            prevent_destroy=bool(resource.lifecycle.prevent_destroy), updated_at=now_text(), origin=origin,
        )
        self.put(record)

    def put(self, record: StateRecord) -> None:
        self._before_write()
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                f"INSERT OR REPLACE INTO resources ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.address, record.type, record.name, record.target, record.host,
                 json.dumps(dict(record.identity), default=str), json.dumps(dict(record.attributes), default=str),
                 json.dumps(dict(record.observed), default=str), json.dumps(list(record.depends_on)),
                 int(record.prevent_destroy), record.updated_at, record.origin),
            )

    def forget(self, address: str) -> bool:
        self._before_write()
        with self.db:
            self.db.execute("BEGIN")
            cur = self.db.execute("DELETE FROM resources WHERE address = ?", (address,))
            if cur.rowcount > 0:
                self._set_meta("retired", json.dumps(with_retired(self.retired, address)))
        return cur.rowcount > 0

    # -- the apply journal ---------------------------------------------------------------------------
    @property
    def journal(self) -> dict[str, dict[str, Any]]:
        """An apply's intents not yet cleared (see reconciler.state.records.unsettled)."""
        raw = self._meta("journal")
        return dict(json.loads(raw)) if raw else {}

    def journal_begin(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        """Record what this apply is about to change, durably, before it changes anything; the intents of an
        earlier run that never settled are kept."""
        if not entries:
            return
        self._before_write()
        merged = {**entries, **unsettled(self.journal, self.records())}
        self._set_meta("journal", json.dumps(merged, sort_keys=True))

    def journal_end(self, keep: Iterable[str] = ()) -> None:
        """The apply is over: only the intents of `keep` (failed changes, whose objects may exist) stay."""
        now = self.journal
        left = {a: e for a, e in now.items() if a in set(keep)}
        if left != now:
            self._set_meta("journal", json.dumps(left, sort_keys=True))

    @property
    def carried(self) -> Carried:
        """Handlers and rollouts an earlier apply left unfinished."""
        raw = self._meta("carried")
        return Carried.from_json(json.loads(raw)) if raw else Carried()

    def set_carried(self, carried: Carried) -> None:
        if carried != self.carried:
            self._before_write()
            self._set_meta("carried", json.dumps(carried.to_json(), sort_keys=True))

    @property
    def retired(self) -> tuple[str, ...]:
        """Addresses that left the state (moved, pruned, forgotten), newest last."""
        raw = self._meta("retired")
        return tuple(json.loads(raw)) if raw else ()

    def move(self, source: str, destination: str) -> bool:
        """The record of `source` becomes `destination`'s (the object itself is not touched)."""
        record = self.get(source)
        if record is None:
            return False
        name = destination.split("[", 1)[0].split(".")[-1]
        self.put(StateRecord(**{**record.__dict__, "address": destination, "name": name, "updated_at": now_text()}))
        self.forget(source)
        return True

    # -- the whole state as a document (state pull / push / migrate) --------------------------
    def document(self) -> StateDocument:
        return StateDocument(self.lineage, self.serial, self.stack, self.records(), self.outputs, self.retired,
                             self.journal, self.carried.to_json())

    def replace_with(self, document: StateDocument) -> None:
        """Make this state a copy of `document` (lineage and serial included)."""
        self._before_write()
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM resources")
        for record in document.resources.values():
            self.put(record)
        self._set_meta("lineage", document.lineage)
        self._set_meta("serial", str(document.serial))
        if document.stack:
            self._set_meta("stack", json.dumps({"name": document.stack.name,
                                                "workspace": document.stack.workspace}))
        self._set_meta("outputs", json.dumps(dict(document.outputs), sort_keys=True, default=str))
        self._set_meta("retired", json.dumps(list(document.retired)))
        self._set_meta("journal", json.dumps(dict(document.journal), sort_keys=True))
        self._set_meta("carried", json.dumps(dict(document.carried), sort_keys=True))

    # -- backups -------------------------------------------------------------------------------
    @property
    def backup_dir(self) -> Path:
        return self.path.parent / "backups" / self.path.stem

    def _before_write(self) -> None:
        """Refuses a write to a state opened read-only (it holds no lock); the first write of this process
        copies the database aside (kept: the last KEEP_BACKUPS)."""
        self._refuse_read_only()
        if self._backed_up or self.is_new or not self.writable:
            self._backed_up = True
            return
        self._backed_up = True
        if not self.records() and self.serial == 0:
            return
        try:
            self.backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-serial{self.serial}.db"
            self._write_backup(self.backup_dir / name)
            for old in sorted(self.backup_dir.glob("*.db"))[:-local_backups.KEEP_BACKUPS]:
                old.unlink()
        except (OSError, sqlite3.Error) as exc:
            log.warning("could not back up the state before writing it: %s", exc)

    def _write_backup(self, target: Path) -> None:
        write_plain(self.db, target)

    @staticmethod
    def versions_of(path: str | Path) -> list[StateVersion]:
        return local_backups.versions_of(path)

    @classmethod
    def restore(cls, path: str | Path, version: str) -> StateVersion:
        return local_backups.restore(path, version)

    # -- history -------------------------------------------------------------------------------
    def _refuse_read_only(self) -> None:
        if not self.writable and not self.is_new:  # a missing state read-only is an empty one in memory
            raise StateError(f"the state {self.location} was opened read-only")

    def start_run(self, kind: str, spec: str) -> int:
        self._refuse_read_only()
        return run_history.start(self.db, kind, spec)

    def finish_run(self, run_id: int, status: str, summary: Mapping[str, Any]) -> None:
        self._refuse_read_only()
        run_history.finish(self.db, run_id, status, summary)

    def mark_interrupted(self) -> int:
        """Runs still `running` whose process is gone (killed, power lost) become `interrupted`."""
        return run_history.mark_interrupted(self.db)

    def runs(self, kind: str | None = None, limit: int = 50) -> list[RunRecord]:
        return run_history.runs(self.db, kind, limit)


def _record(row: tuple[Any, ...]) -> StateRecord:
    return StateRecord(
        address=row[0], type=row[1], name=row[2], target=row[3], host=row[4],
        identity=json.loads(row[5]), attributes=json.loads(row[6]), observed=json.loads(row[7]),
        depends_on=tuple(json.loads(row[8])), prevent_destroy=bool(row[9]), updated_at=row[10],
        origin=row[11] or CREATED,
    )
