"""`copy`: a local file, or a directory tree, of the spec's repository put on the host.

`src` is relative to the spec file (confined to the spec's tree, like templates). Its files are listed
and hashed when the spec is loaded; the plan compares them with the host's (one stat batch, hashes
included, in the host's one round trip), and apply sends only the files that are missing or differ,
all in one batch. Each file keeps its local mode unless `mode:` is given. As Ansible's `copy` does, a
symlink in the tree is followed (it must stay in the spec's tree) and empty directories are made, with
their local mode and the given owner and group. Removing the resource removes the files it copied
(directories it made stay)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import Deferrable, ShowsText
from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module
from reconciler.targets.base import FsOp, Target, fs_error
from reconciler.targets.prefetch import Read, StatRead

from .paths import normal_mode

log = logging.getLogger(__name__)


def destination(resource: Resource, relative: str) -> str:
    dest = str(resource.get("dest"))
    return dest if not relative else dest.rstrip("/") + "/" + relative


def manifest(resource: Resource) -> dict[str, dict[str, Any]]:
    return dict(resource.get("manifest") or {})


def tree_digest(entries: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()


class CopyModule(Module[Target], ShowsText, Deferrable):
    type_name = "copy"
    not_compared = frozenset({"state", "src", "dest", "mode", "owner", "group", "manifest"})
    computed = frozenset({"files"})
    volatile = frozenset({"files"})

    def locate(self, resource: Resource) -> str | None:
        return f"path {resource.get('dest')}"

    def prepare(self, attributes: dict[str, Any], load: Any) -> dict[str, Any]:
        """The local files, hashed once at load time (what the plan compares and the state records)."""
        src = attributes.get("src")
        if not isinstance(src, str):
            return attributes
        files = load.local_tree(src)
        entries = {f.relative: {"sha256": f.sha256, "mode": f.mode, "size": f.size, "path": str(f.path),
                                **({"directory": True} if f.directory else {})} for f in files}
        return {**attributes, "manifest": entries}

    def path(self, resource: Resource) -> str | None:
        value = resource.get("dest")
        return value if isinstance(value, str) else None

    def _wanted(self, resource: Resource) -> dict[str, str]:
        """relative path -> "sha256:HEX mode[ owner:group]" as it must be on the host."""
        mode = normal_mode(resource.get("mode"))
        extra = f" {resource.get('owner') or '-'}:{resource.get('group') or '-'}" \
            if resource.get("owner") or resource.get("group") else ""
        return {rel: f"directory {e['mode']}{extra}" if e.get("directory") else
                f"sha256:{e['sha256']} {mode or e['mode']}{extra}" for rel, e in manifest(resource).items()}

    def desired(self, resource: Resource) -> dict[str, Any]:
        return {"content": tree_digest(self._wanted(resource))} if self.state_of(resource) == "present" else {}

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [StatRead(tuple(destination(r, rel) for r in resources for rel in manifest(r)), hash_files=True)]

    def _found(self, target: Target, r: Resource) -> dict[str, str | None]:
        paths = {rel: destination(r, rel) for rel in manifest(r)}
        stats = target.stat_many(paths.values(), hash_files=True)
        wants_owner = r.get("owner") or r.get("group")
        entries = manifest(r)
        out: dict[str, str | None] = {}
        for rel, path in paths.items():
            st = stats[path]
            kind = "directory" if entries[rel].get("directory") else "file"
            if st is None or st.kind != kind:
                out[rel] = None
                continue
            extra = ""
            if wants_owner:
                owner = (str(st.uid) if str(r.get("owner", "")).isdigit() else st.owner) if r.get("owner") else "-"
                group = (str(st.gid) if str(r.get("group", "")).isdigit() else st.group) if r.get("group") else "-"
                extra = f" {owner}:{group}"
            out[rel] = f"directory {st.mode}{extra}" if kind == "directory" else f"sha256:{st.sha256} {st.mode}{extra}"
        return out

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        result: dict[str, Observed | None] = {}
        for r in resources:
            found = self._found(target, r)
            if all(v is None for v in found.values()):
                result[r.address] = None
                continue
            wanted = self._wanted(r)
            differ = sorted(rel or r.get("dest") for rel in wanted if found.get(rel) != wanted[rel])
            result[r.address] = Observed({"content": tree_digest(found), "files": len(found), "differ": differ})
        return result


    def text_diffs(self, target: Target, changes: Sequence[Change], context: int = 3) -> Mapping[str, str]:
        """Which files a change sends (from the observation: nothing is read again)."""
        out = {}
        for change in changes:
            r = change.resource
            if r is None:
                continue
            differ = (change.observed.attributes.get("differ") if change.observed is not None
                      else sorted(rel or str(r.get("dest")) for rel in manifest(r)))
            if differ:
                shown = ", ".join(differ[:20]) + (f" and {len(differ) - 20} more" if len(differ) > 20 else "")
                out[change.address] = f"files to send ({len(differ)}): {shown}\n"
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        wanted, found = self._wanted(r), self._found(target, r)
        entries = manifest(r)
        ops: list[FsOp] = []
        for rel in sorted(wanted):
            if found.get(rel) == wanted[rel]:
                continue
            if entries[rel].get("directory"):
                ops.append(("make_directory", {"path": destination(r, rel), "mode": entries[rel]["mode"],
                                               "owner": r.get("owner"), "group": r.get("group")}, None))
                continue
            try:
                with open(entries[rel]["path"], "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                raise ModuleError(f"cannot read {entries[rel]['path']}: {exc.strerror or exc}") from None
            if hashlib.sha256(data).hexdigest() != entries[rel]["sha256"]:
                raise ModuleError(f"{entries[rel]['path']} changed since the plan was made; plan again")
            mode = normal_mode(r.get("mode")) or entries[rel]["mode"]
            ops.append(("write", {"path": destination(r, rel), "mode": mode, "owner": r.get("owner"),
                                  "group": r.get("group")}, data))
        for result in target.fs(ops) if ops else []:  # every changed file in one batch
            if "error" in result:
                raise fs_error(target.name, result["error"])
        return Observed({"content": tree_digest(wanted), "files": len(wanted), "differ": []})

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        """Each file it sent goes, and only while it holds what was sent (by digest); a file changed since, or a
        path that is now a link or a directory, is left and named in a warning. No link is followed."""
        entries = manifest(resource)
        ops: list[FsOp] = [("remove", {"path": destination(resource, rel), "expect_sha256": entries[rel]["sha256"]},
                            None) for rel in sorted(entries) if not entries[rel].get("directory")]
        for result in target.fs(ops) if ops else []:
            if "error" in result and result["error"].get("kind") == "ECHANGED":
                log.warning("%s:%s", target.name, result["error"].get("message"))
            elif "error" in result:
                raise fs_error(target.name, result["error"])
