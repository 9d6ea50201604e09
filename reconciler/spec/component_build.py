"""Components: a `use:` entry built as a scoped document of its own, its inputs checked, its outputs read."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.diagnostics import Diagnostic, JsonPath, SourceDocument
from reconciler.errors import SpecError
from reconciler.inventory import Inventory
from reconciler.model import Resource
from reconciler.spec import components as comp
from reconciler.spec.build_state import LOCAL, META_KEYS, RESERVED_NAMES, BuildState, mentions, under_path
from reconciler.spec.json_validator import validator_for
from reconciler.spec.render import TemplateFailure
from reconciler.spec.schema_checks import schema_diagnostics


class ComponentBuild(BuildState):
    """Components: a `use:` entry built as a scoped document of its own, its inputs checked, its outputs read."""

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
            self.diagnostics += [under_path(d, path) for d in problems]
            return []
        own_vars = child_doc.data.get("vars")
        child = type(self)(
            replace(child_doc, data=self._scoped(child_doc.data, scope)), self.registry, self.environ,
            self.unset_env_ok, self.workspace, own_vars if isinstance(own_vars, dict) else {},
            scope=scope, inputs=inputs, parent=self, chain=self.chain + (str(directory),))
        resources, outputs = child.build_component(inventory)
        self.top.component_outputs[scope] = outputs
        self.diagnostics += [under_path(d, path) for d in child.diagnostics]
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
            validator = self.validators["(component)"] = validator_for(
                {"type": "object", "properties": props, "$defs": spec_schema["$defs"]})
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

    def _read_outputs(
        self, type_name: str, attributes: dict[str, Any], secret: frozenset[str], path: JsonPath
    ) -> tuple[dict[str, Any] | None, frozenset[str]]:
        """Attributes with `${component.NAME.OUTPUT}` replaced by the output; one that reads a sensitive
        output becomes sensitive itself. None (reported) when an output does not exist."""
        out: dict[str, Any] = {}
        ok = True
        reads = self.top._output_pattern()
        for key, value in attributes.items():
            if not mentions(value, reads):
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
