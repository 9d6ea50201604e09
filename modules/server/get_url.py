"""`get_url`: a file downloaded from a URL to a path on the host. The controller downloads it (see
download.py) and checks `checksum` before sending it. With a checksum, a file that matches is never
downloaded again; without one, a file that exists is left as it is (Ansible's default). Mode, owner
and group are kept in line too. Observed in the host's one round trip (the file's hash)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.model import Change, Observed, Resource
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import Read, StatRead

from .ansible import OWNERSHIP_KEYS, ownership
from .download import digest, fetch, verify
from .paths import desired_ownership, observed_ownership


class GetUrlModule(Module[Target]):
    type_name = "get_url"
    ansible_modules = ("get_url",)

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        taken = ansible_args(module, args, ("url", "dest", "checksum", *OWNERSHIP_KEYS))
        return {k: taken[k] for k in ("url", "dest", "checksum") if k in taken} | ownership(taken)

    not_compared = frozenset({"state", "url", "dest"})

    def path(self, resource: Resource) -> str | None:
        value = resource.get("dest")
        return value if isinstance(value, str) else None

    def physical_key(self, resource: Resource) -> str | None:
        return f"path {resource.get('dest')}"

    def desired(self, resource: Resource) -> dict[str, Any]:
        out = desired_ownership(resource)
        if resource.get("checksum"):
            out["checksum"] = str(resource.get("checksum")).lower()
        return out

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [StatRead(tuple(str(r.get("dest")) for r in resources), hash_files=True)]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        stats = target.stat_many([r.get("dest") for r in resources], hash_files=True)
        out: dict[str, Observed | None] = {}
        for r in resources:
            st = stats[r.get("dest")]
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
                attrs["checksum"] = digest(target.read_file(str(r.get("dest"))), algorithm)
            out[r.address] = Observed(attrs)
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        dest = str(r.get("dest"))
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
        target.remove(str(resource.get("dest")))
