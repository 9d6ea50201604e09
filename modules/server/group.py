"""`group`: a local group and its gid, observed from /etc/group in one round trip per host."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks, Deferrable
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import ContentRead, Read

from .accounts import ACCOUNT_FILES, read_accounts
from .ansible import flag


def group_name(resource: Resource) -> str:
    return str(resource.get("group_name") or resource.name)


class GroupModule(Module[Target], AnsibleTasks, Deferrable):
    type_name = "group"
    ansible_modules = ("group",)
    ansible_step = "group"

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        taken = ansible_args(module, args, ("name", "gid", "state", "system"))
        out: dict[str, Any] = {"group_name": taken["name"]}
        out.update({k: taken[k] for k in ("gid", "state") if k in taken})
        if "system" in taken:
            out["system"] = flag(taken["system"])
        return out

    computed = frozenset({"gid"})
    not_compared = frozenset({"state", "group_name", "system"})

    def physical_key(self, resource: Resource) -> str | None:
        return f"group {group_name(resource)}"

    def desired(self, resource: Resource) -> dict[str, Any]:
        return {"gid": resource.get("gid")} if resource.get("gid") is not None else {}

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [ContentRead(ACCOUNT_FILES)]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        groups = read_accounts(target).groups
        out: dict[str, Observed | None] = {}
        for r in resources:
            found = groups.get(group_name(r))
            out[r.address] = None if found is None else Observed({"gid": found[0]}, identity={"gid": found[0]})
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        gid = ["-g", str(r.get("gid"))] if r.get("gid") is not None else []
        if change.observed is None:
            target.run(["groupadd", *(["-r"] if r.get("system") else []), *gid, "--", group_name(r)]).check()
        else:
            target.run(["groupmod", *gid, "--", group_name(r)]).check()
        return Observed(self.desired(r))

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        result = target.run(["groupdel", "--", group_name(resource)])
        if result.rc == 6:  # gone already: userdel removes a user's own group with the user (USERGROUPS_ENAB)
            return
        result.check()
