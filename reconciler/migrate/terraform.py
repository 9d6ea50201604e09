"""`reconcile migrate terraform`: a Terraform state becomes a reconcile spec plus an adoption state.

Each resource of a type reconcile has becomes a resource of the spec, with Terraform's attribute names
mapped to ours (the type's `from_terraform`). Terraform's split resources (a security group's rules, a
route table's routes and associations, a bucket's versioning or policy, a role's policy attachments…)
are folded into the object they configure; one that cannot be folded leaves the attribute it belongs to
unmanaged (`lifecycle.ignore_changes`, with a note), so nothing live is ever emptied or revoked. A value
that is another migrated object's id or ARN becomes a `${…}` reference (Terraform's state keeps values,
not expressions). Literal values stay literal (template and reference syntax escaped); values Terraform
marks sensitive are read from the environment, never written. What a resource sets and reconcile does
not carry is listed per resource, and types with no counterpart are listed with their addresses.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.capabilities import TerraformForm
from reconciler.migrate.tfstate import MalformedEntry, Path_, TfResource
from reconciler.module import NotCarried
from reconciler.registry import Registry

# Attributes the AWS provider derives for (nearly) every type: never carried, never reported.
COMPUTED = frozenset({
    "id", "arn", "tags_all", "owner_id", "timeouts", "unique_id", "create_date", "creation_date", "region",
    "name_prefix", "url", "dns_name", "zone_id", "name_servers", "latest_version", "default_version", "version",
    "status", "state", "availability_zone_id", "hosted_zone_id", "endpoint", "address", "port", "resource_id",
    "last_modified", "qualified_arn", "invoke_arn", "qualified_invoke_arn", "source_code_size", "signing_job_arn",
    "signing_profile_version_arn", "code_sha256", "source_code_hash", "filename", "key_id", "domain", "policy_id",
    "association_id", "network_interface_id", "private_ip", "public_ip", "public_dns", "private_dns",
})


@dataclass(frozen=True)
class Migrated:
    address: str  # ours
    type: str
    name: str
    attributes: dict[str, Any]
    object_id: str  # what `reconcile state import` would take
    source: str  # Terraform's address
    secrets: dict[str, str] = field(default_factory=dict)  # attribute -> environment variable to set
    unmanaged: dict[str, str] = field(default_factory=dict)  # attribute left to the world -> why
    files: dict[str, str] = field(default_factory=dict)  # file the spec needs beside it -> Terraform's own path
    identity: dict[str, Any] = field(default_factory=dict)  # recorded in the adoption state beside the id


@dataclass(frozen=True)
class Migration:
    resources: tuple[Migrated, ...]
    unsupported: tuple[str, ...]  # Terraform addresses (with their type) that have no counterpart
    merged: tuple[str, ...]  # Terraform addresses folded into another resource (e.g. bucket versioning)
    region: str | None
    notes: tuple[str, ...] = ()
    not_carried: tuple[str, ...] = ()  # per resource: the settings it has that reconcile does not carry


class _Reads(Mapping[str, Any]):
    """A resource's values that remember which ones a type's from_terraform looked at."""

    def __init__(self, values: Mapping[str, Any]):
        self._values = values
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self._values.get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def our_name(r: TfResource) -> str:
    """`module.net.aws_vpc.main["a"]` -> `net_main_a`: a name our addresses accept."""
    parts = [p for p in r.module.replace("module.", "").split(".") if p] + [r.name]
    if r.index is not None:
        parts.append(str(r.index))
    return _NAME.sub("_", "_".join(parts)).strip("_") or "resource"


def _set(value: Any) -> bool:
    """A value worth reporting when it is not carried: Terraform writes unset ones as null, "", [], 0 or false,
    and unset nested blocks as lists of such."""
    if isinstance(value, dict):
        return any(_set(v) for v in value.values())
    if isinstance(value, list):
        return any(_set(v) for v in value)
    return value not in (None, "", False, 0)


def terraform_form(registry: Registry, type_name: str) -> TerraformForm:
    """The module of a type that has a Terraform form (only such types own Terraform resources here)."""
    module = registry.module(type_name)
    assert isinstance(module, TerraformForm), type_name
    return module


def migrate(resources: list[TfResource], registry: Registry) -> Migration:
    """Each resource of a type some installed module takes over (its `terraform_types`) as that type's spec
    entry; the configuration parts of such objects (`terraform_parts`) folded into them; the rest listed."""
    owners, parts = _takers(registry)
    run = _Migrating(registry)
    for r in resources:
        if r.type in owners:
            run.adopt(r, owners[r.type])
        elif r.type not in parts:
            run.unsupported.append(f"{r.address} ({r.type})")
    for r in resources:
        if r.type in parts and r.type not in owners:
            run.fold(r, parts[r.type])
    finished = [_left_unmanaged(m, registry.attribute_names(m.type)) for m in run.migrated]
    finished = [_without_secrets(m, next(r for r in resources if r.address == m.source)) for m in finished]
    for m in finished:
        names = registry.attribute_names(m.type)
        run.notes += [f"{m.address}: {attribute} is left unmanaged"
                      + (" (lifecycle.ignore_changes)" if attribute in names else "") + f": {why}"
                      for attribute, why in sorted(m.unmanaged.items())]
    return Migration(tuple(_with_references(finished, resources, registry)), tuple(run.unsupported),
                     tuple(run.merged), region_of(resources), tuple(run.notes), tuple(run.not_carried))


def _takers(registry: Registry) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Terraform type -> the reconcile type that takes its objects; Terraform part type -> the reconcile
    types whose objects it configures."""
    owners: dict[str, str] = {}
    parts: dict[str, list[str]] = {}
    for type_name in registry.types:
        declared = registry.module_class(type_name)
        if not issubclass(declared, TerraformForm):
            continue
        owners.update({t: type_name for t in declared.terraform_types})
        for t in declared.terraform_parts:
            parts.setdefault(t, []).append(type_name)
    return owners, parts


