"""`user`: a local account (uid, supplementary groups, shell, home) and its authorized_keys (exclusive).

Observed in one round trip per host: /etc/passwd, /etc/group and every managed authorized_keys file.
Deleting a user keeps its home directory (like Ansible's default).
"""

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


def user_name(resource: Resource) -> str:
    return str(resource.get("username") or resource.name)


def home_of(resource: Resource) -> str:
    name = user_name(resource)
    return str(resource.get("home") or ("/root" if name == "root" else f"/home/{name}"))


def keys_text(keys: Sequence[str]) -> str:
    return "".join(k.strip() + "\n" for k in keys)


class UserModule(Module[Target], AnsibleTasks, Deferrable):
    type_name = "user"
    ansible_modules = ("user",)
    ansible_step = "account"

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        taken = ansible_args(module, args, ("name", "uid", "group", "groups", "shell", "home", "state", "system",
                                            "append", "create_home"))
        out: dict[str, Any] = {"username": taken["name"]}
        out.update({k: taken[k] for k in ("uid", "group", "shell", "home", "state") if k in taken})
        groups = taken.get("groups")
        if isinstance(groups, str):
            groups = [g.strip() for g in groups.split(",") if g.strip()]
        if groups is not None:
            out["groups"] = groups
            if flag(taken.get("append")) is True:
                out["append"] = True
        if "system" in taken:
            out["system"] = flag(taken["system"])
        return out

    computed = frozenset({"uid", "gid", "home"})
    not_compared = frozenset({"state", "username", "system", "append"})

    def physical_key(self, resource: Resource) -> str | None:
        return f"user {user_name(resource)}"

    def destroy_hazard(self, target: Target, change: Change, going: Sequence[Change] = ()) -> str | None:
        """A home holding files besides the skeleton copies useradd made: they would be orphaned."""
        if change.observed is None:
            return None
        home = str(change.observed.attributes.get("home") or "")
        if not home or home == "/":
            return None
        skeleton = {p.removeprefix("/etc/skel") for p in target.list_tree("/etc/skel", limit=1000)}
        own = [p for p in target.list_tree(home, limit=1000) if p.removeprefix(home) not in skeleton
               and not p.removeprefix(home).startswith("/.ssh")]
        if not own:
            return None
        return f"the home {home} of user {user_name(change.resource) if change.resource else ''} holds {len(own)} file(s)"

    def desired(self, resource: Resource) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("uid", "shell", "home"):
            if resource.get(key) is not None:
                out[key] = resource.get(key)
        if resource.get("groups") is not None:
            out["groups"] = sorted(str(g) for g in resource.get("groups"))
        if resource.get("group") is not None:
            out["group"] = str(resource.get("group"))
        if resource.get("authorized_keys") is not None:
            out["authorized_keys"] = [k.strip() for k in resource.get("authorized_keys")]
        return out

    @staticmethod
    def _key_files(resources: Sequence[Resource]) -> list[str]:
        return [f"{home_of(r)}/.ssh/authorized_keys" for r in resources if r.get("authorized_keys") is not None]

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [ContentRead((*ACCOUNT_FILES, *self._key_files(resources)))]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        accounts = read_accounts(target, self._key_files(resources))
        out: dict[str, Observed | None] = {}
        for r in resources:
            account = accounts.users.get(user_name(r))
            if account is None:
                out[r.address] = None
                continue
            groups = accounts.groups_of(account.name)
            if r.get("append") and r.get("groups") is not None:  # only the groups the spec names are its concern
                groups = sorted(set(groups) & {str(g) for g in r.get("groups")})
            attrs: dict[str, Any] = {"uid": account.uid, "gid": account.gid, "shell": account.shell,
                                     "home": account.home, "groups": groups}
            if r.get("group") is not None:  # by name, or by gid when the spec gives a number
                wanted = str(r.get("group"))
                attrs["group"] = str(account.gid) if wanted.isdigit() else accounts.group_name(account.gid)
            if r.get("authorized_keys") is not None:
                text = accounts.files.get(f"{account.home}/.ssh/authorized_keys")
                if text is None and account.home != home_of(r):
                    text = target.read_many([f"{account.home}/.ssh/authorized_keys"]).get(
                        f"{account.home}/.ssh/authorized_keys")
                attrs["authorized_keys"] = [k for k in (text or b"").decode().splitlines() if k.strip()]
            out[r.address] = Observed(attrs, identity={"uid": account.uid})
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        name = user_name(r)
        want = self.desired(r)
        changed = {d.name for d in change.diffs}
        flags: list[str] = []
        if "uid" in changed:
            flags += ["-u", str(want["uid"])]
        if "shell" in changed:
            flags += ["-s", want["shell"]]
        if "groups" in changed:
            flags += (["-a"] if r.get("append") and change.observed is not None else []) + ["-G", ",".join(want["groups"])]
        if "group" in changed:
            flags += ["-g", want["group"]]
        if change.observed is None:
            home = ["-d", want["home"]] if "home" in want else []
            system = ["-r"] if r.get("system") else []
            target.run(["useradd", "-m", *system, *home, *flags, "--", name]).check()
        else:
            if "home" in changed:
                flags += ["-d", want["home"], "-m"]
            if flags:
                target.run(["usermod", *flags, "--", name]).check()
        if "authorized_keys" in changed:
            account = read_accounts(target).users[name]
            ssh_dir = f"{want['home'] if 'home' in want else account.home}/.ssh"
            group = str(account.gid)  # the user's primary group, as ssh-copy-id leaves it
            target.make_directory(ssh_dir, mode="0700")
            target.set_attributes(ssh_dir, owner=name, group=group)
            target.write_file(f"{ssh_dir}/authorized_keys", keys_text(want["authorized_keys"]).encode(),
                              mode="0600", owner=name, group=group)
        return Observed(want)

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        target.run(["userdel", "--", user_name(resource)]).check()
