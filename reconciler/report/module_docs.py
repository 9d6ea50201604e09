"""Module documentation from the schemas and the module classes, like `ansible-doc`: `reconcile docs`
lists the types, `reconcile docs TYPE` shows one; `make docs` writes the same pages to docs/modules/."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import ReconcileError
from reconciler.registry import Registry
from reconciler.spec import refs


@dataclass(frozen=True)
class Attribute:
    name: str
    kind: str
    description: str
    required: bool = False
    default: Any = None
    sensitive: bool = False
    forces_replace: bool = False
    computed: bool = False


@dataclass(frozen=True)
class TypeDoc:
    type_name: str
    family: str
    origin: str
    description: str
    attributes: tuple[Attribute, ...]
    examples: tuple[Mapping[str, Any], ...]
    # what the example needs to be a whole spec: the resources it refers to, the env names it reads
    supporting: tuple[Mapping[str, Any], ...] = ()
    env_names: tuple[str, ...] = ()
    data_source: bool = False  # a `data:` lookup, read as ${data.TYPE.NAME.ATTRIBUTE}
    terraform_notes: tuple[str, ...] = ()  # where reconcile's defaults or shape differ from the AWS provider's
    ansible_notes: tuple[str, ...] = ()  # where reconcile chooses differently from Ansible's module, on purpose

    @property
    def summary(self) -> str:
        return first_sentence(self.description)

    @property
    def page(self) -> str:
        return f"data.{self.type_name}.md" if self.data_source else f"{self.type_name}.md"


ABBREVIATIONS = ("e.g", "i.e", "etc", "vs", "cf", "approx")


def first_sentence(text: str) -> str:
    """The description's first sentence, whole: it ends at a full stop followed by a space and a capital
    (or the end), never inside "e.g." or a version number."""
    for found in re.finditer(r"\.(?=\s+[A-Z(`]|\s*$)", text):
        before = text[:found.start()]
        if before.rsplit(" ", 1)[-1].lower().rstrip(".") in ABBREVIATIONS:
            continue
        return before.strip()
    return text.strip().rstrip(".")


def doc_of(registry: Registry, name: str) -> TypeDoc:
    """A resource type's documentation, or a data source's (`aws.ami`, `stack_output`, `data.aws.ami`)."""
    bare = name.removeprefix("data.")
    if name.startswith("data.") or (name not in registry and bare in registry.data_types):
        return data_doc(registry, bare)
    return type_doc(registry, name)


def data_doc(registry: Registry, type_name: str) -> TypeDoc:
    """A data source: the query's attributes, then what a read provides."""
    if type_name not in registry.data_types:
        raise ReconcileError(f"unknown data source {type_name!r}; `reconcile docs` lists them")
    schema = registry.data_schema(type_name)
    source = type(registry.data_source(type_name))
    required = set(schema.get("required", []))
    attributes = [Attribute(name, _kind(prop, schema.get("$defs", {})), str(prop.get("description") or ""),
                            required=name in required, default=prop.get("default"))
                  for name, prop in schema.get("properties", {}).items()]
    attributes += [Attribute(name, "", f"Read by the lookup; readable as ${{data.{type_name}.NAME.{name}}}.",
                             computed=True, sensitive=name in source.sensitive)
                   for name in sorted(source.provides - set(schema.get("properties", {})))]
    return TypeDoc(type_name, source.family, registry.data_entry(type_name).origin,
                   str(schema.get("description", "")), tuple(attributes), tuple(schema.get("examples", ())),
                   data_source=True)


