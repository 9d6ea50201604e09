"""`symlink`: a symbolic link at `path` pointing to `target`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks, Deferrable
from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import Read, StatRead

from .ansible import PATH_KEYS, flag, path_of


class SymlinkModule(Module[Target], AnsibleTasks, Deferrable):
    type_name = "symlink"
    ansible_modules = ("file",)

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        if args.get("state") != "link":
            return None
        taken = ansible_args(module, args, (*PATH_KEYS, "state", "src", "force"))
        out = {"path": path_of(taken), "target": taken["src"]}
        if flag(taken.get("force")) is True:
            out["force"] = True
        return out

    not_compared = frozenset({"state", "path", "force"})

    def physical_key(self, resource: Resource) -> str | None:
        return f"path {resource.get('path')}"

    def path(self, resource: Resource) -> str | None:
        value = resource.get("path")
        return value if isinstance(value, str) else None

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [StatRead(tuple(str(r.get("path")) for r in resources), hash_files=False)]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        stats = target.stat_many([r.get("path") for r in resources], hash_files=False)
        out: dict[str, Observed | None] = {}
        for r in resources:
            st = stats[r.get("path")]
            out[r.address] = None if st is None else Observed(
                {"path": r.get("path"), "kind": st.kind, "target": st.link_target}
            )
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        path = r.get("path")
        kind = change.observed.attributes.get("kind") if change.observed else None
        if kind not in (None, "link"):
            if not r.get("force"):
                raise ModuleError(f"{path} exists and is a {kind}, not a symlink (set force: true to replace it)")
            target.remove(path, recursive=True)
        target.make_symlink(path, r.get("target"))
        return Observed({"path": path, "kind": "link", "target": r.get("target")})

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        if observed.attributes.get("kind") == "link":
            target.remove(resource.get("path"))
