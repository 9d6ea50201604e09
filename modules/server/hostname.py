"""`hostname`: the host's name, running (the kernel's) and persisted in /etc/hostname; set with
hostnamectl where systemd runs, else `hostname NAME`. Observed in the host's one round trip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks, Deferrable
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import ContentRead, Read, command_read

FILE = "/etc/hostname"
SET = 'if [ -d /run/systemd/system ]; then hostnamectl set-hostname "$1"; else hostname "$1"; fi'  # "$1" is checked: no leading -


class HostnameModule(Module[Target], AnsibleTasks, Deferrable):
    type_name = "hostname"
    ansible_modules = ("hostname", "ansible.builtin.hostname")
    ansible_step = "setting"
    prunable = False  # a host always has a name: removing the resource leaves it as it is

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        return {"hostname": ansible_args(module, args, ("name",))["name"]}

    not_compared = frozenset({"state"})

    def physical_key(self, resource: Resource) -> str | None:
        return "the host name"

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [command_read(["hostname"]), ContentRead((FILE,))]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        running = target.run(["hostname"]).check().stdout.decode().strip()
        saved = target.read_many([FILE]).get(FILE)
        written = saved.decode(errors="replace").strip() if saved is not None else ""
        name = running if written == running else f"{running} ({FILE} says {written or 'nothing'})"
        return {r.address: Observed({"hostname": name}) for r in resources}

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        name = str(r.get("hostname"))
        target.write_file(FILE, f"{name}\n".encode(), mode="0644")
        target.run(["sh", "-c", SET, "sh", name]).check()
        return Observed({"hostname": name})

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        return None
