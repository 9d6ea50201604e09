"""A local state's backups: a copy taken before the first write of a run (the last KEEP_BACKUPS kept), the
versions a user can list, and putting one back. Works on a damaged state too: nothing is opened."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import StateDamaged, StateError
from reconciler.state.records import now_text
from reconciler.state.sealing import envelope, is_sealed

KEEP_BACKUPS = 10
RESTORE_HINT = "see `reconcile state versions`, then `reconcile state restore VERSION`"


@dataclass(frozen=True)
class StateVersion:
    """A restorable copy of the state (a local backup, or an object version of a remote backend)."""

    version: str
    serial: int | None
    saved_at: str
    size: int
    current: bool = False


def versions_of(path: str | Path) -> list[StateVersion]:
    """The current file and its backups, newest first; works on a damaged state too (nothing is opened)."""
    path = Path(path)
    backups = path.parent / "backups" / path.stem

    def stamp(p: Path) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(p.stat().st_mtime))

    out = []
    if path.exists():
        out.append(StateVersion("current", None, stamp(path), path.stat().st_size, current=True))
    for backup in sorted(backups.glob("*.db"), reverse=True) if backups.is_dir() else []:
        serial = backup.stem.rpartition("serial")[2]
        out.append(StateVersion(backup.stem, int(serial) if serial.isdigit() else None, stamp(backup),
                                backup.stat().st_size))
    return out

def restore(path: str | Path, version: str) -> StateVersion:
    """Put backup `version` back in place of the state at `path` (whatever its condition)."""
    path = Path(path)
    source = path.parent / "backups" / path.stem / f"{version}.db"
    if not source.is_file():
        raise StateError(f"no backup {version!r} of {path}; see `reconcile state versions`")
    try:
        if is_sealed(source.read_bytes()[:64]):
            envelope(source.read_bytes(), f"the backup {source}")  # opened with its key when next used
        else:
            check = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            check.execute("SELECT count(*) FROM resources").fetchone()
            check.close()
    except (sqlite3.DatabaseError, StateError) as exc:
        raise StateDamaged(f"the backup {source} is damaged too ({exc})") from None
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.restore")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
        out.write(src.read())
    os.replace(tmp, path)
    serial = version.rpartition("serial")[2]
    return StateVersion(version, int(serial) if serial.isdigit() else None, now_text(), path.stat().st_size)


def write_plain(db: sqlite3.Connection, path: Path) -> None:
    """The database as a plain SQLite file at `path` (0600), replacing what was there at once."""
    tmp = path.with_name(f".{path.name}.plain")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    copy = sqlite3.connect(tmp)
    try:
        with copy:
            db.backup(copy)
    finally:
        copy.close()
    os.replace(tmp, path)
