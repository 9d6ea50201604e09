"""A plan in Terraform's plan JSON format 1.2 (`terraform show -json PLANFILE`): `resource_changes`,
`planned_values` and `configuration`, with the AWS provider's type and attribute names (each module's
`to_terraform`), so that conftest policies written for Terraform, and scanners (Checkov, Trivy), read a
reconcile plan as they read Terraform's. Sensitive and ephemeral values are masked (null, with
`after_sensitive` marking them); values known only after apply are null with `after_unknown`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.capabilities import TerraformForm, terraform_objects
from reconciler.model import UNKNOWN, Action, Change, Plan, Resource
from reconciler.module import Module, TerraformObject

FORMAT_VERSION = "1.2"
TERRAFORM_VERSION = "1.11.0"  # the plan format reconcile writes is the one this Terraform writes
PROVIDER = "registry.terraform.io/hashicorp/aws"
_SECRET, _LATER = object(), object()  # stand-ins while mapping, made null and marked afterwards
ACTIONS = {Action.NOOP: ["no-op"], Action.CREATE: ["create"], Action.UPDATE: ["update"], Action.DELETE: ["delete"],
           Action.REPLACE: ["delete", "create"], Action.FORGET: ["no-op"]}


def terraform_plan(plan: Plan, module_of: Callable[[str], Module[Any]], addresses: dict[str, str] | None = None,
                   written: Callable[[Resource], Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The plan as `terraform show -json` would print it (`module_of`: the module of a type). `addresses`,
    when given, is filled with each Terraform address's reconcile address; `written(resource)` gives a
    resource's attributes as the spec writes them, whose `${…}` references become the configuration's."""
    changes: list[dict[str, Any]] = []
    planned: list[dict[str, Any]] = []
    configured: list[dict[str, Any]] = []
    for change in plan.changes:
        module = module_of(change.type)
        after = _objects(module, change.resource) if change.action not in (Action.DELETE, Action.FORGET) else {}
        before = _objects(module, _as_before(change)) if change.observed is not None else {}
        actions = ACTIONS[change.action]
        if change.action is Action.REPLACE and change.resource is not None and \
                change.resource.lifecycle.create_before_destroy:
            actions = ["create", "delete"]
        for key in sorted(set(after) | set(before)):
            kind, suffix = key
            address = _address(change.address, kind, suffix)
            if addresses is not None:
                addresses[address] = change.address
            name = address.split(".", 1)[1].split("[", 1)[0]
            after_values, after_sensitive, after_unknown = _masked(after.get(key))
            before_values, before_sensitive, _ = _masked(before.get(key))
            own = actions if key in after or not after else ["delete"]
            if key not in before and own == ["update"]:
                own = ["create"]
            entry = {"address": address, "mode": "managed", "type": kind, "name": name,
                     "provider_name": PROVIDER if kind.startswith("aws_") else f"reconcile/{change.type}",
                     "change": {"actions": own, "before": before_values if key in before else None,
                                "after": after_values if key in after else None,
                                "after_unknown": after_unknown, "before_sensitive": before_sensitive,
                                "after_sensitive": after_sensitive}}
            if "[" in address:
                entry["index"] = address.split("[", 1)[1].rstrip("]").strip('"')
            changes.append(entry)
            if key in after:
                planned.append({"address": address, "mode": "managed", "type": kind, "name": name,
                                "provider_name": entry["provider_name"], "schema_version": 0,
                                "values": after_values, "sensitive_values": after_sensitive})
                references = _references(module, change.resource, written, module_of) if not suffix else {}
                configured.append(_configuration(address, kind, name, after_values, change.resource, references))
    return {"format_version": FORMAT_VERSION, "terraform_version": TERRAFORM_VERSION,
            "planned_values": {"root_module": {"resources": planned}},
            "resource_changes": changes,
            "configuration": {"provider_config": {"aws": {"name": "aws", "full_name": PROVIDER}},
                              "root_module": {"resources": configured}},
            "errored": bool(plan.failures)}


def _as_before(change: Change) -> Resource | None:
    """What is there now, as a resource (the observed values, over the last applied ones)."""
    base = change.going_resource
    if base is None or change.observed is None:
        return None
    return Resource(base.address, base.type, base.name, base.target, {**base.attributes, **change.observed.attributes},
                    sensitive=base.sensitive, ephemeral=base.ephemeral)


