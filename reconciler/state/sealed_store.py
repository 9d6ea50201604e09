"""The local state, encrypted at rest (`state.encryption`): the same SQLite database as SqliteStateStore, held in
memory and sealed whole into the state file (see reconciler.state.sealing) after every write, so the run
history and the apply journal it holds are sealed with it, and so are its backups.

Every write is read-modify-write under an exclusive flock beside the file: a process that finds the file
sealed by another since it last read it (a drift job's history beside an apply) reloads it first, so no
write is lost. A state written before encryption was set is read as it is and sealed at once; an encrypted
state stays encrypted when the spec's block goes (only `reconcile state migrate … encryption=off` opens it
for good)."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.errors import StateDamaged, StateError
from reconciler.key_source import KMS, Sealing
from reconciler.state.local_backups import RESTORE_HINT, write_plain
from reconciler.state.sealing import envelope, is_sealed, salt_of, seal, source_of, unseal
from reconciler.state.store import SqliteStateStore

log = logging.getLogger(__name__)
PURPOSE = "state"
FLUSH_EVERY = 1.0  # seconds: an apply's records are sealed into the file at least this often
WRITES = ("set_stack", "set_outputs", "bump_serial", "put", "forget", "journal_begin", "journal_end", "set_carried",
          "move", "replace_with", "start_run", "finish_run", "mark_interrupted")


def sealed_on_disk(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return is_sealed(fh.read(64))
    except OSError:
        return False


class SealedStateStore(SqliteStateStore):
    """SqliteStateStore over a sealed file. `sealing` seals what is written (None: as the file was sealed);
    `reading` opens what was sealed under another passphrase variable (a rekey's old key)."""

    def __init__(self, path: str | Path, *, writable: bool = True, sealing: Sealing | None = None,
                 reading: Sealing | None = None):
        self.sealing = sealing
        self.reading = reading
        self._salt: bytes | None = None
        self._seen: bytes | None = None  # the digest of the file as this process last read or wrote it
        self._depth = 0
        self._was_plain = False
        self._dirty = False
        self._lock_fd: int | None = None
        self._sealed_at = 0.0
        super().__init__(path, writable=writable)
        if self.writable and (self.is_new or self._was_plain):
            if self.sealing is None:
                raise StateError(f"the state {self.path} has no key to be encrypted with; set `state.encryption`")
            with self._writing(force=True):
                pass
            if self._was_plain:
                self._seal_backups()
                log.info("the state %s was written before encryption: it is encrypted now", self.path)

    # -- reading and sealing the file ---------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self.path.is_dir():
            raise StateError(f"the state path {self.path} is a directory; give a file with --state")
        db = sqlite3.connect(":memory:", isolation_level=None)
        if self.is_new:
            return db
        try:
            body = self.path.read_bytes()
        except PermissionError:
            raise StateError(f"cannot read the state {self.path}: permission denied") from None
        if not body:
            raise StateDamaged(f"the state {self.path} is empty (0 bytes): reconcile never writes an empty state, so "
                               f"it was damaged; restore a backup: {RESTORE_HINT}")
        self._seen = hashlib.sha256(body).digest()
        if is_sealed(body):
            self._load(db, body)
        else:  # written before encryption: taken as it is, sealed when opened for writing
            source = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                source.backup(db)
            finally:
                source.close()
            self._was_plain = True
        return db

    def _load(self, db: sqlite3.Connection, body: bytes) -> None:
        image = unseal(body, f"the state {self.path}", PURPOSE, self._reader)
        if self.sealing is None:
            self.sealing = source_of(envelope(body, str(self.path)), self.reading)
        self._salt = salt_of(body)
        try:
            restore_image(db, image)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise StateDamaged(f"the state {self.path} decrypts to no database ({exc}); restore a backup: "
                               f"{RESTORE_HINT}") from None

    @property
    def _reader(self) -> Sealing | None:
        """What opens a sealed body: a rekey's old passphrase, or KMS where the spec reaches it now."""
        if self.reading is None and self.sealing is not None and self.sealing.method == KMS:
            return self.sealing
        return self.reading

    def _refresh(self) -> None:
        """Reload the file when another process sealed it since this one read or wrote it."""
        try:
            body = self.path.read_bytes()
        except FileNotFoundError:
            return
        if hashlib.sha256(body).digest() == self._seen:
            return
        if is_sealed(body):
            db = sqlite3.connect(":memory:", isolation_level=None)
            self._load(db, body)
            self.db.close()
            self.db = db
        self._seen = hashlib.sha256(body).digest()

    def _write_file(self, path: Path) -> None:
        """The database into `path`: sealed, or a plain SQLite file once encryption is turned off."""
        if self.sealing is None:
            write_plain(self.db, path)
            return
        body = seal(image_of(self.db), self.sealing, PURPOSE, salt=self._salt)
        self._salt = salt_of(body)
        write_private(path, body)
        if path == self.path:
            self._seen = hashlib.sha256(body).digest()

    @contextmanager
    def _writing(self, force: bool = False) -> Iterator[None]:
        """One write, on the newest file, under the write lock. The file is sealed at once when `force` (the
        journal before an apply changes anything, a rekey) or when FLUSH_EVERY has passed since the last seal;
        otherwise the lock is held and the seal waits for the next write or close(), so a burst of records
        (an apply's) is sealed a few times, not once per record."""
        if self._depth or not self.writable:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        if self._lock_fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock_fd = os.open(self.path.with_name(f".{self.path.name}.writes"), os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._refresh()  # nobody writes while this process holds the lock: only needed on taking it
        before = self.db.total_changes
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        self._dirty = self._dirty or self.db.total_changes != before or force
        if force or time.monotonic() - self._sealed_at >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Seal what this process wrote into the file, and let other writers in."""
        try:
            if self._dirty:
                self._write_file(self.path)
                for suffix in ("-wal", "-shm"):
                    Path(str(self.path) + suffix).unlink(missing_ok=True)
                self.is_new = False
                self._dirty = False
                self._sealed_at = time.monotonic()
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def close(self) -> None:
        try:
            self.flush()
        finally:
            super().close()

    # -- backups, sealed like the state ----------------------------------------------------------------
    def _write_backup(self, target: Path) -> None:
        self._write_file(target)

    def _seal_backups(self) -> None:
        """Backups taken before encryption was set (plain SQLite files) are sealed as well."""
        for backup in sorted(self.backup_dir.glob("*.db")) if self.backup_dir.is_dir() else []:
            if not sealed_on_disk(backup):
                self._reseal_backup(backup, self.sealing)

    def _reseal_backup(self, backup: Path, sealing: Sealing | None) -> None:
        db = sqlite3.connect(":memory:", isolation_level=None)
        try:
            body = backup.read_bytes()
            if is_sealed(body):
                restore_image(db, unseal(body, f"the backup {backup}", PURPOSE, self._reader))
            else:
                source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
                source.backup(db)
                source.close()
            if sealing is None:
                write_plain(db, backup)
            else:
                write_private(backup, seal(image_of(db), sealing, PURPOSE))
        except (OSError, sqlite3.Error, StateError, UnicodeDecodeError) as exc:
            log.warning("the backup %s was left as it was: %s", backup, exc)
        finally:
            db.close()

    # -- rekey ----------------------------------------------------------------------------------------
    def rekey(self, sealing: Sealing | None) -> None:
        """Seal the state and its backups under `sealing` (a new salt or data key), or write them plain (None)."""
        with self._writing(force=True):
            self.sealing = sealing
            self._salt = None
        for backup in sorted(self.backup_dir.glob("*.db")) if self.backup_dir.is_dir() else []:
            self._reseal_backup(backup, sealing)


def image_of(db: sqlite3.Connection) -> bytes:
    """The database as SQL text (what is sealed; Python 3.10's sqlite3 has no serialize)."""
    return "\n".join(db.iterdump()).encode()


def restore_image(db: sqlite3.Connection, image: bytes) -> None:
    db.executescript(image.decode())


def write_private(path: Path, body: bytes) -> None:
    """`body` into `path` (0600), whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.sealing")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


DURABLE = ("journal_begin", "journal_end", "replace_with", "finish_run")  # sealed before they return


def _sealed(method: Callable[..., Any]) -> Callable[..., Any]:
    force = method.__name__ in DURABLE

    @functools.wraps(method)
    def write(self: SealedStateStore, *args: Any, **kwargs: Any) -> Any:
        with self._writing(force=force):
            return method(self, *args, **kwargs)
    return write


for _name in WRITES:
    setattr(SealedStateStore, _name, _sealed(getattr(SqliteStateStore, _name)))
