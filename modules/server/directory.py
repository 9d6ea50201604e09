"""`directory`: a directory with mode, owner and group, optionally applied to everything below it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module
from reconciler.targets.base import Target

from .paths import desired_ownership, observed_ownership

UNIFORM, DIFFERS = "uniform below", "differs below"


class DirectoryModule(Module):
    type_name = "directory"
    not_compared = frozenset({"state", "path", "recurse"})

    def desired(self, resource: Resource) -> dict[str, Any]:
        out = desired_ownership(resource)
        if resource.get("recurse") and out:
            out["tree"] = UNIFORM
        return out

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        stats = target.stat_many([r.get("path") for r in resources], hash_files=False)
        out: dict[str, Observed | None] = {}
        for r in resources:
            st = stats[r.get("path")]
            if st is None:
                out[r.address] = None
                continue
            attrs: dict[str, Any] = observed_ownership(st, r) | {"path": r.get("path"), "kind": st.kind}
            if r.get("recurse") and st.kind == "directory":
                want = self.desired(r)
                mismatch = target.tree_mismatches(
                    r.get("path"), mode=want.get("mode"), owner=r.get("owner"), group=r.get("group")
                )
                attrs["tree"] = DIFFERS if mismatch else UNIFORM
            out[r.address] = Observed(attrs)
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        path = r.get("path")
        kind = change.observed.attributes.get("kind") if change.observed else None
        if kind not in (None, "directory"):
            raise ModuleError(f"{path} exists and is a {kind}, not a directory")
        want = self.desired(r)
        if change.observed is None:
            target.make_directory(path, mode=want.get("mode"))
        target.set_attributes(
            path, mode=want.get("mode"), owner=r.get("owner"), group=r.get("group"),
            recursive=bool(r.get("recurse")),
        )
        return Observed({**want, "path": path, "kind": "directory"})

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        target.remove(resource.get("path"), recursive=True)
