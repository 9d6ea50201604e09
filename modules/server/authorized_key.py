"""`authorized_key`: SSH public keys in a user's authorized_keys, added to what is there (or, with
`exclusive: true`, the only keys there). Keys are compared by type and key data, so a changed comment
is no drift. The file (0600) and its .ssh directory (0700) belong to the user. Observed in the host's one
round trip (its passwd and the key files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import ContentRead, Read

from .accounts import ACCOUNT_FILES, read_accounts
from .ansible import flag


def wanted_keys(resource: Resource) -> list[str]:
    value = resource.get("key")
    lines = value if isinstance(value, list) else str(value or "").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def identity(line: str) -> str:
    """A key's type and data (options before them and the comment after them left out)."""
    parts = line.split()
    for i, part in enumerate(parts):
        if part.startswith(("ssh-", "ecdsa-", "sk-")) and i + 1 < len(parts):
            return f"{part} {parts[i + 1]}"
    return line.strip()


def key_file(resource: Resource, home: str | None = None) -> str:
    user = str(resource.get("user"))
    return str(resource.get("path") or f"{home or ('/root' if user == 'root' else '/home/' + user)}/.ssh/authorized_keys")


class AuthorizedKeyModule(Module[Target]):
    type_name = "authorized_key"
    ansible_modules = ("authorized_key", "ansible.posix.authorized_key")

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        taken = ansible_args(module, args, ("user", "key", "state", "exclusive", "path"))
        out: dict[str, Any] = {k: taken[k] for k in ("user", "key", "state", "path") if k in taken}
        if "exclusive" in taken:
            out["exclusive"] = flag(taken["exclusive"])
        return out

    not_compared = frozenset({"state", "user", "key", "exclusive", "path"})

    def desired(self, resource: Resource) -> dict[str, Any]:
        keys = [identity(k) for k in wanted_keys(resource)]
        return {"keys": keys} if self.state_of(resource) == "present" else {}

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [ContentRead((*ACCOUNT_FILES, *(key_file(r) for r in resources)))]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        accounts = read_accounts(target, [key_file(r) for r in resources])
        out: dict[str, Observed | None] = {}
        for r in resources:
            account = accounts.users.get(str(r.get("user")))
            if account is None:
                out[r.address] = None
                continue
            path = key_file(r, account.home)
            text = accounts.files.get(path) if path in accounts.files else target.read_many([path]).get(path)
            have = [identity(line) for line in (text or b"").decode(errors="replace").splitlines()
                    if line.strip() and not line.strip().startswith("#")]
            wanted = [identity(k) for k in wanted_keys(r)]
            if self.state_of(r) == "absent":
                present = [k for k in wanted if k in have]
                out[r.address] = Observed({"keys": present}) if present else None
                continue
            if not any(k in have for k in wanted):  # none of its keys yet: the resource does not exist
                out[r.address] = None
                continue
            out[r.address] = Observed({"keys": have if r.get("exclusive") else [k for k in wanted if k in have]})
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        self._edit(target, r, present=True)
        return Observed(self.desired(r))

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        self._edit(target, resource, present=False)

    def _edit(self, target: Target, r: Resource, present: bool) -> None:
        user = str(r.get("user"))
        account = read_accounts(target).users.get(user)
        if account is None:
            if not present:
                return
            raise ModuleError(f"user {user} does not exist on {target.name} (create it first: depends_on its user)")
        path = key_file(r, account.home)
        with target.lock(f"file:{path}"):
            current = target.read_many([path]).get(path)
            lines = (current or b"").decode(errors="replace").splitlines()
            wanted = wanted_keys(r)
            ids = {identity(k) for k in wanted}
            if not present:
                kept = [line for line in lines if identity(line) not in ids]
            elif r.get("exclusive"):
                kept = wanted
            else:
                have = {identity(line) for line in lines if line.strip()}
                kept = lines + [k for k in wanted if identity(k) not in have]
            data = "".join(line + "\n" for line in kept).encode()
            if current is not None and data == current:
                return
            if current is None and not present:
                return
            directory = path.rsplit("/", 1)[0]
            if current is None and not r.get("path"):
                target.make_directory(directory, mode="0700")
                target.set_attributes(directory, owner=str(account.uid), group=str(account.gid))
            target.write_file(path, data, mode="0600", owner=str(account.uid), group=str(account.gid))
