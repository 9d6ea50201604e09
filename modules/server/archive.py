"""`archive`: a tar archive (from a URL, or a file beside the spec) unpacked into a directory.

A URL is downloaded by the controller and its `checksum` checked before anything is sent; a local file
is hashed and checked when the spec is loaded. Reconcile checks every member itself (see unpack.py) and
sends the files in one batch of filesystem operations: tar never runs on the host, no member leaves the
directory or is written through a link, and every file belongs to the user reconcile runs as, without
setuid, setgid or sticky bits unless `keep_special_modes: true`. It is done when `creates` exists, else
when the directory holds the marker the last unpack left (`.reconcile-archive-NAME`, the archive's
sha256): a new archive unpacks again. Removing the resource leaves the files (reconcile cannot know which
were the archive's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks
from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target, fs_error
from reconciler.targets.prefetch import ContentRead, Read, StatRead

from .download import fetch, verify
from .unpack import unpack_ops

COMPRESSION = ((".tar.gz", "-z"), (".tgz", "-z"), (".tar.xz", "-J"), (".txz", "-J"), (".tar.bz2", "-j"),
               (".tbz2", "-j"), (".tar", ""))


def compression(name: str) -> str:
    for suffix, flag in COMPRESSION:
        if name.lower().endswith(suffix):
            return flag
    raise ModuleError(f"{name}: not a tar archive (.tar, .tar.gz/.tgz, .tar.xz/.txz, .tar.bz2/.tbz2)")


def marker(resource: Resource) -> str:
    return f"{str(resource.get('dest')).rstrip('/')}/.reconcile-archive-{resource.name}"


def is_url(src: str) -> bool:
    return src.startswith(("http://", "https://"))


class ArchiveModule(Module[Target], AnsibleTasks):
    type_name = "archive"
    ansible_modules = ("unarchive",)
    prunable = False  # which files were the archive's is not known: removing the resource leaves them

    def locate(self, resource: Resource) -> str | None:
        return f"path {resource.get('dest')}"

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        taken = ansible_args(module, args, ("src", "dest", "creates", "remote_src", "checksum"))
        return {k: taken[k] for k in ("src", "dest", "creates", "checksum") if k in taken}

    not_compared = frozenset({"state", "src", "dest", "creates", "checksum", "local", "keep_special_modes"})

    def prepare(self, attributes: dict[str, Any], load: Any) -> dict[str, Any]:
        """A local archive is found (confined to the spec's tree) and hashed at load time."""
        src = attributes.get("src")
        if not isinstance(src, str) or is_url(src) or not any(src.lower().endswith(x) for x, _ in COMPRESSION):
            return attributes  # the schema says what is wrong with it
        (found,) = load.local_tree(src, limit=1)
        try:
            unpack_ops(found.path.read_bytes(), src, str(attributes.get("dest") or "/"),
                       bool(attributes.get("keep_special_modes")))
        except ModuleError as exc:
            raise load.fail(str(exc)) from None
        except OSError as exc:
            raise load.fail(f"cannot read {src}: {exc.strerror or exc}") from None
        return {**attributes, "local": {"path": str(found.path), "sha256": found.sha256}}

    def desired(self, resource: Resource) -> dict[str, Any]:
        return {"archive": self._expected(resource)}

    @staticmethod
    def _expected(resource: Resource) -> str:
        local = resource.get("local")
        if isinstance(local, dict):
            return f"sha256:{local['sha256']}"
        return str(resource.get("checksum") or f"from {resource.get('src')}")

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        creates = tuple(str(r.get("creates")) for r in resources if r.get("creates"))
        return [StatRead(creates, hash_files=False), ContentRead(tuple(marker(r) for r in resources))]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        creates = [str(r.get("creates")) for r in resources if r.get("creates")]
        stats = target.stat_many(creates, hash_files=False) if creates else {}
        marks = target.read_many([marker(r) for r in resources])
        out: dict[str, Observed | None] = {}
        for r in resources:
            if r.get("creates"):
                out[r.address] = Observed({"archive": self._expected(r)}) if stats.get(str(r.get("creates"))) else None
                continue
            mark = marks.get(marker(r))
            out[r.address] = Observed({"archive": mark.decode(errors="replace").strip()}) if mark else None
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        src, dest = str(r.get("src")), str(r.get("dest"))
        compression(src)
        local = r.get("local")
        if isinstance(local, dict):
            try:
                with open(local["path"], "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                raise ModuleError(f"cannot read {local['path']}: {exc.strerror or exc}") from None
            verify(data, f"sha256:{local['sha256']}", src)
        else:
            data = fetch(src)
            verify(data, r.get("checksum"), src)
        ops = [("make_directory", {"path": dest}, None),
               *unpack_ops(data, src, dest, bool(r.get("keep_special_modes")))]
        expected = self._expected(r)  # a URL without checksum is done once per URL
        if not r.get("creates"):
            ops.append(("write", {"path": marker(r), "mode": "0644", "confine": dest}, f"{expected}\n".encode()))
        for result in target.fs(ops):  # the whole archive in one round trip
            if "error" in result:
                raise fs_error(target.name, result["error"])
        return Observed({"archive": expected})

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        return None
