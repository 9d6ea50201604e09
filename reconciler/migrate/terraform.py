"""`reconcile migrate terraform`: a Terraform state becomes a reconcile spec plus an adoption state.

Reads `terraform show -json` output or a `terraform.tfstate` file (format version 4). Each resource of a
type reconcile has becomes a resource of the spec, with Terraform's attribute names mapped to ours; a
value that is another migrated object's id or ARN becomes a `${…}` reference to it (Terraform's state
keeps values, not expressions, so this is how its references come back). Every object is recorded in
the adoption state as found, by its id: the first `reconcile plan` reads them where they are, and a
resource later removed from the spec is released, not destroyed. Types with no counterpart are listed
with their addresses, never dropped silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcileError
from reconciler.registry import Registry


@dataclass(frozen=True)
class TfResource:
    address: str  # Terraform's: module.net.aws_vpc.main["a"]
    type: str
    name: str
    index: Any  # count index or for_each key, None for a single instance
    module: str  # "module.net" or ""
    values: Mapping[str, Any]
    dependencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Migrated:
    address: str  # ours
    type: str
    name: str
    attributes: dict[str, Any]
    object_id: str  # what `reconcile state import` would take
    source: str  # Terraform's address
    secrets: dict[str, str] = field(default_factory=dict)  # attribute -> environment variable to set


@dataclass(frozen=True)
class Migration:
    resources: tuple[Migrated, ...]
    unsupported: tuple[str, ...]  # Terraform addresses (with their type) that have no counterpart
    merged: tuple[str, ...]  # Terraform addresses folded into another resource (e.g. bucket versioning)
    region: str | None
    notes: tuple[str, ...] = ()


def read_state(path: Path) -> list[TfResource]:
    """The managed resources of a Terraform state file or `terraform show -json` output."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReconcileError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReconcileError(f"{path}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg}); give a terraform.tfstate "
                             "file or the output of `terraform show -json`") from None
    if not isinstance(document, dict):
        raise ReconcileError(f"{path}:1:1: not a Terraform state (a JSON object is expected)")
    if "format_version" in document and "values" in document or "format_version" in document:
        return _from_show_json(document.get("values") or {})
    version = document.get("version")
    if version == 4:
        return _from_tfstate(document)
    line, col = _locate(text, '"version"')
    if version is None:
        raise ReconcileError(f"{path}:1:1: not a Terraform state: it has neither `version` (terraform.tfstate) "
                             "nor `format_version` (terraform show -json)")
    raise ReconcileError(f"{path}:{line}:{col}: Terraform state format version {version!r} is not supported "
                         "(version 4 is, written by Terraform 0.12 and later): run `terraform show -json > "
                         "state.json` with a current Terraform and migrate that")


def _locate(text: str, needle: str) -> tuple[int, int]:
    at = text.find(needle)
    if at < 0:
        return 1, 1
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1


def _from_show_json(values: Mapping[str, Any]) -> list[TfResource]:
    out: list[TfResource] = []

    def walk(module: Mapping[str, Any], prefix: str) -> None:
        for r in module.get("resources") or []:
            if r.get("mode") != "managed":
                continue
            out.append(TfResource(str(r["address"]), str(r["type"]), str(r["name"]), r.get("index"), prefix,
                                  r.get("values") or {}, tuple(r.get("depends_on") or ())))
        for child in module.get("child_modules") or []:
            walk(child, str(child.get("address") or prefix))

    walk(values.get("root_module") or {}, "")
    return out


def _from_tfstate(document: Mapping[str, Any]) -> list[TfResource]:
    out: list[TfResource] = []
    for r in document.get("resources") or []:
        if r.get("mode") != "managed":
            continue
        module = str(r.get("module") or "")
        for instance in r.get("instances") or []:
            index = instance.get("index_key")
            base = f"{module + '.' if module else ''}{r['type']}.{r['name']}"
            address = base + (f"[{json.dumps(index)}]" if index is not None else "")
            out.append(TfResource(address, str(r["type"]), str(r["name"]), index, module,
                                  instance.get("attributes") or {}, tuple(instance.get("dependencies") or ())))
    return out


