"""`pip`: Python packages, in a virtualenv (made with `python3 -m venv` when missing) or the system's
Python. One query per environment (`pip list --format=json`, in the host's one observation round trip);
one `pip install` per resource for what is missing or at another version. Names compare the way pip
does (case-insensitive, `-`/`_`/`.` alike)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks
from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import Read, command_read

ABSENT, INSTALLED = "absent", "installed"
# Prints NOENV when the environment's Python is missing, else pip's JSON list (NOPIP when pip is missing)
QUERY = r"""
py="$1"; [ -x "$py" ] || command -v "$py" >/dev/null 2>&1 || { echo NOENV; exit 0; }
"$py" -m pip --version >/dev/null 2>&1 || { echo NOPIP; exit 0; }
PIP_DISABLE_PIP_VERSION_CHECK=1 "$py" -m pip list --format=json 2>/dev/null
"""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def python_of(resource: Resource) -> str:
    venv = resource.get("virtualenv")
    return f"{str(venv).rstrip('/')}/bin/python" if venv else str(resource.get("executable") or "python3")


def names(resource: Resource) -> list[str]:
    value = resource.get("packages") or [resource.name]
    return [str(n) for n in value]


def same_version(installed: Any, wanted: Any) -> bool:
    """Versions compared as pip compares them (PEP 440: `2` is `2.0`, `1.0.0` is `1.0`); text that is no
    PEP 440 version is compared as written."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(str(installed)) == Version(str(wanted))
    except InvalidVersion:
        return str(installed) == str(wanted)


def requirement(name: str, version: Any) -> str:
    return f"{name}=={version}" if version else name


class PipModule(Module[Target], AnsibleTasks):
    type_name = "pip"
    ansible_modules = ("pip",)
    ansible_step = "software"

    def locate(self, resource: Resource) -> str | None:
        where = resource.get("virtualenv") or "the system"
        return f"pip {', '.join(map(str, resource.get('packages') or [resource.name]))} in {where}"

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        taken = ansible_args(module, args, ("name", "version", "virtualenv", "state", "executable"))
        value = taken["name"]
        out: dict[str, Any] = {"packages": value if isinstance(value, list) else [value]}
        out.update({k: taken[k] for k in ("version", "virtualenv", "state", "executable") if k in taken})
        return out

    not_compared = frozenset({"state", "packages", "version", "virtualenv", "executable", "find_links", "index_url",
                              "no_index", "virtualenv_python"})

    def desired(self, resource: Resource) -> dict[str, Any]:
        if self.state_of(resource) == "absent":
            return {}
        version = resource.get("version")
        return {"packages": {canonical(n): str(version) if version else INSTALLED for n in names(resource)}}

    def equal(self, name: str, desired: Any, observed: Any) -> bool:
        if name != "packages":
            return bool(desired == observed)
        have = observed or {}
        return all(have.get(p, ABSENT) != ABSENT and (want == INSTALLED or same_version(have.get(p), want))
                   for p, want in desired.items())

    def _query(self, python: str) -> list[str]:
        return ["sh", "-c", QUERY, "sh", python]

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [command_read(self._query(p)) for p in sorted({python_of(r) for r in resources})]

    def _installed(self, target: Target, python: str) -> dict[str, str] | None:
        text = target.run(self._query(python)).check().stdout.decode().strip()
        if text == "NOENV":
            return None
        if text == "NOPIP":
            raise ModuleError(f"{python} on {target.name} has no pip (install python3-pip, or use a virtualenv)")
        try:
            return {canonical(p["name"]): str(p["version"]) for p in json.loads(text or "[]")}
        except (ValueError, KeyError, TypeError):
            raise ModuleError(f"cannot read the output of `{python} -m pip list` on {target.name}") from None

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        envs = {p: self._installed(target, p) for p in sorted({python_of(r) for r in resources})}
        out: dict[str, Observed | None] = {}
        for r in resources:
            installed = envs[python_of(r)] or {}
            mine = {canonical(n): installed.get(canonical(n), ABSENT) for n in names(r)}
            out[r.address] = None if all(v == ABSENT for v in mine.values()) else Observed({"packages": mine})
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        python = python_of(r)
        if r.get("virtualenv") and self._installed(target, python) is None:
            venv_python = str(r.get("virtualenv_python") or "python3")
            target.run([venv_python, "-m", "venv", "--", str(r.get("virtualenv"))], timeout=600).check()
        have = (change.observed.attributes.get("packages") if change.observed is not None else None) or {}
        wanted = self.desired(r)["packages"]
        missing = [n for n in names(r) if not self.equal("packages", {canonical(n): wanted[canonical(n)]}, have)]
        argv = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", *self._source(r),
                *(requirement(n, r.get("version")) for n in missing)]
        target.run(argv, timeout=1800).check()
        return Observed({"packages": wanted})

    @staticmethod
    def _source(r: Resource) -> list[str]:
        out = []
        if r.get("no_index"):
            out.append("--no-index")
        if r.get("index_url"):
            out += ["--index-url", str(r.get("index_url"))]
        if r.get("find_links"):
            out += ["--find-links", str(r.get("find_links"))]
        return out

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        if self._installed(target, python_of(resource)) is None:
            return
        target.run([python_of(resource), "-m", "pip", "uninstall", "-y", "-q", "--", *names(resource)],
                   timeout=600).check()
