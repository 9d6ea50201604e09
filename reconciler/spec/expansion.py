"""One resource entry into its instances: count/for_each, `when:`, targets (`on:`), meta keys, rendering."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.diagnostics import JsonPath
from reconciler.durations import seconds
from reconciler.errors import ReconcileError
from reconciler.inventory import Host, Inventory
from reconciler.model import DriftPolicy, Lifecycle, Resource
from reconciler.spec.build_state import INSTANCE_KEY, LOCAL, MAX_INSTANCES, META_KEYS, BuildState, plain_meta
from reconciler.spec.json_validator import validator_for
from reconciler.spec.render import TemplateFailure, is_template
from reconciler.spec.schema_checks import inline_refs, schema_diagnostics
from reconciler.targets.families import PlacementContext, PlacementError


class Expansion(BuildState):
    """One resource entry into its instances: count/for_each, `when:`, targets (`on:`), meta keys, rendering."""

    def _expand(self, index: int, raw: Any, inventory: Inventory) -> list[Resource]:
        path: JsonPath = ("resources", index)
        type_name = self._known_type(raw, path)
        if type_name is None or not self._check_meta(raw, path):
            return []
        family = self.registry.module_class(type_name).family
        instances = self._instances(raw, path)
        if instances is None:
            return []
        targets = self._targets(family, raw, inventory, path)
        attributes = {k: v for k, v in raw.items() if k not in META_KEYS}
        lifecycle, drift = policies(raw)
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
                notify=tuple(raw.get("notify") or ()), triggered_by=tuple(raw.get("triggered_by") or ()), drift=drift,
                sensitive=secret, location=location, json_path=path,
                host=host.name if host else None, key_locations=key_locations, scope=self.scope,
            ))
        return out

    def _known_type(self, raw: Any, path: JsonPath) -> str | None:
        """The entry's type, when the entry is a mapping with a type and a name and the type is installed."""
        if not isinstance(raw, dict):
            self._error("a resource must be a mapping with at least type and name", path)
            return None
        for key in ("type", "name"):
            if not isinstance(raw.get(key), str):
                self._error(f"missing required field: {key!r}" if key not in raw else f"{key} must be a string",
                            path + ((key,) if key in raw else ()))
        if not isinstance(raw.get("type"), str) or not isinstance(raw.get("name"), str):
            return None
        type_name = str(raw["type"])
        if type_name in self.registry:
            return type_name
        broken = self.registry.broken_reason(type_name)
        if broken:
            self._error(f"resource type {type_name!r} cannot be used: its plugin {broken}", path + ("type",))
            return None
        hint = self.registry.suggest(type_name)
        self._error(f"unknown resource type {type_name!r}" + (f" (did you mean {hint!r}?)" if hint else ""),
                    path + ("type",))
        return None

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

    def _check_meta(self, raw: dict[str, Any], path: JsonPath) -> bool:
        """The keys every resource shares (on, depends_on, lifecycle, sensitive) must have the right shape
        before anything reads them; the full schema check comes after rendering."""
        meta = {k: v for k, v in raw.items() if k in META_KEYS}
        if plain_meta(meta) or self.registry.quick_check_keys(meta):  # the usual entry, or certainly valid
            return True
        validator = self.validators.get("")
        if validator is None:
            spec_schema = self.registry.spec_schema()
            common = {**spec_schema["$defs"]["resource"], "$defs": spec_schema["$defs"]}
            validator = self.validators[""] = validator_for(inline_refs(common), formats=False)
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


def policies(raw: Mapping[str, Any]) -> tuple[Lifecycle, DriftPolicy]:
    """An entry's `lifecycle:` and `drift:` (checked by the schema already)."""
    lifecycle_raw = raw.get("lifecycle") or {}
    prevent = lifecycle_raw.get("prevent_destroy")
    lifecycle = Lifecycle(None if prevent is None else bool(prevent),
                          frozenset(lifecycle_raw.get("ignore_changes") or ()),
                          bool(lifecycle_raw.get("create_before_destroy", False)),
                          bool(lifecycle_raw.get("allow_data_loss", False)))
    drift_raw = raw.get("drift") or {}
    drift = DriftPolicy(str(drift_raw.get("remediate") or "report"),
                        seconds(drift_raw["every"]) if drift_raw.get("every") is not None else None)
    return lifecycle, drift
