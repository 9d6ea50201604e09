"""`get_url`: a file downloaded from a URL to a path on the host. The controller downloads it (see
download.py) and checks `checksum` before sending it. With a checksum, a file that matches is never
downloaded again; without one, a file that exists is left as it is (Ansible's default). Mode, owner
and group are kept in line too. Observed in the host's one round trip (the file's hash).

As in Ansible, a `dest` that ends in `/` or is a directory on the host receives the file under the last
component of the URL's path (Ansible would prefer a Content-Disposition name, which only a download can
tell; reconcile names the file before downloading, so a plan needs no download)."""

from __future__ import annotations

import posixpath
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks
from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import Read, StatRead

from .ansible import OWNERSHIP_KEYS, ownership
from .download import digest, fetch, verify
from .paths import desired_ownership, observed_ownership


class GetUrlModule(Module[Target], AnsibleTasks):
    type_name = "get_url"
    ansible_modules = ("get_url",)

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        taken = ansible_args(module, args, ("url", "dest", "checksum", *OWNERSHIP_KEYS))
        return {k: taken[k] for k in ("url", "dest", "checksum") if k in taken} | ownership(taken)

    not_compared = frozenset({"state", "url", "dest"})

    def path(self, resource: Resource) -> str | None:
        value = resource.get("dest")
        if isinstance(value, str) and value.endswith("/"):
            return self._in_directory(resource)
        return value if isinstance(value, str) else None

    def physical_key(self, resource: Resource) -> str | None:
        dest = str(resource.get("dest"))
        return f"path {self._in_directory(resource) if dest.endswith('/') else dest}"

    def desired(self, resource: Resource) -> dict[str, Any]:
        out = desired_ownership(resource)
        if resource.get("checksum"):
            out["checksum"] = str(resource.get("checksum")).lower()
        return out

    @staticmethod
    def _in_directory(resource: Resource) -> str | None:
        """The file's path when `dest` is a directory: the URL's last path component inside it."""
        name = posixpath.basename(urllib.parse.urlsplit(str(resource.get("url"))).path)
        return posixpath.join(str(resource.get("dest")), name) if name not in ("", ".", "..") else None

    def _file(self, resource: Resource, dest_kind: str | None) -> str:
        """Where the file goes: `dest`, or inside it when it is a directory (Ansible's rule)."""
        dest = str(resource.get("dest"))
        if not dest.endswith("/") and dest_kind != "directory":
            return dest
        inside = self._in_directory(resource)
        if inside is None:
            raise ModuleError(f"{dest} is a directory and the URL {resource.get('url')} names no file: give dest "
                              "the file's name")
        return inside

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        paths = [str(r.get("dest")) for r in resources] + [p for r in resources if (p := self._in_directory(r))]
        return [StatRead(tuple(paths), hash_files=True)]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        inside = [p for r in resources if (p := self._in_directory(r))]
        stats = target.stat_many([r.get("dest") for r in resources] + inside, hash_files=True)
        out: dict[str, Observed | None] = {}
        for r in resources:
            dest = stats[r.get("dest")]
            path = self._file(r, dest.kind if dest is not None else None)
            st = stats.get(path) if path != r.get("dest") else dest
            if st is None:
                out[r.address] = None
                continue
            attrs = observed_ownership(st, r)
            checksum = str(r.get("checksum") or "sha256:")
            algorithm = checksum.partition(":")[0]
            if st.kind != "file":
                attrs["checksum"] = f"({st.kind})"
            elif algorithm == "sha256":
                attrs["checksum"] = f"sha256:{st.sha256}"
            else:  # another algorithm: read the file to hash it (rare)
                attrs["checksum"] = digest(target.read_file(path), algorithm)
            out[r.address] = Observed(attrs)
        return out

    def _where(self, target: Target, resource: Resource) -> str:
        dest = str(resource.get("dest"))
        st = target.stat_many([dest])[dest]
        return self._file(resource, st.kind if st is not None else None)

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        dest = self._where(target, r)
        changed = {d.name for d in change.diffs}
        if change.observed is None or "checksum" in changed:
            data = fetch(str(r.get("url")))
            verify(data, r.get("checksum"), str(r.get("url")))
            target.write_file(dest, data, mode=desired_ownership(r).get("mode"), owner=r.get("owner"),
                              group=r.get("group"))
        else:
            want = desired_ownership(r)
            target.set_attributes(dest, mode=want.get("mode") if "mode" in changed else None,
                                  owner=want.get("owner") if "owner" in changed else None,
                                  group=want.get("group") if "group" in changed else None)
        return Observed(self.desired(r))

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        target.remove(self._where(target, resource))
