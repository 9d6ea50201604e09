"""`command`: run a command when `creates`, `removes`, `unless` or `onlyif` say it is needed.

Without any of them it runs on every apply, like Ansible's command module. A plan shows a command that will
run as `+ command.x … will run` (counted as "to run": a run is no object that is added or changed). `plan`
runs the read-only `unless`/`onlyif` checks on the target to know; `plan --no-checks` skips them and shows the
command as "may run". A `creates:` path still missing after the command ran is a warning naming it. A command
that is notified (or has `triggered_by:`) is a handler: it runs only in a run where one of its triggers
changed, once, after all of them. Removing a command from the spec undoes nothing: it will no longer be run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks
from reconciler.model import Action, AttrDiff, Change, Observed, Resource
from reconciler.module import UNCHECKED, Module, NotConvertible, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import Read, StatRead

from .ansible import flag

log = logging.getLogger(__name__)


def argv_of(resource: Resource, key: str = "command") -> list[str]:
    value = resource.get(key)
    return list(value) if isinstance(value, list) else ["sh", "-c", str(value)]


class CommandModule(Module[Target], AnsibleTasks):
    type_name = "command"
    ansible_modules = ("command", "shell", "apt", "package")
    ansible_step = "opaque"

    def locate(self, resource: Resource) -> str | None:
        text = " ".join(str(resource.get("command") or "").split())
        return f"`{text if len(text) <= 60 else text[:57] + '...'}`"

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        if module in ("apt", "package"):  # `apt: update_cache=yes` with no package: a cache refresh
            if args.get("name") or args.get("pkg") or not flag(args.get("update_cache")):
                return None
            taken = ansible_args(module, args, ("update_cache", "cache_valid_time"))
            refresh: dict[str, Any] = {"command": "apt-get update -q"}
            if "cache_valid_time" in taken:  # as Ansible: only when the last update is older than this
                age = int(taken["cache_valid_time"])
                refresh["unless"] = ("test -e /var/lib/apt/periodic/update-success-stamp && test $(( $(date +%s) - "
                                 f"$(stat -c %Y /var/lib/apt/periodic/update-success-stamp) )) -lt {age}")
            return refresh
        taken = ansible_args(module, args, ("_raw_params", "cmd", "argv", "creates", "removes", "chdir"))
        command = taken.get("_raw_params", taken.get("cmd", taken.get("argv")))
        if command is None:
            raise NotConvertible(f"{module}: no command given")
        out: dict[str, Any] = {"command": command}
        out.update({k: taken[k] for k in ("creates", "removes") if k in taken})
        if "chdir" in taken:
            out["cwd"] = taken["chdir"]
        return out

    computed = frozenset({"rc", "stdout", "stderr"})
    triggered_actions = ("run",)
    handler_only = True  # notified (or with triggered_by:), it runs only when a trigger fired
    volatile = frozenset({"rc", "stdout", "stderr"})
    prunable = False
    forget_reason = "no longer in the spec: it will no longer be run"
    runs_checks = True  # unless/onlyif run on the target during plan (plan --no-checks skips them)
    not_compared = frozenset({"state", "output_sensitive", UNCHECKED})

    def secret_attributes(self, resource: Resource) -> frozenset[str]:
        """A command that handles a secret may print it: its output is secret too, unless the spec says
        `output_sensitive: false`."""
        secret = super().secret_attributes(resource)
        wanted = resource.get("output_sensitive")
        if wanted is True or (wanted is None and secret):
            return secret | {"stdout", "stderr"}
        return secret

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        paths = tuple(str(p) for r in resources for p in (r.get("creates"), r.get("removes")) if p)
        return [StatRead(paths, hash_files=False)] if paths else []

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        paths = [p for r in resources for p in (r.get("creates"), r.get("removes")) if p]
        stats = target.stat_many(paths, hash_files=False) if paths else {}
        out: dict[str, Observed | None] = {}
        for r in resources:  # a command's runs are reconcile's own: never "found" there before
            out[r.address] = Observed({"reason": self._reason_to_run(target, r, stats)}, ours=True)
        return out

    def _reason_to_run(self, target: Target, r: Resource, stats: Mapping[str, object]) -> str:
        """Why the command must run, or "" when nothing needs it."""
        if r.get("creates") and stats.get(r.get("creates")) is not None:
            return ""
        if r.get("removes") and stats.get(r.get("removes")) is None:
            return ""
        if r.get(UNCHECKED) and (r.get("unless") is not None or r.get("onlyif") is not None):
            return "may run: its unless/onlyif checks were not run (plan --no-checks)"
        env, cwd = r.get("environment"), r.get("cwd")
        if r.get("unless") is not None and target.run(argv_of(r, "unless"), env=env, cwd=cwd).ok:
            return ""
        if r.get("onlyif") is not None and not target.run(argv_of(r, "onlyif"), env=env, cwd=cwd).ok:
            return ""
        for key, why in (("creates", "{} does not exist"), ("removes", "{} exists"),
                         ("unless", "`unless` failed"), ("onlyif", "`onlyif` succeeded")):
            if r.get(key) is not None:
                return why.format(r.get(key))
        return "no creates/removes/unless/onlyif: runs on every apply"

    def refine_change(self, change: Change, resource: Resource, observed: Observed | None) -> Change:
        reason = observed.attributes.get("reason", "") if observed else "not checked"
        if not reason or resource.get("state") == "absent":
            return Change(resource.address, resource.type, Action.NOOP, resource=resource, observed=observed)
        shown = resource.get("command")
        diffs = (AttrDiff("command", None, shown, sensitive="command" in self.secret_attributes(resource)),)
        return Change(resource.address, resource.type, Action.UPDATE, diffs, reason=reason, verb="run",
                      resource=resource, observed=observed)

    def triggered(self, change: Change, cause: str, action: str) -> Change:
        """A handler: it runs because `cause` changed, unless its creates/removes/unless/onlyif say no."""
        if change.action is Action.NOOP:
            return change
        return Change(change.address, change.type, Action.UPDATE, change.diffs, reason=f"triggered by {cause}",
                      verb="run", resource=change.resource, observed=change.observed)

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        result = target.run(
            argv_of(r), env=r.get("environment"), cwd=r.get("cwd"), timeout=r.get("timeout")
        ).check()
        creates = r.get("creates")
        if creates and target.stat_many([str(creates)], hash_files=False).get(str(creates)) is None:
            log.warning("%s ran, but its creates: path %s still does not exist on %s: it will run again at every "
                        "apply until something makes it", change.address, creates, target.name)
        return Observed({"reason": "", "rc": result.rc,
                         "stdout": result.stdout.decode(errors="replace"),
                         "stderr": result.stderr.decode(errors="replace")})

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        return None
