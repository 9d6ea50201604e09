"""An archive checked by reconcile itself, then unpacked as fsops operations: tar never sees it.

Refused before anything is sent: members with absolute paths or `..`, links (symbolic or hard) that lead
outside the directory, devices and FIFOs. Unpacked without following any link below the directory (a member
is never written through a symlink an earlier archive or a user left there), every file owned by the user
reconcile runs as, with setuid, setgid and sticky bits dropped unless kept on purpose."""

from __future__ import annotations

import io
import posixpath
import tarfile

from reconciler.errors import ModuleError
from reconciler.targets.base import FsOp

SPECIAL_BITS = 0o7000


def member_path(name: str, archive: str) -> str:
    """The member's path below the directory, normalised; refused when it would leave it."""
    if name.startswith("/"):
        raise ModuleError(f"{archive}: member {name!r} has an absolute path; refused (nothing was unpacked)")
    clean = posixpath.normpath(name)  # "./a" -> "a", "a/../../x" -> "../x"
    if clean == ".." or clean.startswith("../"):
        raise ModuleError(f"{archive}: member {name!r} leads out of the directory; refused (nothing was unpacked)")
    return clean


def _inside(link_from: str, target: str) -> bool:
    if target.startswith("/"):
        return False
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link_from), target))
    return not (resolved == ".." or resolved.startswith("../"))


def unpack_ops(data: bytes, archive: str, dest: str, keep_special_modes: bool = False) -> list[FsOp]:
    """The operations that unpack `data` (a tar, compressed or not) into `dest`; ModuleError when a member is
    refused (then nothing at all is sent)."""
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ModuleError(f"{archive} is not a readable tar archive: {exc}") from None
    dest = dest.rstrip("/")
    mask = 0o7777 if keep_special_modes else 0o777
    ops: list[FsOp] = []
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ModuleError(f"{archive} is damaged: {exc}") from None
        for m in members:
            rel = member_path(m.name, archive)
            if rel == ".":
                continue
            path = f"{dest}/{rel}"
            if m.isdir():
                ops.append(("make_directory", {"path": path, "mode": format(m.mode & mask, "04o"), "confine": dest},
                            None))
            elif m.issym():
                if not _inside(rel, m.linkname):
                    raise ModuleError(f"{archive}: member {m.name!r} is a link to {m.linkname!r}, outside the "
                                      "directory; refused (nothing was unpacked)")
                ops.append(("make_symlink", {"path": path, "points_to": m.linkname, "confine": dest}, None))
            elif m.isreg() or m.islnk():
                if m.islnk() and not _inside("", member_path(m.linkname, archive)):
                    raise ModuleError(f"{archive}: member {m.name!r} is a hard link out of the directory; refused")
                source = tar.extractfile(m)
                content = source.read() if source is not None else b""
                ops.append(("write", {"path": path, "mode": format(m.mode & mask, "04o"), "confine": dest},
                            content))
            else:
                raise ModuleError(f"{archive}: member {m.name!r} is a device or FIFO; refused (nothing was unpacked)")
    return ops
