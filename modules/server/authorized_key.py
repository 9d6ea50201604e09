"""`authorized_key`: SSH public keys in a user's authorized_keys, added to what is there (or, with
`exclusive: true`, the only keys there). Keys are compared by type and key data, so a changed comment
is no drift. The file (0600) and its .ssh directory (0700) belong to the user. Observed in the host's one
round trip (its passwd and the key files)."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks, ShowsText
from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import LINE_BREAKS, Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import ContentRead, Read, StatRead

from .accounts import ACCOUNT_FILES, read_accounts
from .ansible import flag

KEY_LINE = re.compile(r"^(?:(?P<options>.*?)\s+)?(?P<type>ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp(?:256|384|521)|"
                      r"sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)\s+(?P<data>[A-Za-z0-9+/]+=*)"
                      r"(?:\s+(?P<comment>.*))?$")


def parse_key(line: str) -> tuple[str, str, str, str] | None:
    """(options, type, data, comment) of one authorized_keys line, or None when it is no key: the data must
    be base64 of an SSH key blob of that very type."""
    found = KEY_LINE.match(line.strip())
    if found is None:
        return None
    try:
        blob = base64.b64decode(found["data"], validate=True)
    except ValueError:
        return None
    size = int.from_bytes(blob[:4], "big")
    if blob[4:4 + size].decode("ascii", errors="replace") != found["type"]:
        return None
    return found["options"] or "", found["type"], found["data"], found["comment"] or ""


def wanted_keys(resource: Resource) -> list[str]:
    """Each key the resource asks for, one entry each (a string is one key; several are a list)."""
    value = resource.get("key")
    lines = value if isinstance(value, list) else [str(value or "")]
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def identity(line: str) -> str:
    """A key's type and data (options before them and the comment after them left out)."""
    parsed = parse_key(line)
    return f"{parsed[1]} {parsed[2]}" if parsed else line.strip()


def with_options(line: str) -> str:
    """A key as compared: its options, type and data (the comment is no drift; options are)."""
    parsed = parse_key(line)
    if parsed is None:
        return line.strip()
    return f"{parsed[0]} {parsed[1]} {parsed[2]}".strip()


def named(line: str) -> str:
    """A key as a person tells it from others: its type, the end of its data, and its comment."""
    parsed = parse_key(line)
    if parsed is not None:
        return f"{parsed[1]} …{parsed[2][-12:]}" + (f" {parsed[3]}" if parsed[3] else "")
    words = line.split()  # not a key reconcile can parse: its type-looking word, the data after it, the rest
    at = next((i for i, w in enumerate(words[:-1]) if re.match(r"^(ssh|ecdsa|sk)-", w)), None)
    if at is None:
        return line.strip()[:60]
    return " ".join([words[at], "…" + words[at + 1][-12:], *words[at + 2:]])


def key_file(resource: Resource, home: str | None = None) -> str:
    user = str(resource.get("user"))
    return str(resource.get("path") or f"{home or ('/root' if user == 'root' else '/home/' + user)}/.ssh/authorized_keys")


class AuthorizedKeyModule(Module[Target], AnsibleTasks, ShowsText):
    type_name = "authorized_key"
    ansible_modules = ("authorized_key", "ansible.posix.authorized_key")
    ansible_step = "owned"

    def locate(self, resource: Resource) -> str | None:
        return f"a key of user {resource.get('user')}"

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        taken = ansible_args(module, args, ("user", "key", "state", "exclusive", "path"))
        out: dict[str, Any] = {k: taken[k] for k in ("user", "key", "state", "path") if k in taken}
        if "exclusive" in taken:
            out["exclusive"] = flag(taken["exclusive"])
        return out

    not_compared = frozenset({"state", "user", "key", "exclusive", "path"})

    def prepare(self, attributes: dict[str, Any], load: Any) -> dict[str, Any]:
        """Every key is parsed on its own, at its line: `[options] TYPE BASE64 [comment]`, the data a key of
        that type. A value of more than one line is left to the schema, which says it must be one line."""
        value = attributes.get("key")
        for line in value if isinstance(value, list) else [value]:
            if isinstance(line, str) and line.strip() and not re.search(LINE_BREAKS, line) and not line.strip().startswith("#") and parse_key(line) is None:
                raise load.fail(f"key {line[:60]!r} is not an SSH public key (`[options] TYPE BASE64 [comment]`, "
                                "the data a key of that type)")
        return attributes

    def desired(self, resource: Resource) -> dict[str, Any]:
        keys = [with_options(k) for k in wanted_keys(resource)]
        out: dict[str, Any] = {"keys": keys} if self.state_of(resource) == "present" else {}
        if out and not resource.get("path"):
            out["ssh_dir"] = "0700"
        return out

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        dirs = tuple(key_file(r).rsplit("/", 1)[0] for r in resources if not r.get("path"))
        return [ContentRead((*ACCOUNT_FILES, *(key_file(r) for r in resources))), StatRead(dirs, hash_files=False)]

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
            lines = [line for line in (text or b"").decode(errors="replace").splitlines()
                     if line.strip() and not line.strip().startswith("#")]
            have = [identity(line) for line in lines]
            full = {identity(line): with_options(line) for line in lines}
            wanted = [identity(k) for k in wanted_keys(r)]
            if self.state_of(r) == "absent":
                present = [k for k in wanted if k in have]
                out[r.address] = Observed({"keys": present}) if present else None
                continue
            if not any(k in have for k in wanted) and not (r.get("exclusive") and have):
                # none of its keys yet: the resource does not exist (exclusive: unless keys it would remove are there)
                out[r.address] = None
                continue
            found = [full[k] for k in wanted if k in full]  # in the spec's order: the file's is not compared
            if r.get("exclusive"):
                found += [full[k] for k in have if k not in wanted]
            attrs: dict[str, Any] = {"keys": found}
            if r.get("exclusive"):  # what apply would take away, as a person recognises a key (its comment)
                attrs["removes"] = [named(line) for line in lines if identity(line) not in wanted]
            if not r.get("path"):
                ssh_dir = path.rsplit("/", 1)[0]
                st = target.stat_many([ssh_dir], hash_files=False).get(ssh_dir)
                attrs["ssh_dir"] = st.mode if st is not None else None
            out[r.address] = Observed(attrs)
        return out


    def text_diffs(self, target: Target, changes: Sequence[Change], context: int = 3) -> Mapping[str, str]:
        """The keys an exclusive change removes, named (from the observation: nothing is read again)."""
        out = {}
        for change in changes:
            removes = change.observed.attributes.get("removes") if change.observed is not None else None
            if removes:
                out[change.address] = "".join(f"key to remove: {k}\n" for k in removes)
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
            elif r.get("exclusive"):  # as Ansible: the wanted keys already there keep their place, the new follow
                new = {identity(k): k for k in wanted}
                kept = [new.pop(identity(line)) for line in lines if identity(line) in new]
                kept += list(new.values())
            else:  # a key already there takes the options asked for; the others are added
                new = {identity(k): k for k in wanted}
                kept = [new.pop(identity(line)) if identity(line) in new and parse_key(line) else line
                        for line in lines]
                kept += list(new.values())
            data = "".join(line + "\n" for line in kept).encode()
            if current is None and not present:
                return
            directory = path.rsplit("/", 1)[0]
            if present and not r.get("path"):  # .ssh is the user's, 0700 (as Ansible's manage_dir)
                target.make_directory(directory, mode="0700")
                target.set_attributes(directory, owner=str(account.uid), group=str(account.gid))
            if current is not None and data == current:
                return
            target.write_file(path, data, mode="0600", owner=str(account.uid), group=str(account.gid))