_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def our_name(r: TfResource) -> str:
    """`module.net.aws_vpc.main["a"]` -> `net_main_a`: a name our addresses accept."""
    parts = [p for p in r.module.replace("module.", "").split(".") if p] + [r.name]
    if r.index is not None:
        parts.append(str(r.index))
    return _NAME.sub("_", "_".join(parts)).strip("_") or "resource"


def migrate(resources: list[TfResource], registry: Registry) -> Migration:
    """Each resource of a type some installed module takes over (its `terraform_types`) as that type's spec
    entry; the configuration parts of such objects (`terraform_parts`) folded into them; the rest listed."""
    owners: dict[str, str] = {}
    parts: dict[str, str] = {}
    for type_name in registry.types:
        declared = registry.module_class(type_name)
        owners.update({t: type_name for t in declared.terraform_types})
        parts.update({t: type_name for t in declared.terraform_parts})
    migrated: list[Migrated] = []
    unsupported: list[str] = []
    merged: list[str] = []
    notes: list[str] = []
    region = None
    by_id: dict[tuple[str, str], Migrated] = {}
    taken: set[str] = set()
    for r in resources:
        if r.type in parts:
            continue
        if r.type not in owners:
            unsupported.append(f"{r.address} ({r.type})")
            continue
        kind = owners[r.type]
        name = our_name(r)
        while f"{kind}.{name}" in taken:
            name += "_"
        taken.add(f"{kind}.{name}")
        adopted = registry.module(kind).from_terraform(r.values, name)
        notes += adopted.notes
        arn = str(r.values.get("arn") or "")
        if region is None and arn.count(":") >= 4 and arn.split(":")[3]:
            region = arn.split(":")[3]
        item = Migrated(f"{kind}.{name}", kind, name, dict(adopted.attributes), adopted.object_id, r.address,
                        dict(adopted.secrets))
        migrated.append(item)
        by_id[(kind, adopted.object_id)] = item
    for r in resources:
        if r.type not in parts:
            continue
        kind = parts[r.type]
        module = registry.module(kind)
        key = module.terraform_part_key(r.values)
        target = by_id.get((kind, key)) if key else None
        if target is None:
            unsupported.append(f"{r.address} ({r.type}: the object it configures is not in this state)")
            continue
        module.merge_terraform_part(target.attributes, r.type, r.values)
        merged.append(f"{r.address} (into {target.address})")
    return Migration(tuple(_with_references(migrated, resources, registry)), tuple(unsupported), tuple(merged),
                     region, tuple(notes))


def _with_references(migrated: list[Migrated], resources: list[TfResource], registry: Registry) -> list[Migrated]:
    """Values that are another migrated object's id or ARN, written as references to it (where our type
    exposes that attribute)."""
    values = {r.address: r.values for r in resources}
    known: dict[str, str] = {}
    for m in migrated:
        for key in ("id", "arn"):
            value = values[m.source].get(key)
            if isinstance(value, str) and value and key in registry.attribute_names(m.type):
                known.setdefault(value, "${" + f"{m.address}.{key}" + "}")

    def swap(value: Any, own: str) -> Any:
        if isinstance(value, str):
            ref = known.get(value)
            return ref if ref is not None and not ref.startswith("${" + own + ".") else value
        if isinstance(value, list):
            return [swap(v, own) for v in value]
        if isinstance(value, dict):
            return {k: swap(v, own) for k, v in value.items()}
        return value

    out = []
    for m in migrated:
        attributes = {k: (v if k in ("tags",) else swap(v, m.address)) for k, v in m.attributes.items()}
        out.append(Migrated(m.address, m.type, m.name, attributes, m.object_id, m.source, m.secrets))
    return out
