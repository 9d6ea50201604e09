"""`service`: running/stopped/restarted/reloaded and enabled at boot; systemd where the host runs it,
else the init.d scripts through `service` and `update-rc.d`. As a handler it restarts (its default) or
reloads when a resource that notifies it, or one in its `triggered_by:`/`restart_on:`, changed in the
same run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks
from reconciler.model import Action, AttrDiff, Change, Observed, Resource
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import Read, command_read

from .ansible import flag

# Prints "INIT systemd|sysv", then "name<TAB>active|inactive<TAB>enabled|disabled" per service ("$@").
QUERY = r"""
if [ -d /run/systemd/system ]; then echo "INIT systemd"; for s in "$@"; do
  a=$(systemctl is-active -- "$s" 2>/dev/null); e=$(systemctl is-enabled -- "$s" 2>/dev/null)
  [ "$a" = active ] || a=inactive; case "$e" in enabled|static|alias) e=enabled;; *) e=disabled;; esac
  printf '%s\t%s\t%s\n' "$s" "$a" "$e"; done
else echo "INIT sysv"; for s in "$@"; do
  if [ -x "/etc/init.d/$s" ] && service "$s" status >/dev/null 2>&1; then a=active; else a=inactive; fi
  if ls /etc/rc[2345].d/S[0-9][0-9]"$s" >/dev/null 2>&1; then e=enabled; else e=disabled; fi
  [ -e "/etc/init.d/$s" ] || e=missing
  printf '%s\t%s\t%s\n' "$s" "$a" "$e"; done
fi
"""


def service_name(resource: Resource) -> str:
    return str(resource.get("service") or resource.name)


def state_command(init: str, name: str, verb: str) -> list[str]:
    """start | stop | restart | reload."""
    return ["systemctl", verb, "--", name] if init == "systemd" else ["service", name, verb]


def enable_command(init: str, name: str, enabled: bool) -> list[str]:
    if init == "systemd":
        return ["systemctl", "enable" if enabled else "disable", "--", name]
    return ["update-rc.d", name, "defaults" if enabled else "disable"]


class ServiceModule(Module[Target], AnsibleTasks):
    type_name = "service"
    ansible_modules = ("service", "systemd", "systemd_service")
    ansible_step = "runs"

    def locate(self, resource: Resource) -> str | None:
        return f"service {service_name(resource)}"

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        taken = ansible_args(module, args, ("name", "state", "enabled", "daemon_reload"))
        state = taken.get("state")
        if handler and state in ("restarted", "reloaded"):
            state = "running"  # restarted when a notifying resource changes (restart_on)
        out: dict[str, Any] = {"service": taken["name"]}
        if state is not None:
            out["state"] = {"started": "running"}.get(state, state)
        if "enabled" in taken:
            out["enabled"] = flag(taken["enabled"])
        return out

    not_compared = frozenset({"service", "restart_on"})
    trigger_attribute = "restart_on"
    triggered_actions = ("restart", "reload")
    default_state = "running"
    absent_states = frozenset()
    prunable = False  # a service belongs to its package: removing the resource leaves it as it is

    def desired(self, resource: Resource) -> dict[str, Any]:
        state = self.state_of(resource)
        out: dict[str, Any] = {"state": "stopped" if state == "stopped" else "running"}
        if resource.get("enabled") is not None:
            out["enabled"] = bool(resource.get("enabled"))
        return out

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [command_read(["sh", "-c", QUERY, "sh", *sorted({service_name(r) for r in resources})])]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        names = sorted({service_name(r) for r in resources})
        text = target.run(["sh", "-c", QUERY, "sh", *names]).check().stdout.decode()
        lines = text.splitlines()
        init = lines[0].split()[1] if lines and lines[0].startswith("INIT ") else "sysv"
        found = {}
        for line in lines[1:]:
            name, active, enabled = line.split("\t")
            found[name] = (active, enabled)
        out: dict[str, Observed | None] = {}
        for r in resources:
            active, enabled = found.get(service_name(r), ("inactive", "missing"))
            if enabled == "missing":
                out[r.address] = None
                continue
            out[r.address] = Observed({"state": "running" if active == "active" else "stopped",
                                       "enabled": enabled == "enabled"}, identity={"init": init})
        return out

    def refine_change(self, change: Change, resource: Resource, observed: Observed | None) -> Change:
        state = self.state_of(resource)
        if state in ("restarted", "reloaded") and observed is not None:
            return self.triggered(change, f"state: {state}", "reload" if state == "reloaded" else "restart")
        return change

    def triggered(self, change: Change, cause: str, action: str) -> Change:
        """Restart or reload, because `cause` changed (or the state says so on every apply)."""
        verb = "reload" if action == "reload" else "restart"
        if any(d.name in ("restart", "reload") for d in change.diffs):
            return change
        act = AttrDiff(verb, None, f"because {cause}")
        return Change(change.address, change.type, Action.UPDATE, change.diffs + (act,),
                      reason=f"{verb}: {cause}" + ("" if cause.startswith("state:") else " changes" if "," not in cause
                                                     else " change"), verb=verb,
                      resource=change.resource, observed=change.observed)

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        if change.observed is None:
            from reconciler.errors import ModuleError

            raise ModuleError(f"service {service_name(r)} is not installed on {target.name}")
        init = change.observed.identity.get("init", "sysv")
        name = service_name(r)
        want = self.desired(r)
        changed = {d.name for d in change.diffs}
        if "enabled" in changed:
            target.run(enable_command(init, name, want["enabled"])).check()
        if "state" in changed:
            target.run(state_command(init, name, "start" if want["state"] == "running" else "stop")).check()
        elif "restart" in changed and want["state"] == "running":
            target.run(state_command(init, name, "restart")).check()
        elif "reload" in changed and want["state"] == "running":
            target.run(state_command(init, name, "reload")).check()
        return Observed(want, identity={"init": init})

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        return None  # a service belongs to its package: removing the resource leaves it as it is