class _Migrating:
    """A migration in progress: what became a spec entry, what was folded into one, and what was not."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self.migrated: list[Migrated] = []
        self.unsupported: list[str] = []
        self.merged: list[str] = []
        self.notes: list[str] = []
        self.not_carried: list[str] = []
        self.by_id: dict[tuple[str, str], Migrated] = {}
        self.taken: set[str] = set()

    def adopt(self, r: TfResource, kind: str) -> None:
        """`r` as a spec entry of `kind`, under a name no other entry of the kind has."""
        module = terraform_form(self.registry, kind)
        name = our_name(r)
        while f"{kind}.{name}" in self.taken:
            name += "_"
        reads = _Reads(r.values)
        try:
            adopted = module.from_terraform(reads, name)
        except NotCarried as exc:
            self.unsupported.append(f"{r.address} ({r.type}: {exc.reason})")
            return
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise MalformedEntry(r.where, f"{r.address}: not a state entry of {r.type} as Terraform's AWS provider "
                                          f"writes it ({type(exc).__name__}: {exc})") from None
        self.taken.add(f"{kind}.{name}")
        self.notes += adopted.notes
        defaults = module.terraform_defaults
        left = sorted(k for k, v in r.values.items() if k not in reads.read and k not in COMPUTED
                      and k not in module.terraform_computed and _set(v) and (k not in defaults or v != defaults[k]))
        if left:
            self.not_carried.append(f"{r.address}: {', '.join(left)} (not a setting of {kind})")
        attributes = literal(dict(adopted.attributes))  # Terraform's values as text, never evaluated
        attributes.update({attribute: "{{ env." + variable + " }}" for attribute, variable in adopted.secrets.items()})
        item = Migrated(f"{kind}.{name}", kind, name, attributes, adopted.object_id,
                        r.address, dict(adopted.secrets), dict(adopted.unmanaged), dict(adopted.files),
                        dict(adopted.identity))
        self.migrated.append(item)
        self.by_id[(kind, adopted.object_id)] = item

    def fold(self, r: TfResource, kinds: list[str]) -> None:
        """`r`, a part of an object of one of `kinds` (a policy attachment, a rule), into that object's entry."""
        target = None
        for kind in kinds:
            try:
                key = terraform_form(self.registry, kind).terraform_part_key(r.type, r.values)
            except (TypeError, ValueError, AttributeError) as exc:
                raise MalformedEntry(r.where, f"{r.address}: not a state entry of {r.type} ({exc})") from None
            target = self.by_id.get((kind, key)) if key else None
            if target is not None:
                break
        if target is None:
            self.unsupported.append(f"{r.address} ({r.type}: the object it configures is not in this state)")
            return
        try:
            terraform_form(self.registry, target.type).merge_terraform_part(target.attributes, r.type,
                                                                      literal(dict(r.values)))
            self.merged.append(f"{r.address} (into {target.address})")
        except NotCarried as exc:
            target.unmanaged.setdefault(exc.attribute, f"{r.address}: {exc.reason}")
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise MalformedEntry(r.where, f"{r.address}: not a state entry of {r.type} as Terraform's AWS provider "
                                          f"writes it ({type(exc).__name__}: {exc})") from None


