"""The small interface server modules speak to: run a command, stat many paths, read and write files.

Every operation has a default built on `run` with each argument quoted by shlex, so a remote
target only has to provide `run` (and may override the rest with faster native calls).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from reconciler.errors import ModuleError


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


class Target:
    """A machine that server modules act on."""

    name: str = "local"

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None,
        env: Mapping[str, str] | None = None, cwd: str | None = None,
    ) -> CommandResult:
        raise NotImplementedError

    def stat_many(self, paths: Iterable[str], *, hash_files: bool = True) -> dict[str, PathStat | None]:
        raise NotImplementedError

    def read_file(self, path: str) -> bytes:
        return self.run(["cat", "--", path]).check().stdout

    def read_many(self, paths: Iterable[str]) -> dict[str, bytes | None]:
        """The content of each regular file (None when missing); remote targets do it in one round trip."""
        out: dict[str, bytes | None] = {}
        for path, st in self.stat_many(paths, hash_files=False).items():
            out[path] = self.read_file(path) if st is not None and st.kind == "file" else None
        return out

    def write_file(
        self, path: str, data: bytes, *, mode: str | None = None,
        owner: str | None = None, group: str | None = None,
    ) -> None:
        """Write atomically: a temporary file in the same directory, then rename over `path`."""
        script = (
            'set -e; d=$(dirname -- "$1"); mkdir -p -- "$d"; '
            't=$(mktemp "$d/.reconcile.XXXXXX"); trap \'rm -f -- "$t"\' EXIT; cat > "$t"; '
            '[ -z "$2" ] || chmod -- "$2" "$t"; [ -z "$3" ] || chown -- "$3" "$t"; '
            '[ -z "$4" ] || chgrp -- "$4" "$t"; '
            'mv -f -- "$t" "$1" 2>/dev/null || cat -- "$t" > "$1"; trap - EXIT'
        )
        self.run(["sh", "-c", script, "sh", path, mode or "", owner or "", group or ""], stdin=data).check()

    def make_directory(self, path: str, *, mode: str | None = None) -> None:
        argv = ["mkdir", "-p"] + (["-m", mode] if mode else []) + ["--", path]
        self.run(argv).check()

    def set_attributes(
        self, path: str, *, mode: str | None = None, owner: str | None = None,
        group: str | None = None, recursive: bool = False,
    ) -> None:
        """chmod/chown a path; with `recursive`, owner and group apply to everything below and mode to directories."""
        if owner or group:
            spec = (owner or "") + (":" + group if group else "")
            self.run(["chown", "-h"] + (["-R"] if recursive else []) + ["--", spec, path]).check()
        if mode:
            if recursive:
                self.run(["find", path, "-type", "d", "-exec", "chmod", mode, "{}", "+"]).check()
            else:
                self.run(["chmod", "--", mode, path]).check()

    def remove(self, path: str, *, recursive: bool = False) -> None:
        self.run(["rm", "-f"] + (["-r"] if recursive else []) + ["--", path]).check()

    def make_symlink(self, path: str, points_to: str) -> None:
        """Create or atomically replace a symlink."""
        script = 'set -e; mkdir -p -- "$(dirname -- "$2")"; t="$2.reconcile-tmp"; ln -sfn -- "$1" "$t"; mv -Tf -- "$t" "$2"'
        self.run(["sh", "-c", script, "sh", points_to, path]).check()

    def tree_mismatches(self, path: str, *, mode: str | None, owner: str | None, group: str | None) -> bool:
        """Whether anything below `path` differs from the recursive owner/group (and directory mode)."""
        tests: list[str] = []
        if owner:
            tests += ["-o", "!", "-user", owner]
        if group:
            tests += ["-o", "!", "-group", group]
        if mode:
            tests += ["-o", "-type", "d", "!", "-perm", mode.lstrip("0").rjust(3, "0")]
        if not tests:
            return False
        argv = ["find", path, "-mindepth", "1", "(", *tests[1:], ")", "-print", "-quit"]
        return bool(self.run(argv).check().stdout.strip())

    def close(self) -> None:
        pass
