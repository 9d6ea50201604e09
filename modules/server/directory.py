"""`directory`: a directory with mode, owner and group, optionally applied to everything below it.

Removing one that reconcile created deletes it with its content, but only once the plan has checked
that nothing inside it is something reconcile did not write (a data-loss hazard otherwise). A
directory that already existed is only forgotten."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks, Deferrable
from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import Read, StatRead

from .ansible import OWNERSHIP_KEYS, PATH_KEYS, flag, ownership, path_of
from .paths import desired_ownership, observed_ownership, under, written_paths, wrong_kind

UNIFORM, DIFFERS = "uniform below", "differs below"
SHOWN = 3  # paths named in a hazard message


class DirectoryModule(Module[Target], AnsibleTasks, Deferrable):
    type_name = "directory"
    ansible_modules = ("file",)

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        if args.get("state") != "directory":
            return None
        taken = ansible_args(module, args, (*PATH_KEYS, "state", "recurse", *OWNERSHIP_KEYS))
        out = {"path": path_of(taken), **ownership(taken)}
        if flag(taken.get("recurse")) is True:
            out["recurse"] = True
        return out

    holds_paths = True
    not_compared = frozenset({"state", "path", "recurse"})

    def physical_key(self, resource: Resource) -> str | None:
        return f"path {resource.get('path')}"

    def path(self, resource: Resource) -> str | None:
        value = resource.get("path")
        return value if isinstance(value, str) else None

    def desired(self, resource: Resource) -> dict[str, Any]:
        out = desired_ownership(resource)
        if resource.get("recurse") and out:
            out["tree"] = UNIFORM
        return out

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [StatRead(tuple(str(r.get("path")) for r in resources), hash_files=False)]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | Unobservable | None]:
        stats = target.stat_many([r.get("path") for r in resources], hash_files=False)
        out: dict[str, Observed | Unobservable | None] = {}
        for r in resources:
            st = stats[r.get("path")]
            if st is None:
                out[r.address] = None
                continue
            if st.kind != "directory":
                out[r.address] = Unobservable(wrong_kind(r.get("path"), st.kind, "directory"))
                continue
            attrs: dict[str, Any] = observed_ownership(st, r) | {"path": r.get("path"), "kind": st.kind}
            if r.get("recurse"):
                want = self.desired(r)
                mismatch = target.tree_mismatches(
                    r.get("path"), mode=want.get("mode"), owner=r.get("owner"), group=r.get("group")
                )
                attrs["tree"] = DIFFERS if mismatch else UNIFORM
            out[r.address] = Observed(attrs)
        return out

    def destroy_hazard(self, target: Target, change: Change, going: Sequence[Change] = ()) -> str | None:
        """Anything inside that is not itself going in this plan would be deleted with the directory."""
        path = str((change.resource.get("path") if change.resource else None) or "")
        if not path or change.observed is None:
            return None
        managed = {p for c in going if c.resource is not None for p in written_paths(c.resource)}
        inside = [p for p in target.list_tree(path, limit=10_000) if p not in managed
                  and not any(under(p, m) for m in managed if m != path)]
        if not inside:
            return None
        names = ", ".join(inside[:SHOWN]) + (f" and {len(inside) - SHOWN} more" if len(inside) > SHOWN else "")
        return f"{path} holds {len(inside)} path(s) reconcile did not write ({names})"

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
