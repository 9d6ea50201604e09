"""Turn a loaded document into resources: check types, expand targets, render templates, check schemas."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from reconciler.errors import ReconcileError, SpecError
from reconciler.model import (
    SENSITIVE,
    Diagnostic,
    GroupMembers,
    Host,
    Inventory,
    JsonPath,
    Lifecycle,
    Move,
    Output,
    Removal,
    Resource,
    Rollout,
    SourceDocument,
    Spec,
    StackId,
    normal_address,
)
from reconciler.registry import ONE_LINE, Registry
from reconciler.spec import components as comp
from reconciler.spec.dynamic_groups import group_hosts, parse_dynamic, tagged_like
from reconciler.spec.inventory import build_inventory
from reconciler.spec.refs import has_reference
from reconciler.spec.render import Renderer, TemplateFailure, is_template
from reconciler.spec.templates import ConfinedLoader, LoadContext, TemplateFileError, TemplateFiles
from reconciler.spec.variables import RESERVED
from reconciler.targets.facts import placeholder_facts
from reconciler.targets.families import PlacementContext, PlacementError

RESERVED_NAMES = RESERVED  # names templates give a meaning of their own
FORMATS = Draft202012Validator.FORMAT_CHECKER  # `format: regex` and friends are checked, not just annotations
META_KEYS = frozenset({"type", "name", "on", "depends_on", "lifecycle", "sensitive", "region", "for_each", "count",
                       "when", "notify", "triggered_by"})
INSTANCE_KEY = re.compile(r"^[A-Za-z0-9_:/@+-]{1,128}$")  # no dots or brackets: addresses stay parseable
MAX_INSTANCES = 10_000  # per resource entry, so that a typo cannot make millions
LOCAL = "local"


_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def _plain_meta(meta: Mapping[str, Any]) -> bool:
    """Meta keys that are certainly valid without a schema check: the fast path of 10,000-resource specs."""
    if not set(meta) <= {"type", "name", "depends_on", "on"}:
        return False
    if not isinstance(meta.get("name"), str) or not _NAME.match(meta["name"]):
        return False
    on, deps = meta.get("on", "local"), meta.get("depends_on", [])
    return isinstance(on, str) and isinstance(deps, list) and all(isinstance(d, str) for d in deps)


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its local `#/$defs/NAME` references replaced by what they name (recursive ones
    are left as references): jsonschema resolves a reference on every use, which dominated validating
    10,000 resources."""
    defs = schema.get("$defs") or {}

    def walk(node: Any, trail: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(v, trail) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and "/" not in ref[8:]:
            name = ref[8:]
            if name in defs and name not in trail:
                rest = walk({k: v for k, v in node.items() if k != "$ref"}, trail)
                target = walk(defs[name], trail + (name,))
                if set(rest) <= {"description", "title", "default", "examples"}:
                    return {**rest, **target}  # errors quote the definition's own description, as before
                return {"allOf": [target], **rest}  # keywords beside a reference apply too
        return {k: (v if k == "$defs" else walk(v, trail)) for k, v in node.items()}

    return dict(walk(schema, ()))


def build_spec(
    doc: SourceDocument, registry: Registry, environ: Mapping[str, str] | None = None,
    unset_env_ok: bool = False, workspace: str = "default", variables: Mapping[str, Any] | None = None,
    facts: Mapping[str, Mapping[str, Any]] | None = None, members: Mapping[str, GroupMembers] | None = None,
) -> tuple[Spec, list[Diagnostic]]:
    """Every resource instance that could be built, and the problems found (a spec with any is unusable).

    With `unset_env_ok` (validation in CI, where secrets are absent) a variable listed in
    `vars_from_env` but not set stands in as a placeholder that no schema check rejects.
    `facts`: target -> host facts, gathered for the targets a first build found reading `host.facts`
    (`Spec.fact_targets`); without them the facts are stand-ins and a `when:` reading them counts as true,
    so that everything that might be built is checked.
    `members`: dynamic group -> the instances found for it (reconciler.engine.members); without them each
    such group has one stand-in host, known after apply.
    """
    builder = _SpecBuilder(doc, registry, os.environ if environ is None else environ, unset_env_ok, workspace,
                           variables)
    builder.facts = facts
    builder.members = members
    return builder.build()


class _HostView(dict):  # type: ignore[type-arg]
    """`host` in templates; notes when a template reads `host.facts`."""

    def __init__(self, data: Mapping[str, Any], on_facts: Any):
        super().__init__(data)
        self.on_facts = on_facts

    def __getitem__(self, key: Any) -> Any:
        if key == "facts":
            self.on_facts()
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key] if key in self else default


def default_stack_name(root: str) -> str:
    """The stack name of a spec without `name:`: its directory's name, or for a single file
    `<directory>-<file stem>`. Never the absolute path, so every checkout of a spec is the same stack."""
    path = Path(root)
    raw = path.name if path.is_dir() or not path.suffix else f"{path.parent.name}-{path.stem}"
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", raw).strip("-")
    return name or "default"


def _mapping(value: Any) -> dict[str, Any]:
    """A block the schema requires to be a mapping, or {} when it is not (the schema reports that)."""
    return dict(value) if isinstance(value, dict) else {}


class EnvironmentVariables(dict):  # type: ignore[type-arg]
    """`env` in templates; its own type so that a missing name gets a message of its own."""


_MISSING_ENV = re.compile(r"EnvironmentVariables object' has no attribute '([^']+)'")


def env_placeholder(name: str) -> str:
    return f"<unset env {name}>"


def _is_placeholder(value: str) -> bool:
    return "<unset env " in value


