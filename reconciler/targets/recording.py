"""A host's changes written down instead of done, so that a wave of them travels in one exchange.

The applier runs each ready change's `apply` against a RecordingTarget. Its writes, mode and owner
changes, links, removals and changing commands become fsops operations, tagged with the change's group;
its reads are answered from reads gathered beforehand in one batch (see prefetch.py), or from what an
earlier change of the same batch wrote. A read that cannot be answered that way raises NeedsRead, and
that change is carried out on its own instead. So is a read made after the change ran a command (the
command may have changed what it reads: useradd, then the new user's home).

Only types that declare the Deferrable capability are written down: their apply reads before it
writes, through stat_many, read_many or an idempotent run, and never looks at a changing command's output.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.targets.base import CommandResult, FsOp, PathStat, Target, contents_of, to_stat
from reconciler.targets.prefetch import Answers, CommandRead, ContentRead, Read, StatRead, command_read

_ABSENT = object()
WRITES = frozenset({"write", "make_directory", "chattr", "make_symlink", "remove"})


class NeedsRead(Exception):
    """A read the batch cannot answer; `read` is what to gather first (None: it cannot be gathered)."""

    def __init__(self, read: Read | None):
        super().__init__("a read the batch cannot answer")
        self.read = read


@dataclass
class Written:
    """What the batch's changes wrote so far: path -> (follow, bytes) for whole-file writes, and which
    paths anything else touched (a later read of those cannot be answered)."""

    contents: dict[str, tuple[bool, bytes]] = field(default_factory=dict)
    touched: dict[str, int] = field(default_factory=dict)  # path -> the group that touched it last
    owners: dict[str, int] = field(default_factory=dict)  # path -> the group whose write is in `contents`


class RecordingTarget(Target):
    """One change's view of its host while the batch is written down (see the module docstring)."""

    def __init__(self, real: Target, answers: Answers, written: Written, group: int):
        super().__init__()
        self.name = real.name
        self._answers, self._written, self.group = answers, written, group
        self.ops: list[FsOp] = []
        self.lock_keys: list[str] = []
        self.joined: set[int] = set()  # earlier groups whose writes this change read (it goes with them)
        self._ran_command = False
        self._undo: list[tuple[dict[str, Any], str, Any]] = []  # (mapping, key, value before) to roll back

    def _set(self, mapping: dict[str, Any], key: str, value: Any) -> None:
        self._undo.append((mapping, key, mapping.get(key, _ABSENT)))
        if value is _ABSENT:
            mapping.pop(key, None)
        else:
            mapping[key] = value

    def undo(self) -> None:
        """Forget what this change wrote (it will be carried out on its own)."""
        for mapping, key, before in reversed(self._undo):
            if before is _ABSENT:
                mapping.pop(key, None)
            else:
                mapping[key] = before
        self._undo.clear()

    def lock(self, key: str) -> threading.Lock:
        """Locks are taken for real around the whole batch (see write_batch.py); here they are noted."""
        self.lock_keys.append(key)
        return threading.Lock()

    # -- reading --------------------------------------------------------------------------------
    def _guard(self, paths: Iterable[str]) -> None:
        if self._ran_command or any(p in self._written.touched and p not in self._written.contents for p in paths):
            raise NeedsRead(None)

    def stat_many(self, paths: Iterable[str], *, hash_files: bool = True) -> dict[str, PathStat | None]:
        wanted = list(dict.fromkeys(paths))
        if any(p in self._written.touched for p in wanted):
            raise NeedsRead(None)
        self._guard(wanted)
        stats = self._answers.stats
        if not all(p in stats and (stats[p][0] or not hash_files) for p in wanted):
            raise NeedsRead(StatRead(tuple(wanted), hash_files))
        return {p: to_stat(self.name, p, stats[p][1]) for p in wanted}

    def read_many(self, paths: Iterable[str], *, follow: bool = False) -> dict[str, bytes | None]:
        wanted = list(dict.fromkeys(paths))
        self._guard(wanted)
        out: dict[str, bytes | None] = {}
        missing = []
        for p in wanted:
            earlier = self._written.contents.get(p)
            if earlier is not None and earlier[0] == follow:
                out[p] = earlier[1]
                self.joined.add(self._written.owners[p])
            elif earlier is not None or (p, follow) not in self._answers.contents:
                missing.append(p)
        if missing:
            raise NeedsRead(ContentRead(tuple(missing), follow))
        rest = [p for p in wanted if p not in out]
        out.update(contents_of(self.name, rest, {p: self._answers.contents[(p, follow)] for p in rest}))
        return out

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None,
            env: Mapping[str, str] | None = None, cwd: str | None = None, idempotent: bool = False,
            shown: str | None = None) -> CommandResult:
        shown_argv = tuple(argv) if shown is None else (shown,)
        if idempotent and stdin is None:  # a read
            if self._ran_command:
                raise NeedsRead(None)
            read: CommandRead = command_read(argv, env, cwd)
            found = self._answers.commands.get(read)
            if found is None:
                raise NeedsRead(read)
            return CommandResult(shown_argv, int(found["rc"]), str(found["stdout"]).encode("latin-1"),
                                 str(found["stderr"]).encode("latin-1"))
        self._ran_command = True
        self.ops.append(("command", {"argv": list(argv), "env": dict(env) if env else None, "cwd": cwd,
                                     "timeout": timeout, "batch_group": self.group}, stdin))
        return CommandResult(shown_argv, 0, b"", b"")

    # -- the two primitives ---------------------------------------------------------------------
    def fs(self, ops: Sequence[FsOp]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for op, args, data in ops:
            if op not in WRITES:
                raise NeedsRead(None)  # a tree walk, or a stat outside stat_many
            path = str(args.get("path", ""))
            self.ops.append((op, {**args, "batch_group": self.group}, data))
            self._set(self._written.touched, path, self.group)
            if op == "write":
                self._set(self._written.contents, path, (bool(args.get("follow")), data or b""))
                self._set(self._written.owners, path, self.group)
            else:
                self._set(self._written.contents, path, _ABSENT)
            out.append({"ok": True if op == "remove" else None})
        return out
