"""Opening a local state's SQLite file: refusing what cannot be a state (a directory, an empty or unreadable
file) with the way out, and creating a new one with the right modes."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from reconciler.errors import StateDamaged, StateError
from reconciler.state.local_backups import RESTORE_HINT


def open_database(path: Path, writable: bool, is_new: bool) -> tuple[sqlite3.Connection, bool]:
    """The state's database (a missing state opened read-only is an empty one in memory), and whether the
    file is new. A writable one is created 0600 in a 0700 directory, with a write-ahead log."""
    if is_new and not writable:
        return sqlite3.connect(":memory:", isolation_level=None), is_new
    if path.is_dir():
        raise StateError(f"the state path {path} is a directory; give a file with --state")
    if not is_new:
        size = path.stat().st_size
        if size == 0:
            raise StateDamaged(
                f"the state {path} is empty (0 bytes): reconcile never writes an empty state, so it was "
                f"damaged (a full disk, a copy cut short); restore a backup: {RESTORE_HINT}")
        if not os.access(path, os.R_OK):
            raise StateError(f"cannot read the state {path}: permission denied")
    if writable:
        is_new = create_file(path, is_new)
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=30)
        db.execute("PRAGMA busy_timeout = 30000")
        if writable:
            db.execute("PRAGMA journal_mode = WAL")  # the WAL file takes the database's 0600 mode
            db.execute("PRAGMA synchronous = NORMAL")
        return db, is_new
    except sqlite3.OperationalError as exc:
        raise StateError(f"cannot open the state {path}: {exc}") from None


def create_file(path: Path, is_new: bool) -> bool:
    """The state file, 0600 (its directory 0700); whether it is new (another process may have made it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if is_new:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        elif not os.access(path, os.W_OK):
            raise StateError(f"cannot write the state {path}: permission denied")
        os.chmod(path, 0o600)
    except FileExistsError:
        return False
    except PermissionError as exc:
        raise StateError(f"cannot write the state {path}: permission denied ({exc.filename})") from None
    except OSError as exc:
        raise StateError(f"cannot create the state {path}: {exc.strerror}") from None
    return is_new
