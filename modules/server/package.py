"""`package`: OS packages with apt (or dnf/yum, whichever the host has). One query per host for every
managed package; one install command per resource (list several in `names:` to install them at once)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks, BatchApply
from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module, NotConvertible, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import Read, command_read

from .ansible import flag

INSTALLED, ABSENT = "installed", "absent"

# Prints "MANAGER <apt|dnf|yum|none>", "CACHE <mtime>", then one "name<TAB>version" line per installed
# package, then "CANDIDATE name<TAB>version" for each package asked about with --latest.
QUERY = r"""
latest=0; [ "$1" = --latest ] && { latest=1; shift; }
if command -v dpkg-query >/dev/null 2>&1; then
  echo "MANAGER apt"; echo "CACHE $(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo 0)"
  dpkg-query -W -f='${Package}\t${db:Status-Abbrev}\t${Version}\n' -- "$@" 2>/dev/null | awk -F'\t' '$2 ~ /^ii/ {print $1 "\t" $3}'
  if [ $latest = 1 ]; then for p in "$@"; do
    c=$(apt-cache policy -- "$p" 2>/dev/null | awk '/Candidate:/ {print $2}'); echo "CANDIDATE $p	$c"; done; fi
elif command -v rpm >/dev/null 2>&1; then
  if command -v dnf >/dev/null 2>&1; then echo "MANAGER dnf"; else echo "MANAGER yum"; fi
  for p in "$@"; do rpm -q --qf '%{NAME}\t%{VERSION}-%{RELEASE}\n' -- "$p" 2>/dev/null | grep -v 'not installed'; done
  if [ $latest = 1 ]; then for p in "$@"; do
    c=$( (dnf -q repoquery --latest-limit 1 --qf '%{version}-%{release}' -- "$p" || yum -q list available -- "$p") 2>/dev/null | tail -n1); echo "CANDIDATE $p	$c"; done; fi
else
  echo "MANAGER none"