def canonical_hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def schema_diagnostics(
    validator: Draft202012Validator, value: Any, doc: SourceDocument, prefix: JsonPath,
    secret: frozenset[str] = frozenset(), references: bool = True,
) -> list[Diagnostic]:
    """Schema errors at their source; the value of a secret attribute is never quoted in a message.
    `references`: a `${…}` value is left for plan time (False where no reference may stand, as in the
    keys every resource shares)."""
    out = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path))):
        error = _most_relevant(error)
        if references and isinstance(error.instance, str) and (has_reference(error.instance)
                                                               or _is_placeholder(error.instance)):
            continue  # a `${…}` value is checked once it is resolved, at plan time
        path = prefix + tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            schema = error.schema if isinstance(error.schema, Mapping) else {}
            extra = sorted(k for k in error.instance if k not in (schema.get("properties") or {}))
            for key in extra:  # each unknown key at its own line
                out.append(Diagnostic(f"unknown field {key!r}" + _closest_field(key, schema),
                                      doc.locate(path + (key,)), path + (key,)))
            continue
        message = _schema_message(error)
        if error.absolute_path and str(error.absolute_path[0]) in secret:
            message = message.replace(repr(error.instance), SENSITIVE).replace(str(error.instance), SENSITIVE)
        out.append(Diagnostic(message, doc.locate(path), path))
    return out


