"""`validate --strict`: lint rules on a valid spec. Pure: no host, engine or cloud is contacted.

Engine rules, on what every module declares through the contract:
- a resource whose path() lies under the path of one that holds paths (a directory), on the same target,
  without depending on it;
- a secret written in clear in the spec instead of taken from the environment;
- a spec without a name.
Then each module's own rules (Module.lint), e.g. a container or image on a `latest` tag.
"""

from __future__ import annotations

import re
from typing import Any

import networkx as nx

from reconciler.diagnostics import Diagnostic, Location
from reconciler.model import Resource
from reconciler.registry import Registry
from reconciler.spec.load import display_path
from reconciler.spec.validate import Validated

SECRET_NAME = re.compile(r"(password|passwd|secret|token|api_?key|private_?key|credential)", re.I)


def lint(validated: Validated, registry: Registry) -> list[Diagnostic]:
    spec, graph = validated.spec, validated.graph
    out: list[Diagnostic] = []
    if not spec.named:
        first = spec.document.files[0] if spec.document.files else spec.document.root
        out.append(Diagnostic(
            f"the spec has no `name:`, so its stack identity is the default {spec.stack}, taken from its "
            "directory name; name it (e.g. `name: shop`) so that no other spec can share the identity",
            Location(display_path(first), 1, 1), severity="warning"))

    def report(resource: Resource, message: str, *sub: str | int) -> None:
        path = resource.json_path + tuple(sub)
        out.append(Diagnostic(message, spec.document.locate(path), path, severity="error"))

    paths: dict[str, str] = {}
    holders: list[tuple[Resource, str]] = []
    for r in spec.resources:
        module = registry.module(r.type)
        path = module.path(r)
        if path:
            paths[r.address] = path
            if module.holds_paths:
                holders.append((r, path))
    seen: set[str] = set()
    for r in spec.resources:
        path = paths.get(r.address, "")
        for holder, root in holders if path else ():
            if holder.target == r.target and holder.address != r.address and path.startswith(root.rstrip("/") + "/"):
                if not nx.has_path(graph, holder.address, r.address):
                    report(r, f"{r.address} writes under {root}, which {holder.address} manages, but does not "
                              f"depend on it: add depends_on: [{holder.base_address}] or use "
                              f"${{{holder.base_address}.path}}", "path")
        if r.base_address in seen:
            continue
        seen.add(r.base_address)
        module = registry.module(r.type)
        raw = _raw(spec.document.data, r)
        secret = module.secret_attributes(r)
        for key, value in raw.items():
            if (key in secret or SECRET_NAME.search(key)) and _literal(value):
                report(r, f"{key} is a secret written in clear in the spec: take it from the environment "
                          f"({{{{ env.NAME }}}} with NAME listed in vars_from_env)", key)
            if isinstance(value, dict):
                for sub, inner in value.items():
                    if SECRET_NAME.search(str(sub)) and _literal(inner):
                        report(r, f"{key}.{sub} looks like a secret written in clear in the spec: take it from "
                                  "the environment", key, sub)
        for finding in module.lint(r):
            report(r, finding.message, *finding.at)
    return out


def _raw(data: Any, resource: Resource) -> dict[str, Any]:
    entry = data
    for key in resource.json_path:  # a component's entry is under components[i]["(component)"]
        try:
            entry = entry[key]
        except (KeyError, IndexError, TypeError):
            return {}
    return dict(entry) if isinstance(entry, dict) else {}


def _literal(value: Any) -> bool:
    """A value typed into the spec itself (not a template or reference)."""
    return isinstance(value, (str, int)) and str(value) != "" and "{{" not in str(value) and "${" not in str(value)
