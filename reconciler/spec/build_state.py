"""What every stage of building a document shares: its sources, settings, renderer and diagnostics
(BuildState), and the small helpers of names, placeholders and hashes."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

from reconciler.diagnostics import Diagnostic, JsonPath, SourceDocument
from reconciler.inventory import Host, Inventory
from reconciler.model import GroupMembers, Output, Resource
from reconciler.registry import Registry
from reconciler.spec import components as comp
from reconciler.spec.inventory import as_mapping
from reconciler.spec.render import Renderer
from reconciler.spec.templates import ConfinedLoader, TemplateFiles
from reconciler.spec.variables import RESERVED
from reconciler.targets.facts import placeholder_facts

RESERVED_NAMES = RESERVED  # names templates give a meaning of their own
META_KEYS = frozenset({"type", "name", "on", "depends_on", "lifecycle", "sensitive", "region", "for_each", "count",
                       "when", "notify", "triggered_by", "drift"})


INSTANCE_KEY = re.compile(r"^[A-Za-z0-9_:/@+-]{1,128}$")  # no dots or brackets: addresses stay parseable
MAX_INSTANCES = 10_000  # per resource entry, so that a typo cannot make millions
LOCAL = "local"
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def plain_meta(meta: Mapping[str, Any]) -> bool:
    """Meta keys that are certainly valid without a schema check: the fast path of 10,000-resource specs."""
    if not set(meta) <= {"type", "name", "depends_on", "on"}:
        return False
    if not isinstance(meta.get("name"), str) or not _NAME.match(meta["name"]):
        return False
    on, deps = meta.get("on", "local"), meta.get("depends_on", [])
    return isinstance(on, str) and isinstance(deps, list) and all(isinstance(d, str) for d in deps)


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


class EnvironmentVariables(dict):  # type: ignore[type-arg]
    """`env` in templates; its own type so that a missing name gets a message of its own."""


_MISSING_ENV = re.compile(r"EnvironmentVariables object' has no attribute '([^']+)'")


def env_placeholder(name: str) -> str:
    return f"<unset env {name}>"


def is_placeholder(value: str) -> bool:
    return "<unset env " in value


def canonical_hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def mentions(value: Any, pattern: re.Pattern[str]) -> bool:
    if isinstance(value, str):
        return "${" in value and pattern.search(value) is not None
    if isinstance(value, dict):
        return any(mentions(v, pattern) for v in value.values())
    if isinstance(value, list):
        return any(mentions(v, pattern) for v in value)
    return False


def under_path(diagnostic: Diagnostic, path: JsonPath) -> Diagnostic:
    """A component's diagnostic as the stack sees it: its path under the component's entry."""
    return replace(diagnostic, json_path=path + (comp.MARK,) + diagnostic.json_path)


def dedupe(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """A group-expanded resource reports the same error once, not once per host."""
    return list(dict.fromkeys(diagnostics))


class BuildState:
    """What the stages of building one document share. The stages (SchemaChecks, Expansion, ComponentBuild,
    Placement) are its subclasses, put together by build._SpecBuilder; a method one stage calls on another is
    declared here."""

    def __init__(self, doc: SourceDocument, registry: Registry, environ: Mapping[str, str], unset_env_ok: bool,
                 workspace: str = "default", variables: Mapping[str, Any] | None = None, *,
                 scope: str = "", inputs: Mapping[str, Any] | None = None, parent: BuildState | None = None,
                 chain: tuple[str, ...] = ()):
        self.doc = doc
        self.environ, self.unset_env_ok = environ, unset_env_ok
        self.scope, self.inputs, self.chain = scope, dict(inputs or {}), chain
        self.top: BuildState = parent.top if parent is not None else self
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
        self.validators: dict[str, Draft202012Validator] = {}  # made on first need (json_validator.py)
        env_list = doc.data.get("vars_from_env")
        self.env_names = [k for k in env_list if isinstance(k, str)] if isinstance(env_list, list) else []
        self.env = EnvironmentVariables(
            {k: environ[k] if k in environ else env_placeholder(k) for k in self.env_names
             if k in environ or unset_env_ok})
        self.vars = dict(variables) if variables is not None else as_mapping(doc.data.get("vars"))
        self.family_settings: dict[str, dict[str, Any]] = {}  # a family's top-level block, rendered early
        allowed = doc.data.get("template_paths")
        self.reads: set[str] = parent.reads if parent is not None else set()  # files read besides the spec's own
        self.template_files = TemplateFiles.for_spec(
            doc.base_dir, [a for a in allowed if isinstance(a, str)] if isinstance(allowed, list) else [], self.reads)
        self.renderer = Renderer(loader=ConfinedLoader(self.template_files, Path(doc.base_dir)))

    def _error(self, message: str, path: JsonPath) -> None:
        self.diagnostics.append(Diagnostic(message, self.doc.locate(path), path))

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

    def _explain(self, exc: Exception) -> str:
        text = str(exc)
        missing = _MISSING_ENV.search(text)
        if missing and missing.group(1) in self.env_names:
            return f"environment variable {missing.group(1)} is listed in vars_from_env but not set"
        if missing:
            return f"env has no attribute {missing.group(1)!r} (environment variables must be listed in vars_from_env)"
        return text

    def _as_written(self, value: Any, schema: Any, path: JsonPath) -> Any:
        raise NotImplementedError  # defined by a stage: see the class docstring

    def _check_schema(
        self, type_name: str, attributes: dict[str, Any], path: JsonPath, written: dict[str, Any]
    ) -> bool:
        raise NotImplementedError  # defined by a stage: see the class docstring

    def _collect(self, inventory: Inventory) -> list[Resource]:
        raise NotImplementedError  # defined by a stage: see the class docstring

    def _components(self, inventory: Inventory) -> list[Resource]:
        raise NotImplementedError  # defined by a stage: see the class docstring

    def _dynamic(self, inventory: Inventory) -> Inventory:
        raise NotImplementedError  # defined by a stage: see the class docstring

    def _expand(self, index: int, raw: Any, inventory: Inventory) -> list[Resource]:
        raise NotImplementedError  # defined by a stage: see the class docstring

    def _on_dynamic(self, inventory: Inventory, resources: list[Resource]) -> list[Resource]:
        raise NotImplementedError  # defined by a stage: see the class docstring

    def _outputs(self) -> tuple[Output, ...]:
        raise NotImplementedError  # defined by a stage: see the class docstring

    def _read_outputs(
        self, type_name: str, attributes: dict[str, Any], secret: frozenset[str], path: JsonPath
    ) -> tuple[dict[str, Any] | None, frozenset[str]]:
        raise NotImplementedError  # defined by a stage: see the class docstring

    def _render(
        self, type_name: str, attributes: dict[str, Any], path: JsonPath, host: Host | None, target: str,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        raise NotImplementedError  # defined by a stage: see the class docstring

    def _rollouts(self, inventory: Inventory) -> Inventory:
        raise NotImplementedError  # defined by a stage: see the class docstring

    def _targets(
        self, family: str, raw: dict[str, Any], inventory: Inventory, path: JsonPath
    ) -> list[tuple[str, Host | None, str]]:
        raise NotImplementedError  # defined by a stage: see the class docstring

    def _render_early(self, key: str) -> dict[str, Any]:
        raise NotImplementedError  # defined by a stage: see the class docstring

    def _output_pattern(self) -> re.Pattern[str]:
        raise NotImplementedError  # defined by a stage: see the class docstring
