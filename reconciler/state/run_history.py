"""The run history a local state keeps (`reconcile history`): each plan, apply or drift run, who ran it and
where, how it ended, and runs whose process died marked interrupted."""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import socket
import sqlite3
from collections.abc import Mapping
from typing import Any

from reconciler.state.records import RunRecord, now_text


def run_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def start(db: sqlite3.Connection, kind: str, spec: str) -> int:
    """A run begins: its id in the history."""
    with db:
        db.execute("BEGIN")
        cur = db.execute(
            "INSERT INTO runs(kind, spec, started_at, status, user, host, summary, pid) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (kind, spec, now_text(), "running", run_user(), socket.gethostname(), "{}", os.getpid()),
        )
    return int(cur.lastrowid or 0)


def finish(db: sqlite3.Connection, run_id: int, status: str, summary: Mapping[str, Any]) -> None:
    with db:
        db.execute("BEGIN")
        db.execute("UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
                   (now_text(), status, json.dumps(summary, default=str), run_id))


def mark_interrupted(db: sqlite3.Connection) -> int:
    """Runs still `running` whose process is gone (killed, power lost) become `interrupted`."""
    here = socket.gethostname()
    rows = db.execute("SELECT id, host, pid FROM runs WHERE status = 'running'").fetchall()
    gone = [run_id for run_id, host, pid in rows if host == here and pid and not pid_alive(int(pid))]
    for run_id in gone:
        db.execute("UPDATE runs SET status = 'interrupted', finished_at = ? WHERE id = ?", (now_text(), run_id))
    return len(gone)


def runs(db: sqlite3.Connection, kind: str | None = None, limit: int = 50) -> list[RunRecord]:
    """The latest runs, newest first; one whose process is gone shows as interrupted."""
    query = "SELECT id, kind, spec, started_at, finished_at, status, user, host, summary, pid FROM runs"
    args: tuple[Any, ...] = ()
    if kind:
        query += " WHERE kind = ?"
        args = (kind,)
    query += " ORDER BY id DESC LIMIT ?"
    rows = db.execute(query, args + (limit,)).fetchall()
    here = socket.gethostname()
    out = []
    for row in rows:
        run = RunRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                        summary=json.loads(row[8]), pid=int(row[9] or 0))
        if run.status == "running" and run.host == here and run.pid and not pid_alive(run.pid):
            run = dataclasses.replace(run, status="interrupted")  # recorded so by the next writing run
        out.append(run)
    return out