def _most_relevant(error: ValidationError) -> ValidationError:
    """For "not valid under any of the given schemas" (oneOf/anyOf), the error of the alternative whose type
    fits the value: `inventory: {hosts: …}` is wrong because of a host's port, not for not being a string."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        fitting = [e for e in error.context if e.validator != "type" or e.relative_schema_path[0] != "type"]
        deeper = [e for e in fitting if e.absolute_path != error.absolute_path or e.validator not in ("type",)]
        if not deeper:
            break
        error = max(deeper, key=lambda e: (len(e.absolute_path), -len(e.relative_schema_path)))
    return error


def _closest_field(key: str, schema: Mapping[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(schema.get("properties") or {}), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _schema_message(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown field(s)")
    if error.validator == "required":
        return f"missing required field: {error.message.split(' ')[0]}"
    if error.validator == "not" and isinstance(error.validator_value, dict) and "required" in error.validator_value:
        return "only one of " + " and ".join(error.validator_value["required"]) + " may be given"
    if error.validator == "not" and isinstance(error.validator_value, dict) and \
            error.validator_value.get("description") == ONE_LINE:
        return (f"{error.instance!r} must be one line: a line break (\\n, \\r, U+2028, U+2029, U+0085) or a NUL "
                "would add a line of its own to the file it is written in")
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "type" and schema.get("description"):
        return f"{error.message}: {schema['description']}"
    if error.validator == "pattern" and str(error.validator_value).startswith("^/") and isinstance(error.instance, str) \
            and not error.instance.startswith("/"):
        return f"must be an absolute path, not {error.instance!r}"
    if error.validator == "pattern" and schema.get("description"):
        return f"{error.instance!r} is not valid: {schema['description']}"
    return error.message


class _SpecBuilder:
    """Builds one document: the stack's, or (with a `parent`) a component's, whose addresses start with
    `scope` and whose templates see `inputs`."""

    def __init__(self, doc: SourceDocument, registry: Registry, environ: Mapping[str, str], unset_env_ok: bool,
                 workspace: str = "default", variables: Mapping[str, Any] | None = None, *,
                 scope: str = "", inputs: Mapping[str, Any] | None = None, parent: _SpecBuilder | None = None,
                 chain: tuple[str, ...] = ()):
        self.doc = doc
        self.environ, self.unset_env_ok = environ, unset_env_ok
        self.scope, self.inputs, self.chain = scope, dict(inputs or {}), chain
        self.top: _SpecBuilder = parent.top if parent is not None else self
        self.component_outputs: dict[str, dict[str, comp.ComponentOutput]] = {}  # by scope; used on the top
        self.component_docs: dict[Path, SourceDocument] = {}  # by directory; used on the top
        self._outputs_read: re.Pattern[str] | None = None
        self.stand_ins: dict[str, Mapping[str, Any]] = {}  # placeholder facts by target; used on the top
        self.facts: Mapping[str, Mapping[str, Any]] | None = parent.facts if parent is not None else None
        self.fact_targets: set[str] = set()  # targets whose templates read host.facts (kept on the top)
        self.facts_read = False  # set while rendering when a template reads host.facts
        self.members: Mapping[str, GroupMembers] | None = parent.members if parent is not None else None
        self.workspace = workspace
        self.registry = registry
        self.diagnostics: list[Diagnostic] = []
        self.validators: dict[str, Draft202012Validator] = {}
        env_list = doc.data.get("vars_from_env")
        self.env_names = [k for k in env_list if isinstance(k, str)] if isinstance(env_list, list) else []
        self.env = EnvironmentVariables(
            {k: environ[k] if k in environ else env_placeholder(k) for k in self.env_names
             if k in environ or unset_env_ok})
        self.vars = dict(variables) if variables is not None else _mapping(doc.data.get("vars"))
        self.family_settings: dict[str, dict[str, Any]] = {}  # a family's top-level block, rendered early
        allowed = doc.data.get("template_paths")
        self.reads: set[str] = parent.reads if parent is not None else set()  # files read besides the spec's own
        self.template_files = TemplateFiles.for_spec(
            doc.base_dir, [a for a in allowed if isinstance(a, str)] if isinstance(allowed, list) else [], self.reads)
        self.renderer = Renderer(loader=ConfinedLoader(self.template_files, Path(doc.base_dir)))

    def _render_early(self, key: str) -> dict[str, Any]:
        """A block other resources depend on (aws: gives their region) rendered before them; its template
        errors are reported once, with the settings blocks."""
        try:
            rendered = self.renderer.render(_mapping(self.doc.data.get(key)),
                                            {**self.vars, "vars": self.vars, "env": self.env, "workspace": self.workspace})
        except TemplateFailure:
            return _mapping(self.doc.data.get(key))
        return rendered if isinstance(rendered, dict) else {}

    def build(self) -> tuple[Spec, list[Diagnostic]]:
        own = self.doc.data.get("vars")  # variable files are checked where they are read, at their own lines
        for reserved in sorted(set(own if isinstance(own, dict) else {}) & RESERVED_NAMES):
            self._error(f"{reserved!r} is a reserved name in templates ({', '.join(sorted(RESERVED_NAMES))}); "
                        "give the variable another name", ("vars", reserved))
        top = Draft202012Validator(self.registry.spec_schema(), format_checker=FORMATS)
        raw_resources = self.doc.data.get("resources")
        # each resource entry is checked once, against its type's full schema, in _expand
        outline = {**self.doc.data, "resources": []} if isinstance(raw_resources, list) else self.doc.data
        self.diagnostics += schema_diagnostics(top, outline, self.doc, ())
        inventory, inv_diags = build_inventory(self.doc)
        self.diagnostics += inv_diags
        inventory = self._rollouts(self._dynamic(inventory))
        resources = self._on_dynamic(inventory, self._collect(inventory))
        settings = {key: self._render_block(key) for key in ("docker", "aws", "state")}
        self._check_sealing(settings["state"])
        self._check_policies()
        name: Any = self.doc.data.get("name")
        stack = StackId(name if isinstance(name, str) else default_stack_name(self.doc.root), self.workspace)
        moved, removed, outputs = self._moves(), self._removals(), self._outputs()
        data = self._data(inventory)
        digest = canonical_hash(
            [[r.address, r.target, r.attributes, r.depends_on, sorted(r.lifecycle.ignore_changes),
              r.lifecycle.prevent_destroy, r.lifecycle.create_before_destroy, r.lifecycle.allow_data_loss,
              sorted(r.sensitive)] for r in resources]
            + [settings, str(stack), [(m.source, m.destination) for m in moved], [(x.address, x.destroy) for x in removed]]
            + [[(o.name, o.value, o.sensitive) for o in outputs]]
            + [[d.address, d.target, d.attributes] for d in data]
        )
        spec = Spec(self.doc, tuple(resources), inventory, settings, digest, stack, moved, removed,
                    named=isinstance(name, str), outputs=outputs, data=data,
                    fact_targets=frozenset(self.fact_targets), facts_known=self.facts is not None,
                    reads=frozenset(self.reads))
        return spec, _dedupe(self.diagnostics)

    def _check_policies(self) -> None:
        """Each `policy:` path names a .rego file or a directory holding some (validate runs none: it plans nothing)."""
        block = self.doc.data.get("policy")
        for i, entry in enumerate(block if isinstance(block, list) else []):
            written = entry.get("path") if isinstance(entry, dict) else None
            if not isinstance(written, str) or not written:
                continue
            path = Path(self.doc.base_dir) / written
            if path.is_dir() and not any(path.glob("*.rego")):
                self._error(f"policy directory {written!r} holds no .rego file", ("policy", i, "path"))
            elif not path.exists():
                self._error(f"policy {written!r} does not exist (looked for {path})", ("policy", i, "path"))

    def _check_sealing(self, state: Any) -> None:
        """`state.encryption` names one key source, fully."""
        from reconciler.key_source import SETTINGS, SealError, sealing_from

        block = state.get("encryption") if isinstance(state, dict) else None
        if isinstance(block, dict) and block.get("key_provider") in (None, "aws_kms") and set(block) <= SETTINGS:
            try:
                sealing_from(block)
            except SealError as exc:
                self._error(str(exc), ("state", "encryption"))

    def _dynamic(self, inventory: Inventory) -> Inventory:
        """The groups whose hosts are instances (`from:`), with a host per instance found (or stand-ins)."""
        dynamic = parse_dynamic(self.doc)
        if not dynamic:
            return inventory
        hosts, groups = dict(inventory.hosts), dict(inventory.groups)
        raw_groups = _mapping(_mapping(self.doc.data.get("inventory")).get("groups"))
        base_vars = _mapping(_mapping(raw_groups.get("all")).get("vars"))
        context = {**self.vars, "vars": self.vars, "env": self.env, "workspace": self.workspace}
        for name, group in dynamic.items():
            source = self.registry.module_class(group.source_type) if group.source_type in self.registry else None
            if source is None or not source.forms_groups:
                kinds = sorted(t for t in self.registry.types if self.registry.module_class(t).forms_groups)
                self._error(f"group {name}: {group.source_type} cannot form an inventory group (these can: "
                            f"{', '.join(kinds)})", ("inventory", "groups", name, "from"))
                continue
            found = self.members.get(name) if self.members is not None else None
            if self.members is not None and found is None:
                found = GroupMembers()
            members, problems = group_hosts(group, found, base_vars, context, self.renderer.render, self.doc)
            self.diagnostics += problems
            for host in members:
                if host.name in hosts:
                    self._error(f"group {name}: host {host.name} is already in the inventory",
                                ("inventory", "groups", name))
                    continue
                hosts[host.name] = host
            groups[name] = tuple(h.name for h in members if hosts.get(h.name) is h)
        return replace(inventory, hosts=hosts, groups=groups, dynamic=dynamic, resolved=self.members is not None)

    def _on_dynamic(self, inventory: Inventory, resources: list[Resource]) -> list[Resource]:
        """Resources on a dynamic group's hosts depend on the spec's resources that make those hosts (the
        group's `from: ${…}`, or the spec's instances its tags match); a `from:` naming no resource is an error."""
        if not inventory.dynamic:
            return resources
        makers: dict[str, tuple[str, ...]] = {}
        for name, group in inventory.dynamic.items():
            if group.source_address:
                made = tuple(sorted({r.address for r in resources if r.base_address == group.source_address}))
                if not made:
                    self._error(f"group {name}: from: names {group.source_address}, which is not a resource of the "
                                "spec", ("inventory", "groups", name, "from"))
            else:
                made = tuple(r.address for r in tagged_like(resources, group))
            for host in inventory.groups.get(name, ()):
                makers[host] = made
        out = []
        for r in resources:
            extra = tuple(a for a in makers.get(r.host or "", ()) if a not in r.depends_on)
            out.append(replace(r, depends_on=r.depends_on + extra) if extra else r)
        return out

    def _rollouts(self, inventory: Inventory) -> Inventory:
        """The groups with `serial:` (rolling updates) or `wait_for:`: their hosts in batch order, and each
        host's health check rendered with that host in the templates. A host may roll out with one group."""
        raw = self.doc.data.get("inventory")
        groups = _mapping(raw.get("groups")) if isinstance(raw, dict) else {}
        rollouts: dict[str, Rollout] = {}
        owner: dict[str, str] = {}
        for group, body in groups.items():
            if not isinstance(body, dict) or not ("serial" in body or "wait_for" in body):
                continue
            where: JsonPath = ("inventory", "groups", group)
            members = list(inventory.groups.get(group, ()))
            order = body.get("order", "inventory")
            if order in ("sorted", "reverse_sorted"):
                members.sort(reverse=order == "reverse_sorted")
            elif order == "reverse_inventory":
                members.reverse()
            for host in members:
                if host in owner:
                    self._error(f"host {host!r} is in two rolling groups ({owner[host]} and {group}); a host rolls out "
                                "with one group", where + ("serial",))
                owner.setdefault(host, group)
            checks: dict[str, dict[str, Any]] = {}
            wait_for = body.get("wait_for")
            if isinstance(wait_for, dict) and len({"http", "tcp", "command"} & set(wait_for)) != 1:
                self._error("wait_for needs one check: http, tcp or command", where + ("wait_for",))
            elif isinstance(wait_for, dict):
                for host in members:
                    try:
                        rendered = self.renderer.render(wait_for, self._context(inventory.hosts[host], host))
                    except TemplateFailure as exc:
                        self._error(f"template error in wait_for: {self._explain(exc)}", where + ("wait_for",))
                        break
                    checks[host] = dict(rendered) if isinstance(rendered, dict) else {}
            serial = body.get("serial", len(members) or 1)
            fail = body.get("max_fail_percentage", 0)
            rollouts[group] = Rollout(group, tuple(members), serial if isinstance(serial, (int, str)) else 1,
                                      float(fail) if isinstance(fail, (int, float)) else 0.0, checks)
        return replace(inventory, rollouts=rollouts) if rollouts else inventory

    def _collect(self, inventory: Inventory) -> list[Resource]:
        """The document's own resources, then those of the components it uses."""
        raw_resources = self.doc.data.get("resources")
        resources: list[Resource] = []
        seen: dict[str, Resource] = {}
        used = self._components(inventory)  # first: their outputs are read by the resources here
        for index, raw in enumerate(raw_resources if isinstance(raw_resources, list) else []):
            for resource in self._expand(index, raw, inventory):
                first = seen.get(resource.address)
                if first is not None:
                    self._error(f"duplicate resource {resource.base_address} (first defined at {first.location})",
                                ("resources", index, "name"))
                    continue
                seen[resource.address] = resource
                resources.append(resource)
        return resources + used

    def build_component(self, inventory: Inventory) -> tuple[list[Resource], dict[str, comp.ComponentOutput]]:
        """A component's resources and outputs (its diagnostics are left in self.diagnostics)."""
        own = self.doc.data.get("vars")  # variable files are checked where they are read, at their own lines
        for reserved in sorted(set(own if isinstance(own, dict) else {}) & RESERVED_NAMES):
            self._error(f"{reserved!r} is a reserved name in templates ({', '.join(sorted(RESERVED_NAMES))}); "
                        "give the variable another name", ("vars", reserved))
        resources = self._collect(inventory)
        return resources, {o.name: comp.ComponentOutput(o.value, o.sensitive) for o in self._outputs()}

    def _components(self, inventory: Inventory) -> list[Resource]:
        """Every resource of the components this document uses, addressed `component.NAME.…` and located in
        the component's files (whose documents are grafted into this one)."""
        entries = self.doc.data.get("components")
        if not isinstance(entries, list) or not entries:
            return []
        valid: list[tuple[int, str, Any]] = []
        names: set[str] = set()
        for i, raw in enumerate(entries):
            if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not isinstance(raw.get("use"), str):
                continue  # the schema reports it
            if raw["name"] in names:
                self._error(f"duplicate component {raw['name']!r}", ("components", i, "name"))
                continue
            names.add(raw["name"])
            valid.append((i, raw["name"], raw.get("with") if isinstance(raw.get("with"), dict) else {}))
        order, cycles = comp.component_order(valid, self.scope)
        for cycle in cycles:
            self._error(f"components read each other's outputs in a cycle: {cycle}", ("components",))
        out: list[Resource] = []
        by_index = {i: (name, given) for i, name, given in valid}
        for i in order:
            name, given = by_index[i]
            out += self._component(i, name, entries[i]["use"], given, inventory)
        return out

    def _component(self, i: int, name: str, use: str, given: dict[str, Any], inventory: Inventory) -> list[Resource]:
        path: JsonPath = ("components", i)
        try:
            directory = comp.resolve_use(use, self.doc.locate(path + ("use",)), self.doc.base_dir)
        except ValueError as exc:
            self._error(str(exc), path + ("use",))
            return []
        if str(directory) in self.chain:
            loop = [Path(c).name for c in self.chain[self.chain.index(str(directory)):]] + [directory.name]
            self._error(f"component cycle: {' -> '.join(loop)} (a component uses itself)", path + ("use",))
            return []
        if len(self.chain) >= comp.MAX_DEPTH:
            self._error(f"components nest more than {comp.MAX_DEPTH} deep", path + ("use",))
            return []
        try:
            child_doc = self.top.component_docs.get(directory) or comp.load_component(directory)
            self.top.component_docs[directory] = child_doc  # a component used many times is read once
            self.reads.update(child_doc.files)
        except SpecError as exc:
            for d in exc.diagnostics:
                self.diagnostics.append(d if d.location else Diagnostic(d.message, self.doc.locate(path + ("use",)),
                                                                        path + ("use",)))
            return []
        problems = self._component_outline(child_doc)
        scope = f"{self.scope}component.{name}."
        try:
            given = self.renderer.render(given, self._context(None, LOCAL))
        except TemplateFailure as exc:
            self._error(f"template error in with: {self._explain(exc)}", path + ("with",))
            return []
        given, unread, _ = comp.read_outputs(given, self.scope, self.top.component_outputs,
                                             self.registry.reference_types)
        for message in unread:
            self._error(message, path + ("with",))
        declared = child_doc.data.get("inputs")
        inputs, wrong = comp.check_inputs(declared if isinstance(declared, dict) else {}, given, name, path,
                                          self.doc.locate)
        self.diagnostics += wrong
        if problems or wrong or unread:
            self.diagnostics += [_under(d, path) for d in problems]
            return []
        own_vars = child_doc.data.get("vars")
        child = _SpecBuilder(
            replace(child_doc, data=self._scoped(child_doc.data, scope)), self.registry, self.environ,
            self.unset_env_ok, self.workspace, own_vars if isinstance(own_vars, dict) else {},
            scope=scope, inputs=inputs, parent=self, chain=self.chain + (str(directory),))
        resources, outputs = child.build_component(inventory)
        self.top.component_outputs[scope] = outputs
        self.diagnostics += [_under(d, path) for d in child.diagnostics]
        self.doc = comp.graft(self.doc, path, child.doc)
        return [replace(r, json_path=path + (comp.MARK,) + r.json_path) for r in resources]

    def _component_outline(self, doc: SourceDocument) -> list[Diagnostic]:
        """A component's top-level keys: only what a component may hold, each of the right shape."""
        out = [Diagnostic(f"{key!r} cannot be set in a component (it may hold {', '.join(comp.COMPONENT_KEYS)}); "
                          "stack settings belong to the spec that uses it", doc.locate((key,)), (key,))
               for key in doc.data if key not in comp.COMPONENT_KEYS]
        validator = self.validators.get("(component)")
        if validator is None:
            spec_schema = self.registry.spec_schema()
            props = {k: v for k, v in spec_schema["properties"].items() if k in comp.COMPONENT_KEYS}
            props["inputs"] = {"$ref": "#/$defs/inputs"}
            props["description"] = {"type": "string"}
            validator = self.validators["(component)"] = Draft202012Validator(
                {"type": "object", "properties": props, "$defs": spec_schema["$defs"]}, format_checker=FORMATS)
        raw_resources = doc.data.get("resources")
        outline = {k: v for k, v in doc.data.items() if k in comp.COMPONENT_KEYS}
        if isinstance(raw_resources, list):
            outline["resources"] = []
        return out + schema_diagnostics(validator, outline, doc, ())

    def _scoped(self, data: Mapping[str, Any], scope: str) -> dict[str, Any]:
        """A component's document with its references and addresses made to name its own resources."""
        types = self.registry.reference_types
        out = dict(data)
        entries = data.get("resources")
        if isinstance(entries, list):
            scoped = []
            for raw in entries:
                if not isinstance(raw, dict):
                    scoped.append(raw)
                    continue
                kind = raw.get("type")
                trigger = (self.registry.module_class(kind).trigger_attribute
                           if isinstance(kind, str) and kind in self.registry else None)
                entry = {}
                for key, value in raw.items():
                    if key in ("depends_on", "triggered_by", trigger) and isinstance(value, list):
                        entry[key] = [comp.scope_address(v, scope) if isinstance(v, str) else v for v in value]
                    elif key == "notify" and isinstance(value, list):
                        entry[key] = [comp.scope_notify(v, scope) if isinstance(v, str) else v for v in value]
                    elif key in META_KEYS:
                        entry[key] = value
                    else:
                        entry[key] = comp.scope_references(value, scope, types)
                scoped.append(entry)
            out["resources"] = scoped
        if isinstance(data.get("outputs"), dict):
            out["outputs"] = comp.scope_references(data["outputs"], scope, types)
        if isinstance(data.get("components"), list):
            out["components"] = [
                {**c, "with": comp.scope_references(c["with"], scope, types)}
                if isinstance(c, dict) and isinstance(c.get("with"), dict) else c for c in data["components"]]
        return out

    def _render_block(self, key: str) -> dict[str, Any]:
        """A top-level settings block (docker:, aws:, state:) rendered with vars, env and the workspace."""
        block = _mapping(self.doc.data.get(key))
        try:
            rendered = self.renderer.render(block, self._context(None, LOCAL))
        except TemplateFailure as exc:
            self._error(f"template error in {key}: {self._explain(exc)}", (key,))
            return block
        return rendered if isinstance(rendered, dict) else block

    def _moves(self) -> tuple[Move, ...]:
        out: list[Move] = []
        entries = self.doc.data.get("moved")
        seen: dict[str, int] = {}
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            if not isinstance(entry, dict) or not isinstance(entry.get("from"), str) or not isinstance(entry.get("to"), str):
                continue  # the schema reports it
            source, destination = normal_address(entry["from"]), normal_address(entry["to"])
            if source == destination:
                self._error(f"moved: from and to are both {source}", ("moved", i))
            elif source in seen:
                self._error(f"moved: {source} is moved twice (also in entry {seen[source] + 1})", ("moved", i, "from"))
            seen[source] = i
            out.append(Move(source, destination, self.doc.locate(("moved", i))))
        return tuple(out)

    def _data(self, inventory: Inventory) -> tuple[Resource, ...]:
        """`data:` lookups: each placed by its family like a resource, rendered, checked against its schema."""
        entries = self.doc.data.get("data")
        out: list[Resource] = []
        seen: set[str] = set()
        for index, raw in enumerate(entries if isinstance(entries, list) else []):
            path: JsonPath = ("data", index)
            if not isinstance(raw, dict) or not isinstance(raw.get("type"), str) or not isinstance(raw.get("name"), str):
                self._error("a data entry must be a mapping with at least type and name", path)
                continue
            kind = raw["type"]
            if kind not in self.registry.data_types:
                close = difflib.get_close_matches(kind, self.registry.data_types, n=1)
                self._error(f"unknown data source {kind!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                            + f"; known: {', '.join(self.registry.data_types)}", path + ("type",))
                continue
            source = self.registry.data_source(kind)
            attributes = {k: v for k, v in raw.items() if k not in ("type", "name", "on", "region")}
            for target, host, suffix in self._targets(source.family, raw, inventory, path):
                address = f"data.{kind}.{raw['name']}{suffix}"
                if address in seen:
                    self._error(f"duplicate data source {address}", path + ("name",))
                    continue
                seen.add(address)
                try:
                    rendered = self.renderer.render(attributes, self._context(host, target))
                except TemplateFailure as exc:
                    self._error(f"template error: {self._explain(exc)}", path)
                    continue
                validator = self.validators.get(f"data:{kind}")
                if validator is None:
                    schema = self.registry.data_schema(kind)
                    props = {**schema.get("properties", {}), "type": {"type": "string"},
                             "name": {"$ref": "#/$defs/name"}, "on": {}, "region": {"type": "string"}}
                    validator = Draft202012Validator(
                        {**schema, "properties": props, "$defs": {**self.registry.spec_schema()["$defs"],
                                                                  **schema.get("$defs", {})},
                         "required": ["type", "name", *schema.get("required", [])]}, format_checker=FORMATS)
                    self.validators[f"data:{kind}"] = validator
                found = schema_diagnostics(validator, {**raw, **rendered}, self.doc, path)
                if found:
                    self.diagnostics += found
                    continue
                out.append(Resource(address=address, type=f"data.{kind}", name=raw["name"], target=target,
                                    attributes=rendered, location=self.doc.locate(path), json_path=path,
                                    host=host.name if host else None))
        return tuple(out)

    def _outputs(self) -> tuple[Output, ...]:
        """`outputs:` with their `{{ … }}` rendered now; `${…}` references are resolved at plan and apply."""
        entries = self.doc.data.get("outputs")
        out = []
        for name, entry in (entries.items() if isinstance(entries, dict) else []):
            if not isinstance(entry, dict) or "value" not in entry:
                continue  # the schema reports it
            try:
                value = self.renderer.render(entry["value"], self._context(None, LOCAL))
            except TemplateFailure as exc:
                self._error(f"template error in output {name}: {self._explain(exc)}", ("outputs", name, "value"))
                continue
            value, unread, secret = comp.read_outputs(value, self.scope, self.top.component_outputs,
                                                      self.registry.reference_types)
            for message in unread:
                self._error(message, ("outputs", name, "value"))
            out.append(Output(str(name), value, entry.get("sensitive") is True or secret,
                              str(entry.get("description") or ""), self.doc.locate(("outputs", name))))
        return tuple(out)

    def _removals(self) -> tuple[Removal, ...]:
        entries = self.doc.data.get("removed")
        return tuple(Removal(normal_address(e["address"]), bool(e.get("destroy", False)), self.doc.locate(("removed", i)))
                     for i, e in enumerate(entries if isinstance(entries, list) else [])
                     if isinstance(e, dict) and isinstance(e.get("address"), str))

    def _error(self, message: str, path: JsonPath) -> None:
        self.diagnostics.append(Diagnostic(message, self.doc.locate(path), path))

    def _expand(self, index: int, raw: Any, inventory: Inventory) -> list[Resource]:
        path: JsonPath = ("resources", index)
        if not isinstance(raw, dict):
            self._error("a resource must be a mapping with at least type and name", path)
            return []
        for key in ("type", "name"):
            if not isinstance(raw.get(key), str):
                self._error(f"missing required field: {key!r}" if key not in raw else f"{key} must be a string",
                            path + ((key,) if key in raw else ()))
        if not isinstance(raw.get("type"), str) or not isinstance(raw.get("name"), str):
            return []
        type_name = raw["type"]
        if type_name not in self.registry:
            broken = self.registry.broken_reason(type_name)
            if broken:
                self._error(f"resource type {type_name!r} cannot be used: its plugin {broken}", path + ("type",))
                return []
            hint = self.registry.suggest(type_name)
            self._error(f"unknown resource type {type_name!r}" + (f" (did you mean {hint!r}?)" if hint else ""),
                        path + ("type",))
            return []
        if not self._check_meta(raw, path):
            return []
        family = self.registry.module_class(type_name).family
        instances = self._instances(raw, path)
        if instances is None:
            return []
        targets = self._targets(family, raw, inventory, path)
        attributes = {k: v for k, v in raw.items() if k not in META_KEYS}
        lifecycle_raw = raw.get("lifecycle") or {}
        prevent = lifecycle_raw.get("prevent_destroy")
        lifecycle = Lifecycle(None if prevent is None else bool(prevent),
                              frozenset(lifecycle_raw.get("ignore_changes") or ()),
                              bool(lifecycle_raw.get("create_before_destroy", False)),
                              bool(lifecycle_raw.get("allow_data_loss", False)))
        location = self.doc.locate(path)
        key_locations = {k: loc for k in raw if (loc := self.doc.locations.get(path + (k,))) is not None}
        out = []
        for (key, extra), (target, host, suffix) in ((i, t) for i in instances for t in targets):
            wanted = self._when(raw, path, {**self._context(host, target), **extra})
            if not wanted:
                continue
            rendered = self._render(type_name, attributes, path, host, target, extra)
            if rendered is None:
                continue
            secret = frozenset(raw.get("sensitive") or ())
            if self.top.component_outputs:
                rendered, secret = self._read_outputs(type_name, rendered, secret, path)
                if rendered is None:
                    continue
            if not self._check_schema(type_name, rendered, path, raw):
                self._unknown_references(rendered, path)  # reported in the same run as the schema errors
                continue
            out.append(Resource(
                address=f"{self.scope}{type_name}.{raw['name']}{key}{suffix}", type=type_name, name=raw["name"],
                target=target, attributes=rendered, depends_on=tuple(raw.get("depends_on") or ()), lifecycle=lifecycle,
                notify=tuple(raw.get("notify") or ()), triggered_by=tuple(raw.get("triggered_by") or ()),
                sensitive=secret, location=location, json_path=path,
                host=host.name if host else None, key_locations=key_locations, scope=self.scope,
            ))
        return out

    def _unknown_references(self, attributes: Mapping[str, Any], path: JsonPath) -> None:
        """References of a resource that failed its schema check name resources the spec has (checked here,
        since the graph, which checks the others, never sees this one)."""
        from reconciler.spec import refs

        written = self.doc.data.get("resources")
        declared = {f"{r.get('type')}.{r.get('name')}" for r in (written if isinstance(written, list) else [])
                    if isinstance(r, dict)}
        for where, text in refs.find(dict(attributes)):
            try:
                ref = refs.parse(text, self.registry.reference_types)
            except ValueError:
                continue
            if ref.type.startswith("data.") or self.scope or ref.base_address in declared:
                continue
            self._error(f"reference to unknown resource {ref.base_address}", path + tuple(where))

    def _read_outputs(
        self, type_name: str, attributes: dict[str, Any], secret: frozenset[str], path: JsonPath
    ) -> tuple[dict[str, Any] | None, frozenset[str]]:
        """Attributes with `${component.NAME.OUTPUT}` replaced by the output; one that reads a sensitive
        output becomes sensitive itself. None (reported) when an output does not exist."""
        out: dict[str, Any] = {}
        ok = True
        reads = self.top._output_pattern()
        for key, value in attributes.items():
            if not _mentions(value, reads):
                out[key] = value
                continue
            out[key], unread, sensitive = comp.read_outputs(value, self.scope, self.top.component_outputs,
                                                            self.registry.reference_types)
            out[key] = self._as_written(out[key], self.registry.schema(type_name).get("properties", {}).get(key),
                                        path + (key,))
            for message in unread:
                ok = False
                self._error(message, path + (key,))
            if sensitive:
                secret |= {key}
        return (out if ok else None), secret

    def _output_pattern(self) -> re.Pattern[str]:
        """Finds `${component.X.NAME` where NAME is not a resource type: a read of a component's output
        (a reference to a component's resource, `${component.X.file.…}`, is left to the graph)."""
        if self._outputs_read is None:
            heads = sorted({t.split(".")[0] for t in self.registry.reference_types}, key=len, reverse=True)
            self._outputs_read = re.compile(r"\$\{\s*(?:component\.[^.}]+\.)+(?!(?:"
                                            + "|".join(map(re.escape, heads)) + r")\.)")
        return self._outputs_read

    def _check_meta(self, raw: dict[str, Any], path: JsonPath) -> bool:
        """The keys every resource shares (on, depends_on, lifecycle, sensitive) must have the right shape
        before anything reads them; the full schema check comes after rendering."""
        meta = {k: v for k, v in raw.items() if k in META_KEYS}
        if _plain_meta(meta):  # the usual entry (type, name, depends_on, on): nothing to check here
            return True
        validator = self.validators.get("")
        if validator is None:
            spec_schema = self.registry.spec_schema()
            common = {**spec_schema["$defs"]["resource"], "$defs": spec_schema["$defs"]}
            validator = self.validators[""] = Draft202012Validator(inline_refs(common))
        found = schema_diagnostics(validator, meta, self.doc, path, references=False)
        self.diagnostics += found
        return not found

    def _targets(
        self, family: str, raw: dict[str, Any], inventory: Inventory, path: JsonPath
    ) -> list[tuple[str, Host | None, str]]:
        """(target name, inventory host, address suffix) for each instance of the resource: the family
        decides (hosts and groups, docker engines, AWS regions…)."""
        try:
            placer = self.registry.family(family)
        except ReconcileError as exc:
            self._error(str(exc), path + ("type",))
            return []
        key = placer.settings_key
        if key is not None and key not in self.top.family_settings:
            self.top.family_settings[key] = self.top._render_early(key)
        on = raw.get("on", LOCAL)
        if isinstance(on, str) and is_template(on):
            try:
                on = self.renderer.render(on, self._context(None, LOCAL))
            except TemplateFailure as exc:
                self._error(f"template error in on: {self._explain(exc)}", path + ("on",))
                return []
        context = PlacementContext(on, raw, self.top.family_settings.get(key or "", {}), inventory)
        try:
            return [(p.target, p.host, p.suffix) for p in placer.place(context)]
        except PlacementError as exc:
            self._error(str(exc), path + tuple(exc.at))
            return []

    def _context(self, host: Host | None, target: str) -> dict[str, Any]:
        known = self.facts.get(target) if self.facts is not None else None
        facts = known if known is not None else self.top.stand_ins.get(target)
        if facts is None:
            facts = self.top.stand_ins[target] = placeholder_facts(target)
        host_view = _HostView(
            {"name": host.name, "address": host.address, "port": host.port, "user": host.user, "vars": dict(host.vars),
             "facts": facts}
            if host else {"name": target, "address": "127.0.0.1", "vars": {}, "facts": facts},
            lambda: self._read_facts(target))
        return {**self.vars, "vars": self.vars, "env": self.env, "host": host_view, "workspace": self.workspace,
                "inputs": self.inputs}

    def _read_facts(self, target: str) -> None:
        self.facts_read = True
        self.top.fact_targets.add(target)

    def _instances(self, raw: dict[str, Any], path: JsonPath) -> list[tuple[str, dict[str, Any]]] | None:
        """("[KEY]" address suffix, extra template context) per instance of a resource entry: one without
        for_each/count; None (reported) when they are wrong."""
        if "for_each" in raw and "count" in raw:
            self._error("count and for_each cannot both be given: use one", path + ("count",))
            return None
        if "count" not in raw and "for_each" not in raw:
            return [("", {})]
        key = "count" if "count" in raw else "for_each"
        value = raw[key]
        if isinstance(value, str):
            try:
                value = self.renderer.render(value, self._context(None, LOCAL))
            except TemplateFailure as exc:
                self._error(f"template error in {key}: {self._explain(exc)}", path + (key,))
                return None
        if key == "count":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                self._error(f"count must be a whole number, 0 or more, not {value!r}", path + (key,))
                return None
            if value > MAX_INSTANCES:
                self._error(f"count is {value}: at most {MAX_INSTANCES} instances per resource", path + (key,))
                return None
            return [(f"[{i}]", {"count": {"index": i}}) for i in range(value)]
        if isinstance(value, dict):
            pairs = [(str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            if any(isinstance(v, (dict, list)) or v is None or isinstance(v, bool) for v in value):
                self._error("for_each over a list takes strings or numbers; to give each instance several values, "
                            "use a mapping of key to value", path + (key,))
                return None
            pairs = [(str(v), v) for v in value]
            seen: set[str] = set()
            for k, _ in pairs:
                if k in seen:
                    self._error(f"for_each has the key {k!r} twice: keys name the instances and must be unique",
                                path + (key,))
                    return None
                seen.add(k)
        else:
            self._error(f"for_each must be a list or a mapping, not {type(value).__name__} {value!r}"[:300],
                        path + (key,))
            return None
        if len(pairs) > MAX_INSTANCES:
            self._error(f"for_each has {len(pairs)} elements: at most {MAX_INSTANCES} instances per resource",
                        path + (key,))
            return None
        for k, _ in pairs:
            if not INSTANCE_KEY.match(k):
                self._error(f"for_each key {k!r} cannot name an instance: use letters, digits and _ : / @ + - "
                            "(no dots, brackets or spaces)", path + (key,))
                return None
        return [(f"[{k}]", {"each": {"key": k, "value": v}}) for k, v in pairs]

    def _when(self, raw: dict[str, Any], path: JsonPath, context: Mapping[str, Any]) -> bool:
        """A resource whose `when:` is false is not in the spec (for this instance and host)."""
        condition = raw.get("when")
        if condition is None or isinstance(condition, bool):
            return condition is not False
        if not isinstance(condition, str):
            return True  # the schema reports it
        text = condition.strip()
        self.facts_read = False
        try:
            value = self.renderer.render(text if is_template(text) else "{{ (" + text + ") }}", context)
        except TemplateFailure as exc:
            self._error(f"template error in when: {self._explain(exc)}", path + ("when",))
            return False
        if self.facts_read and (self.facts is None or dict.get(context.get("host") or {}, "name") not in self.facts):
            return True  # the facts are stand-ins until the hosts are asked: check the resource as if wanted
        if not isinstance(value, bool):
            self._error(f"when must be true or false, but {text!r} gives {value!r}"[:300], path + ("when",))
            return False
        return value

    def _render(
        self, type_name: str, attributes: dict[str, Any], path: JsonPath, host: Host | None, target: str,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        context = {**self._context(host, target), **(extra or {})}
        out: dict[str, Any] = {}
        ok = True
        for key, value in attributes.items():
            try:
                out[key] = self.renderer.render(value, context)
            except TemplateFailure as exc:
                ok = False
                self._error(f"template error in {key}: {self._explain(exc)}", path + (key,))
                continue
            if "\\u0000" in json.dumps(out[key], default=str):  # a NUL made by a template (JSON escapes it)
                ok = False
                self._error(f"{key} renders to a value with a NUL character", path + (key,))
        if ok:
            out = {k: self._as_written(v, self.registry.schema(type_name).get("properties", {}).get(k), path + (k,))
                   for k, v in out.items()}
            module = self.registry.module(type_name)
            where = self.doc.locate(path)
            load = LoadContext(self.template_files, self.renderer, context,
                               Path(where.file).parent if where else Path(self.doc.base_dir))
            try:
                out = module.prepare(out, load)
            except TemplateFileError as exc:
                ok = False
                culprit = exc.attribute if exc.attribute in out else next(
                    (k for k in ("template", "src") if k in out), None)  # the value it names, or the file
                self._error(str(exc), path + ((culprit,) if culprit else ()))
        return out if ok else None

    def _as_written(self, value: Any, schema: Any, path: JsonPath) -> Any:
        """A YAML scalar that became a number or boolean where the type wants text becomes the text written
        (`version: 1.10` is "1.10", `DEBUG: true` is "true"), as docker compose reads environment values."""
        if not isinstance(schema, dict):
            return value
        if isinstance(value, (bool, int, float)) and schema.get("type") == "string":
            return self.doc.texts.get(path) or (str(value).lower() if isinstance(value, bool) else str(value))
        if isinstance(value, dict):
            props, extra = schema.get("properties") or {}, schema.get("additionalProperties")
            return {k: self._as_written(v, props.get(k, extra), path + (k,)) for k, v in value.items()}
        if isinstance(value, list) and isinstance(schema.get("items"), dict):
            return [self._as_written(v, schema["items"], path + (i,)) for i, v in enumerate(value)]
        return value

    def _explain(self, exc: Exception) -> str:
        text = str(exc)
        missing = _MISSING_ENV.search(text)
        if missing and missing.group(1) in self.env_names:
            return f"environment variable {missing.group(1)} is listed in vars_from_env but not set"
        if missing:
            return f"env has no attribute {missing.group(1)!r} (environment variables must be listed in vars_from_env)"
        return text

    def _check_schema(
        self, type_name: str, attributes: dict[str, Any], path: JsonPath, written: dict[str, Any]
    ) -> bool:
        # the entry as written, with its attributes rendered (not what a template file produced)
        checked = {k: (attributes[k] if k in attributes else v) for k, v in written.items()}
        if self.registry.quick_check(type_name, checked):  # valid: no need to ask jsonschema where it is not
            return True
        validator = self.validators.get(type_name)
        if validator is None:
            validator = Draft202012Validator(inline_refs(self.registry.resource_schema(type_name)),
                                             format_checker=FORMATS)
            self.validators[type_name] = validator
        listed = written.get("sensitive")
        secret = self.registry.module_class(type_name).sensitive | frozenset(
            s for s in (listed if isinstance(listed, list) else []) if isinstance(s, str))
        found = schema_diagnostics(validator, checked, self.doc, path, secret)
        self.diagnostics += found
        return not found


def _mentions(value: Any, pattern: re.Pattern[str]) -> bool:
    if isinstance(value, str):
        return "${" in value and pattern.search(value) is not None
    if isinstance(value, dict):
        return any(_mentions(v, pattern) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, pattern) for v in value)
    return False


def _under(diagnostic: Diagnostic, path: JsonPath) -> Diagnostic:
    """A component's diagnostic as the stack sees it: its path under the component's entry."""
    return replace(diagnostic, json_path=path + (comp.MARK,) + diagnostic.json_path)


def _dedupe(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """A group-expanded resource reports the same error once, not once per host."""
    return list(dict.fromkeys(diagnostics))
