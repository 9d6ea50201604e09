"""The small interface server modules speak to: run a command, and filesystem operations.

A target provides two primitives: `run` (an argv, never a shell string) and `fs` (a batch of the
operations in fsops.py). Everything else is built on them here, so the local machine and an SSH host
behave the same, down to the error messages.
"""

from __future__ import annotations

import logging
import shlex
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.errors import ModuleError

FsOp = tuple[str, Mapping[str, Any], bytes | None]  # operation, its arguments, the bytes it carries

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    rc: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def check(self) -> CommandResult:
        if self.rc != 0:
            err = self.stderr.decode(errors="replace").strip() or self.stdout.decode(errors="replace").strip()
            raise ModuleError(f"`{shlex.join(self.argv)}` exited {self.rc}: {err[-2000:]}")
        return self


@dataclass(frozen=True)
class PathStat:
    kind: str  # file | directory | link | other
    mode: str  # "0644"
    owner: str  # user name, or the uid as text when it has no name
    group: str
    uid: int
    gid: int
    size: int
    mtime: float
    sha256: str | None = None  # regular files, when hashing was asked for
    link_target: str | None = None  # symlinks


_PLAIN = {
    "ENOSPC": "no space left on device", "EACCES": "permission denied", "EPERM": "operation not permitted",
    "EROFS": "read-only file system", "ENOTDIR": "a parent is not a directory", "EISDIR": "is a directory",
    "ENOENT": "no such file or directory", "ENOTEMPTY": "directory not empty", "EDQUOT": "disk quota exceeded",
}


def fs_error(target: str, error: Mapping[str, Any]) -> ModuleError:
    """One line: what failed, where (host:path), in words."""
    kind, path = str(error.get("kind", "")), str(error.get("path") or "")
    where = f"{target}:{path}" if path else target
    if kind in _PLAIN:
        return ModuleError(f"{_PLAIN[kind]} on {where}")
    return ModuleError(f"{error.get('message', kind)} (on {target})")


