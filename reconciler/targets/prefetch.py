"""One round trip per host: the reads every module's observation needs, gathered in one batch.

Each server module says which reads its observation makes (`Module.reads`: stats, file contents,
read-only commands). The engine gathers the reads of all types on a host in one `fs` call (one SSH
round trip: the fsops helper stats, reads and runs the queries on the host), then gives each module a
PrefetchedTarget: its `stat_many`, `read_many` and `run` are answered from the batch, so module code
stays as it is. A read the batch does not hold (a check that depends on an earlier answer, such as a
command's `unless`) goes to the target itself, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.targets.base import CommandResult, FsOp, PathStat, contents_of, to_stat


@dataclass(frozen=True)
class StatRead:
    paths: tuple[str, ...]
    hash_files: bool = True


@dataclass(frozen=True)
class ContentRead:
    paths: tuple[str, ...]
    follow: bool = False


@dataclass(frozen=True)
class CommandRead:
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None


Read = StatRead | ContentRead | CommandRead
QUERY_TIMEOUT = 600.0


@dataclass
class Answers:
    stats: dict[str, tuple[bool, Any]] = field(default_factory=dict)  # path -> (hashed?, raw stat or None)
    contents: dict[tuple[str, bool], Any] = field(default_factory=dict)  # (path, follow) -> raw reading stat
    commands: dict[CommandRead, Mapping[str, Any]] = field(default_factory=dict)  # -> {rc, stdout, stderr}


def command_read(argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None) -> CommandRead:
    return CommandRead(tuple(argv), tuple(sorted((env or {}).items())), cwd)


def gather(target: Any, reads: Iterable[Read]) -> Answers:
    """All `reads` in one `fs` call on `target`; a part that failed is left out (read again on demand)."""
    hashed: dict[str, None] = {}
    plain: dict[str, None] = {}
    contents: dict[bool, dict[str, None]] = {}
    commands: dict[CommandRead, None] = {}
    for read in reads:
        if isinstance(read, StatRead):
            (hashed if read.hash_files else plain).update(dict.fromkeys(read.paths))
        elif isinstance(read, ContentRead):
            contents.setdefault(read.follow, {}).update(dict.fromkeys(read.paths))
        else:
            commands[read] = None
    plain = {p: None for p in plain if p not in hashed}
    ops: list[FsOp] = []
    kinds: list[tuple[str, Any]] = []
    for paths, hashing in ((hashed, True), (plain, False)):
        if paths:
            ops.append(("stat", {"paths": list(paths), "hash_files": hashing, "read": False}, None))
            kinds.append(("stat", hashing))
    for follow, paths in contents.items():
        ops.append(("stat", {"paths": list(paths), "hash_files": False, "read": True, "follow": follow}, None))
        kinds.append(("read", follow))
    for command in commands:
        ops.append(("query", {"argv": list(command.argv), "env": dict(command.env), "cwd": command.cwd,
                              "timeout": QUERY_TIMEOUT}, None))
        kinds.append(("query", command))
    answers = Answers()
    if not ops:
        return answers
    for (kind, key), result in zip(kinds, target.fs(ops), strict=True):
        if "ok" not in result:
            continue
        if kind == "stat":
            answers.stats.update({p: (key, raw) for p, raw in result["ok"].items()})
        elif kind == "read":
            answers.contents.update({(p, key): raw for p, raw in result["ok"].items()})
        else:
            answers.commands[key] = result["ok"]
    return answers


class PrefetchedTarget:
    """A server target whose observation reads come from a gathered batch (see the module docstring);
    everything else is the target's own."""

    def __init__(self, target: Any, answers: Answers):
        self._target = target
        self._answers = answers

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def stat_many(self, paths: Iterable[str], *, hash_files: bool = True) -> dict[str, PathStat | None]:
        wanted = list(dict.fromkeys(paths))
        stats = self._answers.stats
        if not all(p in stats and (stats[p][0] or not hash_files) for p in wanted):
            return dict(self._target.stat_many(wanted, hash_files=hash_files))
        return {p: to_stat(self._target.name, p, stats[p][1]) for p in wanted}

    def read_many(self, paths: Iterable[str], *, follow: bool = False) -> dict[str, bytes | None]:
        wanted = list(dict.fromkeys(paths))
        known = self._answers.contents
        if not all((p, follow) in known for p in wanted):
            return dict(self._target.read_many(wanted, follow=follow))
        return contents_of(self._target.name, wanted, {p: known[(p, follow)] for p in wanted})

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None,
            env: Mapping[str, str] | None = None, cwd: str | None = None, idempotent: bool = False,
            shown: str | None = None) -> CommandResult:
        found = self._answers.commands.get(command_read(argv, env, cwd)) if stdin is None else None
        if found is None:
            ran: CommandResult = self._target.run(argv, stdin=stdin, timeout=timeout, env=env, cwd=cwd,
                                                  idempotent=idempotent, shown=shown)
            return ran
        return CommandResult(tuple(argv) if shown is None else (shown,), int(found["rc"]),
                             str(found["stdout"]).encode("latin-1"), str(found["stderr"]).encode("latin-1"))
