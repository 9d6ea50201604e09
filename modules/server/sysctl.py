"""`sysctl`: a kernel parameter, set at runtime (`sysctl -w`) and persisted as `KEY = VALUE` in a file
under /etc/sysctl.d (one file shared by the spec's parameters, edited line by line). Values compare
with whitespace normalised ("4096 87380" is "4096\t87380"). Observed in the host's one round trip:
/proc/sys and the file."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks, Deferrable
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import ContentRead, Read

DEFAULT_FILE = "/etc/sysctl.d/99-reconcile.conf"


def proc_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


def normal(value: Any) -> str:
    return " ".join(str(value).split())


def sysctl_file(resource: Resource) -> str:
    return str(resource.get("file") or DEFAULT_FILE)


def persisted(text: str, key: str) -> str | None:
    found = None
    for line in text.splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_./-]+)\s*=\s*(.*?)\s*$", line)
        if match and match.group(1).replace("/", ".") == key:
            found = normal(match.group(2))
    return found


def with_line(text: str, key: str, value: str | None) -> str:
    """The file with KEY's line set to VALUE (None: removed); other lines as they were."""
    lines = [line for line in text.splitlines()
             if not re.match(rf"^\s*{re.escape(key)}\s*=", line)] if value is None else []
    if value is not None:
        done = False
        for line in text.splitlines():
            if re.match(rf"^\s*{re.escape(key)}\s*=", line):
                if not done:
                    lines.append(f"{key} = {value}")
                    done = True
                continue
            lines.append(line)
        if not done:
            lines.append(f"{key} = {value}")
    return "".join(line + "\n" for line in lines)


class SysctlModule(Module[Target], AnsibleTasks, Deferrable):
    type_name = "sysctl"
    ansible_modules = ("sysctl", "ansible.posix.sysctl")
    ansible_step = "setting"

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        taken = ansible_args(module, args, ("name", "value", "state", "sysctl_file", "reload", "sysctl_set"))
        out: dict[str, Any] = {"key": taken["name"]}
        if "value" in taken:
            out["value"] = str(taken["value"])
        if "state" in taken:
            out["state"] = taken["state"]
        if "sysctl_file" in taken:
            out["file"] = taken["sysctl_file"]
        return out

    not_compared = frozenset({"state", "key", "value", "file", "persist"})

    def physical_key(self, resource: Resource) -> str | None:
        return f"sysctl {resource.get('key')}"

    def desired(self, resource: Resource) -> dict[str, Any]:
        if self.state_of(resource) == "absent":
            return {}
        value = normal(resource.get("value"))
        return {"value": value, **({"persisted": value} if resource.get("persist", True) else {})}

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [ContentRead(tuple(dict.fromkeys([*(proc_path(str(r.get("key"))) for r in resources),
                                                 *(sysctl_file(r) for r in resources)])))]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | Unobservable | None]:
        paths = list(dict.fromkeys([*(proc_path(str(r.get("key"))) for r in resources),
                                    *(sysctl_file(r) for r in resources)]))
        found = target.read_many(paths)
        out: dict[str, Observed | Unobservable | None] = {}
        for r in resources:
            key = str(r.get("key"))
            runtime = found.get(proc_path(key))
            if runtime is None:
                out[r.address] = Unobservable(f"{target.name} has no kernel parameter {key} (no {proc_path(key)})")
                continue
            saved = persisted((found.get(sysctl_file(r)) or b"").decode(errors="replace"), key)
            if self.state_of(r) == "absent":
                out[r.address] = Observed({"persisted": saved}) if saved is not None else None
                continue
            if saved is None and r.get("persist", True):  # not persisted yet: the setting is made by reconcile
                out[r.address] = None
                continue
            out[r.address] = Observed({"value": normal(runtime.decode(errors="replace")), "persisted": saved})
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        key, value = str(r.get("key")), normal(r.get("value"))
        changed = {d.name for d in change.diffs} if change.observed is not None else {"value", "persisted"}
        persist = bool(r.get("persist", True)) and "persisted" in changed
        path = sysctl_file(r)
        with target.lock(f"file:{path}"):
            current = target.read_many([path]).get(path) if persist else None  # read before anything changes
            if "value" in changed:
                target.run(["sysctl", "-w", f"{key}={value}"]).check()
            if persist:
                self._persist(target, r, value, current)
        return Observed(self.desired(r))

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        path = sysctl_file(resource)
        with target.lock(f"file:{path}"):
            self._persist(target, resource, None, target.read_many([path]).get(path))  # the runtime value stays

    @staticmethod
    def _persist(target: Target, r: Resource, value: str | None, current: bytes | None) -> None:
        """Write `value` for `r`'s key into its file (holding `current`), under the caller's lock."""
        path, key = sysctl_file(r), str(r.get("key"))
        if current is None and value is None:
            return
        text = with_line((current or b"").decode(errors="replace"), key, value)
        if text.encode() != current:
            target.write_file(path, text.encode(), mode="0644" if current is None else None)