class KeyedLocks:
    """One lock per key, made on first use: what a target hands to modules that read, modify and write a
    shared thing (a file edited by several resources, a user's crontab), so concurrent changes on one
    target never lose each other's edits. Thread-safe."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


class Target:
    """A machine that server modules act on."""

    name: str = "local"

    def __init__(self) -> None:
        self._keyed = KeyedLocks()

    def lock(self, key: str) -> threading.Lock:
        """The lock of `key` on this target (e.g. "file:/etc/hosts"), for read-modify-write edits."""
        return self._keyed.lock(key)

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None,
        env: Mapping[str, str] | None = None, cwd: str | None = None, idempotent: bool = False,
        shown: str | None = None,
    ) -> CommandResult:
        """Run `argv` (never through a shell unless argv says so). `idempotent`: a read that may be retried
        on a new connection if the old one dropped; `shown`: how to name the command in messages."""
        raise NotImplementedError

    def fs(self, ops: Sequence[FsOp]) -> list[dict[str, Any]]:
        """Run fsops operations, in order, in one go; each result is {"ok": value} or {"error": {...}}."""
        raise NotImplementedError

    def _one(self, op: str, data: bytes | None = None, **args: Any) -> Any:
        (result,) = self.fs([(op, args, data)])
        if "error" in result:
            raise fs_error(self.name, result["error"])
        return result["ok"]

    # -- reading --------------------------------------------------------------------------------
    def stat_many(self, paths: Iterable[str], *, hash_files: bool = True) -> dict[str, PathStat | None]:
        wanted = list(dict.fromkeys(paths))
        if not wanted:
            return {}
        raw = self._one("stat", paths=wanted, hash_files=hash_files, read=False)
        return {p: to_stat(self.name, p, raw.get(p)) for p in wanted}

    def read_many(self, paths: Iterable[str], *, follow: bool = False) -> dict[str, bytes | None]:
        """The content of each regular file (None when missing or not a regular file), in one round trip.
        With `follow`, symlinks are read through."""
        wanted = list(dict.fromkeys(paths))
        if not wanted:
            return {}
        raw = self._one("stat", paths=wanted, hash_files=False, read=True, follow=follow)
        return contents_of(self.name, wanted, raw)

    def read_file(self, path: str) -> bytes:
        found = self.read_many([path]).get(path)
        if found is None:
            raise ModuleError(f"{self.name}:{path} is not a regular file")
        return found

    def tree_mismatches(self, path: str, *, mode: str | None, owner: str | None, group: str | None) -> bool:
        """Whether anything below `path` differs from the recursive owner/group (and directory mode)."""
        return bool(self._one("tree_mismatches", path=path, mode=mode, owner=owner, group=group))

    def list_tree(self, path: str, limit: int = 1000) -> list[str]:
        return list(self._one("list_tree", path=path, limit=limit))

    # -- changing -------------------------------------------------------------------------------
    def write_file(self, path: str, data: bytes, *, mode: str | None = None, owner: str | None = None,
                   group: str | None = None, follow: bool = False) -> None:
        """Atomically, through a temporary file in the same directory; keeps the existing file's owner,
        group and mode unless given; a new file without `mode` gets 0666 minus the umask. With `follow`, a
        symlink at `path` stays and the file it points to is written."""
        self._one("write", data, path=path, mode=mode, owner=owner, group=group, follow=follow)

    def make_directory(self, path: str, *, mode: str | None = None) -> None:
        self._one("make_directory", path=path, mode=mode)

    def set_attributes(self, path: str, *, mode: str | None = None, owner: str | None = None,
                       group: str | None = None, recursive: bool = False) -> None:
        """chmod/chown a path without following symlinks; with `recursive`, owner and group apply to
        everything below and the mode to directories."""
        if mode or owner or group:
            self._one("chattr", path=path, mode=mode, owner=owner, group=group, recursive=recursive)

    def remove(self, path: str, *, recursive: bool = False, expect_sha256: str | None = None) -> bool:
        """Remove `path` (a symlink itself, never what it points to). With `expect_sha256`, a file is removed
        only while it holds that content (what reconcile wrote): otherwise it is left, and False returned."""
        (result,) = self.fs([("remove", {"path": path, "recursive": recursive, "expect_sha256": expect_sha256},
                              None)])
        if "error" in result:
            if result["error"].get("kind") == "ECHANGED":
                log.warning("%s:%s", self.name, result["error"].get("message"))
                return False
            raise fs_error(self.name, result["error"])
        return True

    def make_symlink(self, path: str, points_to: str) -> None:
        """Create or atomically replace a symlink."""
        self._one("make_symlink", path=path, points_to=points_to)

    def close(self) -> None:
        pass


def to_stat(target: str, path: str, raw: Mapping[str, Any] | None) -> PathStat | None:
    if raw is None:
        return None
    if "error" in raw:
        code = str(raw["error"]).split(":", 1)[0]
        if code in _PLAIN:
            raise ModuleError(f"cannot stat {target}:{path}: {_PLAIN[code]}")
        raise ModuleError(f"cannot stat {target}:{path}: {raw['error']}")
    return PathStat(kind=raw["kind"], mode=raw["mode"], owner=raw["owner"], group=raw["group"], uid=raw["uid"],
                    gid=raw["gid"], size=raw["size"], mtime=raw["mtime"], sha256=raw.get("sha256"),
                    link_target=raw.get("link_target"))


def contents_of(target: str, paths: Sequence[str], raw: Mapping[str, Any]) -> dict[str, bytes | None]:
    """What a reading `stat` answered for `paths`: each regular file's bytes, None when it is missing."""
    out: dict[str, bytes | None] = {}
    for p in paths:
        entry = raw.get(p)
        if entry and "error" in entry:
            raise ModuleError(f"cannot read {target}:{p}: {entry['error']}")
        out[p] = entry["content"].encode("latin-1") if entry and "content" in entry else None
    return out