def _left_unmanaged(m: Migrated, names: frozenset[str]) -> Migrated:
    """An attribute that could not be carried whole is not managed at all: never emptied, never revoked
    (and said so with `lifecycle.ignore_changes`, where it is an attribute of the type)."""
    if not m.unmanaged:
        return m
    attributes = {k: v for k, v in m.attributes.items() if k not in m.unmanaged}
    ignored = sorted(set(attributes.get("lifecycle", {}).get("ignore_changes", [])) | (set(m.unmanaged) & names))
    if ignored:
        attributes["lifecycle"] = {**attributes.get("lifecycle", {}), "ignore_changes": ignored}
    return _with(m, attributes)


def _with(m: Migrated, attributes: dict[str, Any], secrets: dict[str, str] | None = None) -> Migrated:
    return Migrated(m.address, m.type, m.name, attributes, m.object_id, m.source,
                    m.secrets if secrets is None else secrets, m.unmanaged, m.files, m.identity)


def region_of(resources: list[TfResource]) -> str | None:
    """The region most of the objects are in: a bucket's `region`, else the region part of the ARNs."""
    seen: Counter[str] = Counter()
    for r in resources:
        region = r.values.get("region")
        arn = r.values.get("arn")
        if isinstance(region, str) and re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region):
            seen[region] += 1
        elif isinstance(arn, str) and arn.count(":") >= 4 and arn.split(":")[3]:
            seen[arn.split(":")[3]] += 1
    return seen.most_common(1)[0][0] if seen else None


_TEMPLATE = re.compile(r"\{[{%#]")


def literal(value: Any) -> Any:
    """A value from Terraform's state as the spec must write it to mean exactly that text: `${` as `$${`,
    and template syntax ({{ {% {#) inside a raw block, so nothing is ever evaluated."""
    if isinstance(value, str):
        text = value.replace("${", "$${")
        if _TEMPLATE.search(text):
            if "endraw" in text:
                return "{{ " + repr(value) + " }}"  # the rare text that holds the raw block's end itself
            return "{% raw %}" + text + "{% endraw %}"
        return text
    if isinstance(value, list):
        return [literal(v) for v in value]
    if isinstance(value, dict):
        return {k: literal(v) for k, v in value.items()}
    return value


def _leaves(values: Any, path: Path_) -> list[str]:
    """The text values at `path` (and below it)."""
    node = values
    for step in path:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            return []
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str) and v:
            out.append(v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(str(v))
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(node)
    return out


def _without_secrets(m: Migrated, r: TfResource) -> Migrated:
    """Every value Terraform marks sensitive becomes `{{ env.VAR }}` (marked `sensitive:`): never written."""
    secrets = {s for path in r.sensitive for s in _leaves(r.values, path)}
    secrets |= {literal(s) for s in set(secrets)}
    if not secrets:
        return m
    found: dict[str, str] = dict(m.secrets)
    marked: set[str] = set()

    def variable(attribute: str) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "_", f"{m.name}_{attribute}").upper()

    def swap(value: Any, attribute: str, key: str) -> Any:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value) in secrets:
            name = variable(f"{attribute}_{key}" if key else attribute)
            found.setdefault(key and f"{attribute}.{key}" or attribute, name)
            marked.add(attribute)
            return "{{ env." + name + " }}"
        if isinstance(value, list):
            return [swap(v, attribute, f"{key}_{i}" if key else str(i)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: swap(v, attribute, f"{key}_{k}" if key else str(k)) for k, v in value.items()}
        return value

    attributes = {k: (v if k in ("lifecycle",) else swap(v, k, "")) for k, v in m.attributes.items()}
    if marked:
        attributes["sensitive"] = sorted(set(attributes.get("sensitive", [])) | marked)
    return _with(m, attributes, found)


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
        attributes = {k: (v if k in ("tags", "lifecycle", "sensitive") else swap(v, m.address))
                      for k, v in m.attributes.items()}
        out.append(_with(m, attributes))
    return out
