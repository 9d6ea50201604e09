"""`validate --strict`: lint rules on a valid spec. Pure: no host, engine or cloud is contacted.

- a resource that writes under a directory another resource manages, without depending on it;
- a secret written in clear in the spec instead of taken from the environment;
- a container or image on a `latest` (or missing) tag.
"""

from __future__ import annotations

import re
from typing import Any

import networkx as nx

from reconciler.model import Diagnostic, Location, Resource
from reconciler.registry import Registry
from reconciler.spec.validate import Validated

PATH_TYPES = ("file", "directory", "symlink", "line_in_file")
SECRET_NAME = re.compile(r"(password|passwd|secret|token|api_?key|private_?key|credential)", re.I)


def lint(validated: Validated, registry: Registry) -> list[Diagnostic]:
    spec, graph = validated.spec, validated.graph
    out: list[Diagnostic] = []
    if not spec.named:
        first = spec.document.files[0] if spec.document.files else spec.document.root
        out.append(Diagnostic(
            f"the spec has no `name:`, so its stack identity is the default {spec.stack}, taken from its "
            "directory name; name it (e.g. `name: shop`) so that no other spec can share the identity",
            Location(first, 1, 1), severity="warning"))

    def report(resource: Resource, message: str, *sub: str | int) -> None:
        path = resource.json_path + tuple(sub)
        out.append(Diagnostic(message, spec.document.locate(path), path, severity="error"))

    directories = [r for r in spec.resources if r.type == "directory" and isinstance(r.get("path"), str)]
    seen: set[str] = set()
    for r in spec.resources:
        if r.type in PATH_TYPES and isinstance(r.get("path"), str):
            for d in directories:
                if d.target == r.target and d.address != r.address and r.get("path").startswith(d.get("path").rstrip("/") + "/"):
                    if not nx.has_path(graph, d.address, r.address):
                        report(r, f"{r.address} writes under {d.get('path')}, which {d.address} manages, but does not "
                                  f"depend on it: add depends_on: [{d.base_address}] or use ${{{d.base_address}.path}}",
                               "path")
        if r.base_address in seen:
            continue
        seen.add(r.base_address)
        raw = _raw(spec.document.data, r)
        secret = registry.module(r.type).secret_attributes(r)
        for key, value in raw.items():
            if (key in secret or SECRET_NAME.search(key)) and _literal(value):
                report(r, f"{key} is a secret written in clear in the spec: take it from the environment "
                          f"({{{{ env.NAME }}}} with NAME listed in vars_from_env)", key)
            if isinstance(value, dict):
                for sub, inner in value.items():
                    if SECRET_NAME.search(str(sub)) and _literal(inner):
                        report(r, f"{key}.{sub} looks like a secret written in clear in the spec: take it from "
                                  "the environment", key, sub)
        image = r.get("image")
        if r.type in ("docker.container", "docker.image") and isinstance(image, str) and "@" not in image:
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            if tag in ("", "latest"):
                report(r, f"image {image!r} uses the {'latest' if tag else 'implicit latest'} tag: pin a version "
                          "or a digest so every host runs the same image", "image")
    return out


def _raw(data: Any, resource: Resource) -> dict[str, Any]:
    try:
        entry = data["resources"][resource.json_path[1]]
        return dict(entry) if isinstance(entry, dict) else {}
    except (KeyError, IndexError, TypeError):
        return {}


def _literal(value: Any) -> bool:
    """A value typed into the spec itself (not a template or reference)."""
    return isinstance(value, (str, int)) and str(value) != "" and "{{" not in str(value) and "${" not in str(value)