def _kind(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    if "$ref" in schema:
        target = defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
        return _kind({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, defs)
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        return f"list of {_kind(schema.get('items', {}), defs)}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"mapping of {_kind(schema['additionalProperties'], defs)}"
    if "oneOf" in schema:
        return " or ".join(_kind(s, defs) for s in schema["oneOf"])
    return str(kind or "any")


def type_doc(registry: Registry, type_name: str) -> TypeDoc:
    if type_name not in registry:
        broken = registry.broken_reason(type_name)
        if broken:
            raise ReconcileError(f"resource type {type_name!r} cannot be documented: its plugin {broken}")
        close = registry.suggest(type_name)
        raise ReconcileError(f"unknown resource type {type_name!r}" + (f" (did you mean {close}?)" if close else "")
                             + "; `reconcile docs` lists them")
    schema = registry.schema(type_name)
    module = registry.module_class(type_name)
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    attributes = [
        Attribute(name, _kind(prop, defs), str(prop.get("description") or defs.get(
            str(prop.get("$ref", "")).rsplit("/", 1)[-1], {}).get("description") or ""),
            required=name in required, default=prop.get("default"), sensitive=name in module.sensitive,
            forces_replace=name in module.requires_replace)
        for name, prop in schema.get("properties", {}).items()
    ]
    attributes += [Attribute(name, "", "Known once the object exists; readable as "
                             f"${{{type_name}.NAME.{name}}}.", computed=True)
                   for name in sorted(module.computed - set(schema.get("properties", {})))]
    examples = tuple(schema.get("examples", ()))
    supporting, env_names = _supporting(registry, type_name, examples[0]) if examples else ((), ())
    return TypeDoc(type_name, module.family, registry.entry(type_name).origin, str(schema.get("description", "")),
                   tuple(attributes), examples, supporting, env_names,
                   terraform_notes=tuple(str(n) for n in schema.get("x-coming-from-terraform") or ()),
                   ansible_notes=tuple(str(n) for n in schema.get("x-coming-from-ansible") or ()))


_ENV = re.compile(r"\benv\.([A-Za-z_][A-Za-z0-9_]*)")


def _supporting(registry: Registry, type_name: str, example: Mapping[str, Any]
                ) -> tuple[tuple[Mapping[str, Any], ...], tuple[str, ...]]:
    """The resources an example refers to (`${TYPE.NAME…}`, trigger lists), each from its own type's first
    example, so that the example is a spec that validates; and the environment variables it reads."""
    made: dict[str, Mapping[str, Any]] = {}
    env: set[str] = set()
    todo: list[tuple[str, Mapping[str, Any]]] = [(type_name, example)]
    while todo and len(made) < 10:
        kind, entry = todo.pop()
        text = json.dumps(entry)
        env.update(_ENV.findall(text))
        wanted = set()
        for _, inner in refs.find(dict(entry)):
            try:
                ref = refs.parse(inner, registry.reference_types)
            except ValueError:
                continue
            wanted.add((ref.type, ref.name))
        trigger = registry.module_class(kind).trigger_attribute if kind in registry else None
        for written in (entry.get(trigger) or []) if trigger else []:
            other, _, name = str(written).rpartition(".")
            wanted.add((other, name))
        for other, name in sorted(wanted):
            if other not in registry or f"{other}.{name}" in made or (other, name) == (type_name, "example"):
                continue
            examples = registry.schema(other).get("examples") or [{}]
            made[f"{other}.{name}"] = {"type": other, "name": name, **examples[0]}
            todo.append((other, examples[0]))
    return tuple(made.values()), tuple(sorted(env))


def _flags(a: Attribute) -> str:
    flags = [f for f, on in (("required", a.required), ("sensitive", a.sensitive),
                             ("forces replacement", a.forces_replace), ("computed", a.computed)) if on]
    if a.default is not None:
        flags.append(f"default {json.dumps(a.default)}")
    return ", ".join(flags)


class _Dumper(yaml.SafeDumper):
    """YAML as a person writes it: a text of several lines as a literal block (`|`)."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _text)


def example_yaml(doc: TypeDoc) -> str:
    if not doc.examples:
        return ""
    entry = {"type": doc.type_name, "name": "example", **doc.examples[0]}
    spec: dict[str, Any] = {"vars_from_env": list(doc.env_names)} if doc.env_names else {}
    spec["data" if doc.data_source else "resources"] = [entry, *doc.supporting]
    return yaml.dump(spec, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


def render_text(doc: TypeDoc) -> str:
    kind = "data source" if doc.data_source else doc.family
    lines = [f"{doc.type_name}  ({kind}; from {doc.origin})", "", doc.description, "", "ATTRIBUTES", ""]
    for a in doc.attributes:
        flags = _flags(a)
        lines.append(f"  {a.name}  ({'; '.join(part for part in (a.kind, flags) if part)})")
        if a.description:
            lines.append(f"      {a.description}")
    if doc.terraform_notes:
        lines += ["", "COMING FROM TERRAFORM", "", *(f"  - {note}" for note in doc.terraform_notes)]
    if doc.ansible_notes:
        lines += ["", "COMING FROM ANSIBLE", "", *(f"  - {note}" for note in doc.ansible_notes)]
    example = example_yaml(doc)
    if example:
        lines += ["", "EXAMPLE", "", *("  " + line for line in example.rstrip("\n").splitlines())]
    return "\n".join(lines) + "\n"


def render_markdown(doc: TypeDoc) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    title = f"data.{doc.type_name} (a data source, under `data:`)" if doc.data_source else doc.type_name
    lines = [f"# {title}", "", f"Family: `{doc.family}` · from {doc.origin.split(' ')[0]}", "",
             doc.description, "", "| attribute | type | | description |", "|---|---|---|---|"]
    lines += [f"| `{a.name}` | {cell(a.kind)} | {cell(_flags(a))} | {cell(a.description)} |" for a in doc.attributes]
    if doc.terraform_notes:
        lines += ["", "## Coming from Terraform", "", *(f"- {note}" for note in doc.terraform_notes)]
    if doc.ansible_notes:
        lines += ["", "## Coming from Ansible", "", *(f"- {note}" for note in doc.ansible_notes)]
    example = example_yaml(doc)
    if example:
        lines += ["", "## Example", "", "```yaml", example.rstrip("\n"), "```"]
    lines.append("")
    lines.append("_Generated from the schema and the module by `make docs`; do not edit._")
    return "\n".join(lines) + "\n"


def render_index(docs: Iterable[TypeDoc]) -> str:
    by_family: dict[str, list[TypeDoc]] = {}
    for doc in docs:
        by_family.setdefault(doc.family, []).append(doc)
    lines = []
    for family in sorted(by_family):
        lines.append(f"{family.removeprefix('data ')} data sources:" if family.startswith('data ') else f"{family}:")
        width = max(len(d.type_name) for d in by_family[family])
        lines += [f"  {d.type_name:<{width}}  {d.summary}" for d in by_family[family]]
    return "\n".join(lines) + "\n"


def all_docs(registry: Registry, origin_prefix: str = "") -> list[TypeDoc]:
    """Every resource type's documentation, then every data source's."""
    docs = [type_doc(registry, t) for t in registry.types if registry.entry(t).origin.startswith(origin_prefix)]
    return docs + [data_doc(registry, t) for t in registry.data_types
                   if registry.data_entry(t).origin.startswith(origin_prefix)]


def write_pages(registry: Registry, directory: Path, origin_prefix: str = "reconcile-iac") -> list[Path]:
    """docs/modules/TYPE.md for every type the named distribution provides (data.TYPE.md for its data
    sources), plus an index."""
    directory.mkdir(parents=True, exist_ok=True)
    docs = all_docs(registry, origin_prefix)
    written = []
    for doc in docs:
        path = directory / doc.page
        path.write_text(render_markdown(doc))
        written.append(path)
    index = ["# Resource types", ""]
    for doc in docs:
        if doc.data_source and not index[-1].startswith("- [`data."):
            index += ["", "## Data sources (`data:`)", ""]
        shown = f"data.{doc.type_name}" if doc.data_source else doc.type_name
        index.append(f"- [`{shown}`]({doc.page}) ({doc.family}): {doc.summary}")
    (directory / "README.md").write_text("\n".join(index) + "\n")
    return [directory / "README.md", *written]