def _objects(module: Module[Any], resource: Resource | None) -> dict[tuple[str, str], Mapping[str, Any]]:
    if resource is None:
        return {}
    hidden = set(resource.sensitive) | set(resource.ephemeral)
    values = {k: (_SECRET if k in hidden and v is not None else _LATER if v is UNKNOWN else v)
              for k, v in resource.attributes.items()}
    found: Sequence[TerraformObject] = terraform_objects(module, values)
    return {(o.type, o.suffix): o.values for o in found}


def _address(address: str, kind: str, suffix: str) -> str:
    """reconcile's `type.name[key]` as Terraform's `aws_type.name_suffix["key"]`."""
    base, bracket, key = address.partition("[")
    name = base.rsplit(".", 1)[-1] + suffix
    return f'{kind}.{name}' + (f'["{key.rstrip("]")}"]' if bracket else "")


def _masked(values: Mapping[str, Any] | None) -> tuple[Any, Any, Any]:
    """(values with secrets and unknowns as null, where secrets were, where unknowns were)."""
    def walk(value: Any) -> tuple[Any, Any, Any]:
        if value is _SECRET:
            return None, True, False
        if value is _LATER or value is UNKNOWN:
            return None, False, True
        if isinstance(value, Mapping):
            parts = {k: walk(v) for k, v in value.items()}
            return ({k: p[0] for k, p in parts.items()}, {k: p[1] for k, p in parts.items() if p[1]},
                    {k: p[2] for k, p in parts.items() if p[2]})
        if isinstance(value, (list, tuple)):
            items = [walk(v) for v in value]
            return ([i[0] for i in items], [i[1] if i[1] else False for i in items],
                    [i[2] if i[2] else False for i in items])
        return value, False, False

    if values is None:
        return None, {}, {}
    plain, secret, later = walk(dict(values))
    return plain, secret, later


def _references(module: Module[Any], resource: Resource | None,
                written: Callable[[Resource], Mapping[str, Any]] | None,
                module_of: Callable[[str], Module[Any]]) -> dict[str, list[str]]:
    """The provider's attribute -> what it refers to, Terraform's way: ["aws_vpc.main.id", "aws_vpc.main"]."""
    from reconciler.spec.refs import find

    if resource is None or written is None:
        return {}
    out: dict[str, list[str]] = {}
    for key, value in written(resource).items():
        found: list[str] = []
        for _, text in find(value):
            target = _terraform_reference(text.strip(), module_of)
            if target:
                found += [t for t in target if t not in found]
        if found:
            out[_names(module).get(key, key)] = found
    return out


def _names(module: Module[Any]) -> Mapping[str, str]:
    """reconcile's attribute -> the provider's, where they differ (none for a type with no Terraform form)."""
    return module.terraform_names if isinstance(module, TerraformForm) else {}


def _terraform_reference(text: str, module_of: Callable[[str], Module[Any]]) -> list[str]:
    """`aws.vpc.main.id` as ["aws_vpc.main.id", "aws_vpc.main"]; [] for what is not a resource's attribute."""
    parts = text.split(".")
    for width in (2, 1):
        if len(parts) <= width:
            continue
        try:
            module = module_of(".".join(parts[:width]))
        except KeyError:  # no type of this width: the other one is tried
            continue
        kind = module.terraform_types[0] if isinstance(module, TerraformForm) and module.terraform_types \
            else module.type_name
        name, rest = parts[width].split("[", 1)[0], parts[width + 1:]
        attribute = _names(module).get(rest[0], rest[0]) if rest else ""
        return [f"{kind}.{name}.{attribute}", f"{kind}.{name}"] if attribute else [f"{kind}.{name}"]
    return []


def _configuration(address: str, kind: str, name: str, values: Mapping[str, Any] | None,
                   resource: Resource | None, references: Mapping[str, list[str]]) -> dict[str, Any]:
    expressions: dict[str, Any] = {k: {"constant_value": v} for k, v in (values or {}).items()
                                   if v is not None and k not in references}
    expressions |= {k: {"references": list(v)} for k, v in references.items()}
    out: dict[str, Any] = {"address": address, "mode": "managed", "type": kind, "name": name,
                           "provider_config_key": "aws", "expressions": expressions, "schema_version": 0}
    if resource is not None and resource.depends_on:
        out["depends_on"] = sorted(resource.depends_on)
    return out