fi
"""


def package_names(resource: Resource) -> list[str]:
    return [str(n) for n in resource.get("names") or [resource.get("package") or resource.name]]


def parse_query(text: str) -> tuple[str, float, dict[str, str], dict[str, str]]:
    manager, cache, installed, candidates = "none", 0.0, {}, {}
    for line in text.splitlines():
        if line.startswith("MANAGER "):
            manager = line.split()[1]
        elif line.startswith("CACHE "):
            cache = float(line.split()[1] or 0)
        elif line.startswith("CANDIDATE "):
            name, _, version = line[len("CANDIDATE "):].partition("\t")
            candidates[name] = version
        elif "\t" in line:
            name, _, version = line.partition("\t")
            installed[name.split(":")[0]] = version
    return manager, cache, installed, candidates


LOCK_TIMEOUT = 60  # seconds to wait for a dpkg/apt lock another process holds (Ansible waits 60 s too)


def apt(*args: str, lock_timeout: int = LOCK_TIMEOUT) -> list[str]:
    """apt-get, non-interactive, waiting up to `lock_timeout` s for a lock held by another apt or dpkg."""
    return ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-o", f"DPkg::Lock::Timeout={lock_timeout}", *args]


def install_command(manager: str, specs: Sequence[str], lock_timeout: int = LOCK_TIMEOUT) -> list[str]:
    if manager == "apt":
        return apt("install", "-y", "-q", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confold",
                   "--", *specs, lock_timeout=lock_timeout)
    return [manager, "install", "-y", "--", *specs]


def remove_command(manager: str, names: Sequence[str], lock_timeout: int = LOCK_TIMEOUT) -> list[str]:
    if manager == "apt":
        return apt("remove", "-y", "-q", "--", *names, lock_timeout=lock_timeout)
    return [manager, "remove", "-y", "--", *names]


class PackageModule(Module[Target], AnsibleTasks, BatchApply):
    type_name = "package"
    ansible_modules = ("apt", "package", "dnf", "yum")
    ansible_step = "software"

    def locate(self, resource: Resource) -> str | None:
        names = package_names(resource)
        return f"package{'s' if len(names) > 1 else ''} {', '.join(names)}"

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        taken = ansible_args(module, args, ("name", "pkg", "state", "update_cache", "cache_valid_time"))
        names = taken.get("name", taken.get("pkg"))
        if names is None:
            return None  # a cache refresh alone is a command's (apt-get update)
        state = {"installed": "present", "removed": "absent"}.get(taken.get("state", "present"),
                                                                   taken.get("state", "present"))
        if state not in ("present", "absent", "latest"):
            raise NotConvertible(f"{module}: state {state!r} is not supported")
        out: dict[str, Any] = {"names": names} if isinstance(names, list) else {"package": names}
        if state != "present":
            out["state"] = state
        if flag(taken.get("update_cache")) is True:
            out["update_cache"] = True
        if "cache_valid_time" in taken:
            out["cache_valid_time"] = taken["cache_valid_time"]
        return out

    computed = frozenset({"versions", "manager"})
    not_compared = frozenset({"state", "names", "package", "version", "update_cache", "cache_valid_time",
                              "lock_timeout"})

    def desired(self, resource: Resource) -> dict[str, Any]:
        pin = resource.get("version")
        state = self.state_of(resource)
        want = {n: (str(pin) if pin else ("latest" if state == "latest" else INSTALLED)) for n in package_names(resource)}
        return {"packages": want}

    def equal(self, name: str, desired: Any, observed: Any) -> bool:
        have = observed or {}
        for pkg, want in desired.items():
            version = have.get(pkg, ABSENT)
            if want == INSTALLED and version == ABSENT:
                return False
            if want not in (INSTALLED,) and version != want:
                return False
        return True

    def _query(self, resources: Sequence[Resource]) -> list[str]:
        names = sorted({n for r in resources for n in package_names(r)})
        latest = any(self.state_of(r) == "latest" for r in resources)
        return ["sh", "-c", QUERY, "sh"] + (["--latest"] if latest else []) + names

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [command_read(self._query(resources))]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        argv = self._query(resources)
        manager, cache, installed, candidates = parse_query(target.run(argv).check().stdout.decode())
        if manager == "none":
            raise ModuleError(f"no supported package manager (apt, dnf, yum) on {target.name}")
        out: dict[str, Observed | None] = {}
        for r in resources:
            mine = {n: installed.get(n, ABSENT) for n in package_names(r)}
            if all(v == ABSENT for v in mine.values()):
                out[r.address] = None
                continue
            attrs: dict[str, Any] = {"packages": mine, "versions": mine, "manager": manager, "cache_mtime": cache}
            if self.state_of(r) == "latest":  # compare with the candidate: "latest" means that version
                attrs["packages"] = {n: ("latest" if candidates.get(n) and v == candidates[n] else v)
                                     for n, v in mine.items()}
            out[r.address] = Observed(attrs, identity={"manager": manager, "cache_mtime": cache})
        return out


    def apply(self, target: Target, change: Change) -> Observed:
        return self.apply_many(target, [change])[change.address]

    def apply_many(self, target: Target, changes: Sequence[Change]) -> Mapping[str, Observed]:
        manager, cache = self._manager(target, changes[0])
        waits = max(int(c.resource.get("lock_timeout", LOCK_TIMEOUT)) for c in changes if c.resource is not None)
        if manager == "apt" and any(c.resource and c.resource.get("update_cache") for c in changes):
            window = min(float(c.resource.get("cache_valid_time") or 3600) for c in changes
                         if c.resource and c.resource.get("update_cache"))
            if time.time() - cache > window:
                target.run(apt("update", "-q", lock_timeout=waits), timeout=900).check()
        specs: list[str] = []
        for change in changes:
            r = change.resource
            assert r is not None
            want = self.desired(r)["packages"]
            have = (change.observed.attributes.get("packages") if change.observed else None) or {}
            todo = [n for n in package_names(r) if not self.equal("packages", {n: want[n]}, have)] or package_names(r)
            sep = "=" if manager == "apt" else "-"
            specs += [f"{n}{sep}{r.get('version')}" if r.get("version") else n for n in todo]
        target.run(install_command(manager, list(dict.fromkeys(specs)), waits), timeout=1800 + waits).check()
        return {c.address: Observed({"packages": self.desired(c.resource)["packages"], "manager": manager})
                for c in changes if c.resource is not None}

    @staticmethod
    def _manager(target: Target, change: Change) -> tuple[str, float]:
        if change.observed is not None:
            return change.observed.identity["manager"], float(change.observed.identity.get("cache_mtime", 0))
        manager, cache, _, _ = parse_query(target.run(["sh", "-c", QUERY, "sh"]).check().stdout.decode())
        return manager, cache

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        manager = observed.identity.get("manager", "apt")
        waits = int(resource.get("lock_timeout", LOCK_TIMEOUT))
        target.run(remove_command(manager, package_names(resource), waits), timeout=1800 + waits).check()
