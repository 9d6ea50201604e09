"""The machine reconcile runs on: every operation is a native call, no subprocess unless a command is asked for."""

from __future__ import annotations

import errno
import grp
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence

from reconciler.errors import ModuleError
from reconciler.targets.base import CommandResult, PathStat, Target

KINDS = {stat.S_IFREG: "file", stat.S_IFDIR: "directory", stat.S_IFLNK: "link"}


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LocalTarget(Target):
    def __init__(self) -> None:
        self.name = "local"
        self._users: dict[int, str] = {}
        self._groups: dict[int, str] = {}

    def _user(self, uid: int) -> str:
        if uid not in self._users:
            try:
                self._users[uid] = pwd.getpwuid(uid).pw_name
            except KeyError:
                self._users[uid] = str(uid)
        return self._users[uid]

    def _group(self, gid: int) -> str:
        if gid not in self._groups:
            try:
                self._groups[gid] = grp.getgrgid(gid).gr_name
            except KeyError:
                self._groups[gid] = str(gid)
        return self._groups[gid]

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None,
        env: Mapping[str, str] | None = None, cwd: str | None = None,
    ) -> CommandResult:
        full_env = None if env is None else {**os.environ, **env}
        try:
            proc = subprocess.run(
                list(argv), input=stdin if stdin is not None else b"", capture_output=True,
                timeout=timeout, env=full_env, cwd=cwd,
            )
        except subprocess.TimeoutExpired as exc:
            raise ModuleError(f"`{' '.join(argv)}` timed out after {timeout}s", retryable=True) from exc
        except OSError as exc:
            raise ModuleError(f"cannot run {argv[0]!r}: {exc}") from exc
        return CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)

    def stat_many(self, paths: Iterable[str], *, hash_files: bool = True) -> dict[str, PathStat | None]:
        out: dict[str, PathStat | None] = {}
        for path in paths:
            try:
                st = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                out[path] = None
                continue
            kind = KINDS.get(stat.S_IFMT(st.st_mode), "other")
            out[path] = PathStat(
                kind=kind,
                mode=format(stat.S_IMODE(st.st_mode), "04o"),
                owner=self._user(st.st_uid),
                group=self._group(st.st_gid),
                uid=st.st_uid,
                gid=st.st_gid,
                size=st.st_size,
                mtime=st.st_mtime,
                sha256=sha256_file(path) if hash_files and kind == "file" else None,
                link_target=os.readlink(path) if kind == "link" else None,
            )
        return out

    def read_file(self, path: str) -> bytes:
        with open(path, "rb") as fh:
            return fh.read()

    def read_many(self, paths: Iterable[str]) -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {}
        for path in paths:
            try:
                out[path] = self.read_file(path) if os.path.isfile(path) else None
            except FileNotFoundError:
                out[path] = None
        return out

    def write_file(
        self, path: str, data: bytes, *, mode: str | None = None,
        owner: str | None = None, group: str | None = None,
    ) -> None:
        directory = os.path.dirname(path) or "."
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".reconcile.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            if mode is None and os.path.exists(path):
                os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
            elif mode is None:
                os.chmod(tmp, 0o644)
            self._chattr(tmp, mode, owner, group)
            try:
                os.replace(tmp, path)
            except OSError as exc:  # a bind-mounted file can't be renamed over: write it in place
                if exc.errno not in (errno.EBUSY, errno.EXDEV):
                    raise
                with open(tmp, "rb") as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.unlink(tmp)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _chattr(self, path: str, mode: str | None, owner: str | None, group: str | None) -> None:
        if owner or group:
            uid = -1 if not owner else (int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid)
            gid = -1 if not group else (int(group) if group.isdigit() else grp.getgrnam(group).gr_gid)
            os.lchown(path, uid, gid)
        if mode:
            os.chmod(path, int(mode, 8))

    def make_directory(self, path: str, *, mode: str | None = None) -> None:
        os.makedirs(path, exist_ok=True)
        if mode:
            os.chmod(path, int(mode, 8))

    def set_attributes(
        self, path: str, *, mode: str | None = None, owner: str | None = None,
        group: str | None = None, recursive: bool = False,
    ) -> None:
        try:
            self._chattr(path, mode, owner, group)
            if recursive:
                for root, dirs, files in os.walk(path):
                    for d in dirs:
                        self._chattr(os.path.join(root, d), mode, owner, group)
                    for f in files:
                        self._chattr(os.path.join(root, f), None, owner, group)
        except KeyError as exc:
            raise ModuleError(f"no such user or group: {exc}") from exc

    def remove(self, path: str, *, recursive: bool = False) -> None:
        if os.path.isdir(path) and not os.path.islink(path):
            if recursive:
                shutil.rmtree(path)
            else:
                os.rmdir(path)
        elif os.path.lexists(path):
            os.unlink(path)

    def make_symlink(self, path: str, points_to: str) -> None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.reconcile-tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(points_to, tmp)
        os.replace(tmp, path)
