"""Turn a loaded document into resources: check types, expand targets, render templates, check schemas.

The orchestrator: each job is a module of its own (build_state, schema_checks, expansion, component_build,
placement)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.diagnostics import Diagnostic, JsonPath, SourceDocument
from reconciler.inventory import Inventory
from reconciler.model import GroupMembers, Move, Output, Removal, Resource, Spec, StackId, normal_address
from reconciler.registry import Registry
from reconciler.spec import components as comp
from reconciler.spec.build_state import (
    LOCAL,
    RESERVED_NAMES,
    canonical_hash,
    dedupe,
    default_stack_name,
)
from reconciler.spec.component_build import ComponentBuild
from reconciler.spec.expansion import Expansion
from reconciler.spec.inventory import as_mapping, build_inventory
from reconciler.spec.json_validator import validator_for
from reconciler.spec.placement import Placement
from reconciler.spec.render import TemplateFailure
from reconciler.spec.schema_checks import SchemaChecks, schema_diagnostics


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


class _SpecBuilder(Placement, ComponentBuild, Expansion, SchemaChecks):
    """Builds one document: the stack's, or (with a `parent`) a component's, whose addresses start with
    `scope` and whose templates see `inputs`. The orchestrator: each job is a stage it inherits."""

    def _render_early(self, key: str) -> dict[str, Any]:
        """A block other resources depend on (aws: gives their region) rendered before them; its template
        errors are reported once, with the settings blocks."""
        try:
            rendered = self.renderer.render(as_mapping(self.doc.data.get(key)),
                                            {**self.vars, "vars": self.vars, "env": self.env, "workspace": self.workspace})
        except TemplateFailure:
            return as_mapping(self.doc.data.get(key))
        return rendered if isinstance(rendered, dict) else {}

    def build(self) -> tuple[Spec, list[Diagnostic]]:
        own = self.doc.data.get("vars")  # variable files are checked where they are read, at their own lines
        for reserved in sorted(set(own if isinstance(own, dict) else {}) & RESERVED_NAMES):
            self._error(f"{reserved!r} is a reserved name in templates ({', '.join(sorted(RESERVED_NAMES))}); "
                        "give the variable another name", ("vars", reserved))
        raw_resources = self.doc.data.get("resources")
        # each resource entry is checked once, against its type's full schema, in _expand
        outline = {**self.doc.data, "resources": []} if isinstance(raw_resources, list) else self.doc.data
        if not self.registry.quick_check_spec(outline):
            self.diagnostics += schema_diagnostics(validator_for(self.registry.spec_schema()), outline, self.doc, ())
        inventory, inv_diags = build_inventory(self.doc)
        self.diagnostics += inv_diags
        inventory = self._rollouts(self._dynamic(inventory))
        resources = self._on_dynamic(inventory, self._collect(inventory))
        settings = {key: self._render_block(key) for key in (*self.registry.settings_keys(), "state")}
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
        return spec, dedupe(self.diagnostics)

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

    def _render_block(self, key: str) -> dict[str, Any]:
        """A top-level settings block (docker:, aws:, state:) rendered with vars, env and the workspace."""
        block = as_mapping(self.doc.data.get(key))
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
                    validator = validator_for(
                        {**schema, "properties": props, "$defs": {**self.registry.spec_schema()["$defs"],
                                                                  **schema.get("$defs", {})},
                         "required": ["type", "name", *schema.get("required", [])]})
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
