"""Which module class and JSON Schema stand behind each resource type name, and which target factory
serves each family: all found through entry points, the built-in ones exactly as a plugin's.

- `reconcile.modules`: `type name = package.module:Class`; the type's schema is the `.json` file beside
  the class's module (`package/module.json`), read with importlib.resources.
- `reconcile.targets`: `family = package.module:factory`, `factory(spec, name) -> target`.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from reconciler.errors import ReconcileError
from reconciler.module import DataSource, Module
from reconciler.quick_checks import QuickChecks
from reconciler.schema_files import load_schema_beside, strict_schema
from reconciler.targets.families import FactoryFamily, Family

log = logging.getLogger(__name__)


MODULES_GROUP = "reconcile.modules"


DATA_GROUP = "reconcile.data"  # read-only lookups: `data.NAME = package.module:Class`, schema beside it


TARGETS_GROUP = "reconcile.targets"


BUILTIN_DISTRIBUTION = "reconcile-iac"


@dataclass(frozen=True)
class TypeEntry:
    """One resource type as a distribution declared it."""

    type_name: str
    reference: str  # "package.module:ClassName"
    origin: str  # the distribution that provides it, e.g. "reconcile-iac 0.2.0"

    @property
    def module_path(self) -> str:
        return self.reference.partition(":")[0]

    @property
    def builtin(self) -> bool:
        """Provided by reconcile itself (tested with it), not by a plugin."""
        return self.origin.split(" ", 1)[0] == BUILTIN_DISTRIBUTION


def _origin(ep: metadata.EntryPoint, seen: dict[int, str]) -> str:
    """`name version` of the distribution declaring `ep`; its metadata is parsed once per distribution
    (`seen`), not once per entry point (that was a third of a plan's start-up)."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown"
    if id(dist) not in seen:
        seen[id(dist)] = f"{dist.metadata['Name']} {dist.version}"
    return seen[id(dist)]


def installed_entries(group: str) -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=group))


class Registry:
    """Maps type names to module classes (imported on first use) and their schemas, and families to
    target factories. Safe to share between threads."""

    def __init__(self, types: Iterable[TypeEntry], targets: Mapping[str, str] | None = None,
                 data: Iterable[TypeEntry] = ()):
        self._entries = {t.type_name: t for t in types}
        self._data_entries = {t.type_name: t for t in data}
        self._data_instances: dict[str, DataSource[Any]] = {}
        self._target_refs = dict(targets or {})
        self._classes: dict[str, type[Module[Any]]] = {}
        self._instances: dict[str, Module[Any]] = {}
        self._schema_cache: dict[str, dict[str, Any]] = {}
        self._families: dict[str, Family] = {}
        self._quick = QuickChecks()
        self._broken: dict[str, str] = {}  # a plugin's type (or family) that cannot be loaded -> why
        self._checked: set[str] = set()  # plugins' types that were found to load
        self._lock = threading.RLock()

    @classmethod
    def installed(cls) -> Registry:
        """Every resource type and target family installed in this Python environment."""
        seen: dict[int, str] = {}
        types = [TypeEntry(ep.name, ep.value, _origin(ep, seen)) for ep in installed_entries(MODULES_GROUP)]
        targets = {ep.name: ep.value for ep in installed_entries(TARGETS_GROUP)}
        data = [TypeEntry(ep.name, ep.value, _origin(ep, seen)) for ep in installed_entries(DATA_GROUP)]
        if not types:
            raise ReconcileError(
                "no resource types are installed (no `reconcile.modules` entry points): "
                "install the package with pip (`pip install -e .` in a checkout)"
            )
        return cls(types, targets, data)

    builtin = installed  # the built-in families register through the same entry points

    # -- types --------------------------------------------------------------------------------
    @property
    def types(self) -> list[str]:
        """Every usable type: the built-in ones, and each plugin's that loads (a broken one is reported once
        and left out, so that everything else keeps working)."""
        return sorted(t for t, e in self._entries.items() if e.builtin or self._loads(t))

    @property
    def broken(self) -> dict[str, str]:
        """The plugins' types (and target families) that cannot be loaded, with why (after `types`)."""
        for type_name, entry in self._entries.items():
            if not entry.builtin:
                self._loads(type_name)
        return dict(self._broken)

    def broken_reason(self, type_name: str) -> str | None:
        """Why the plugin type `type_name` cannot be used ("reconcile-hello 1.0: ImportError: …"), or None."""
        entry = self._entries.get(type_name)
        if entry is None or entry.builtin or self._loads(type_name):
            return None
        return f"{entry.origin}: {self._broken[type_name]}"

    def _loads(self, type_name: str) -> bool:
        """Whether a plugin's type imports and has a valid schema; checked once, reported once."""
        with self._lock:
            if type_name in self._broken:
                return False
            if type_name in self._checked:
                return True
            entry = self._entries[type_name]
            try:
                self.module_class(type_name)
                schema = self.schema(type_name)
                from jsonschema.validators import validator_for

                validator_for(schema).check_schema(schema)
            except Exception as exc:  # noqa: BLE001 - a plugin's bug: reported by name, never a crash
                why = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
                self._broken[type_name] = why
                self._classes.pop(type_name, None)
                self._schema_cache.pop(type_name, None)
                log.warning("resource type %s from %s cannot be loaded and is left out (%s)", type_name,
                            entry.origin, why)
                log.debug("loading %s failed", type_name, exc_info=exc)
                return False
            self._checked.add(type_name)
            return True

    def entry(self, type_name: str) -> TypeEntry:
        return self._entries[type_name]

    def __contains__(self, type_name: object) -> bool:
        if not isinstance(type_name, str) or type_name not in self._entries:
            return False
        return self._entries[type_name].builtin or self._loads(type_name)

    def suggest(self, type_name: str) -> str | None:
        close = difflib.get_close_matches(type_name, self.types, n=1, cutoff=0.5)
        return close[0] if close else None

    def module_class(self, type_name: str) -> type[Module[Any]]:
        with self._lock:
            if type_name not in self._classes:
                module_path, _, class_name = self._entries[type_name].reference.partition(":")
                found = getattr(importlib.import_module(module_path), class_name)
                if getattr(found, "type_name", None) != type_name:
                    raise ReconcileError(f"entry point {type_name} names {found.__qualname__}, whose type_name is "
                                         f"{getattr(found, 'type_name', None)!r}")
                self._classes[type_name] = found
            return self._classes[type_name]

    def module(self, type_name: str) -> Module[Any]:
        with self._lock:
            if type_name not in self._instances:
                self._instances[type_name] = self.module_class(type_name)()
            return self._instances[type_name]

    def prepare(self, type_names: Iterable[str]) -> None:
        """Create the module instances a run needs before any worker thread asks for them."""
        for type_name in set(type_names):
            if type_name in self._entries:
                self.module(type_name)

    # -- schemas ------------------------------------------------------------------------------
    def schema(self, type_name: str) -> dict[str, Any]:
        if type_name.startswith("data.") and type_name.removeprefix("data.") in self._data_entries:
            return self.data_schema(type_name.removeprefix("data."))
        with self._lock:
            if type_name not in self._schema_cache:
                self._schema_cache[type_name] = load_schema_beside(self._entries[type_name].module_path)
            return self._schema_cache[type_name]

    def spec_schema(self) -> dict[str, Any]:
        """spec.json with each family's settings block (`aws:`, `docker:`, a plugin's own) as the family
        declares it."""
        with self._lock:
            if "" in self._schema_cache:
                return self._schema_cache[""]
        schema = load_schema_beside("reconciler.spec.spec")
        blocks = {}
        for name in self.families:
            family = self.family(name)
            if family.settings_key:
                blocks[family.settings_key] = strict_schema(family.settings_schema())
        schema["properties"] = {**schema["properties"], **blocks}
        with self._lock:
            self._schema_cache[""] = schema
        return schema

    def settings_keys(self) -> tuple[str, ...]:
        """The spec's top-level blocks that families read (aws, docker…), rendered before the resources."""
        return tuple(sorted({k for f in self.families if (k := self.family(f).settings_key)}))

    def host_family(self) -> str | None:
        """The family whose targets are the inventory's hosts (where facts are read and checks run), if one
        is installed."""
        return next((f for f in self.families if self.family(f).hosts_are_targets), None)

    def resource_schema(self, type_name: str) -> dict[str, Any]:
        """One schema for a whole resource entry: the common keys of the spec schema plus the type's own."""
        key = f"resource:{type_name}"
        with self._lock:
            if key not in self._schema_cache:
                spec = self.spec_schema()
                common = spec["$defs"]["resource"]
                own = self.schema(type_name)
                self._schema_cache[key] = {
                    **own,
                    "$defs": {**spec["$defs"], **own.get("$defs", {})},
                    "properties": {**common["properties"], **own.get("properties", {})},
                    "required": list(dict.fromkeys(common["required"] + own.get("required", []))),
                }
            return self._schema_cache[key]

    def quick_check(self, type_name: str, instance: Any) -> bool:
        """True when `instance` is certainly valid against the type's whole resource schema (see QuickChecks);
        False means "ask jsonschema", which says where and why."""
        return self._quick.check(type_name, lambda: self.resource_schema(type_name), instance)

    def quick_check_spec(self, outline: Any) -> bool:
        """quick_check for a spec's top level (its resources checked one by one, apart)."""
        return self._quick.check("(spec)", self.spec_schema, outline)

    def quick_check_keys(self, keys: Any) -> bool:
        """quick_check for the keys every resource shares (on, depends_on, lifecycle…), where no `${…}`
        reference may stand."""
        def schema() -> Any:
            spec = self.spec_schema()
            return {**spec["$defs"]["resource"], "$defs": spec["$defs"]}

        return self._quick.check("(resource keys)", schema, keys, references=False)

    def attribute_names(self, type_name: str) -> frozenset[str]:
        """Every attribute a `${…}` reference may name: the schema's properties plus computed ones (for a
        data source, `data.TYPE`: the query's keys plus what a read provides)."""
        if type_name.startswith("data."):
            kind = type_name.removeprefix("data.")
            props = set(self.schema(type_name).get("properties", {}))
            return frozenset(props | type(self.data_source(kind)).provides)
        props = set(self.schema(type_name).get("properties", {}))
        return frozenset(props | self.module_class(type_name).computed)

    # -- data sources -------------------------------------------------------------------------
    @property
    def data_types(self) -> list[str]:
        return sorted(self._data_entries)

    @property
    def reference_types(self) -> list[str]:
        """What a `${…}` reference may start with: resource types, and data sources as `data.TYPE`."""
        return self.types + [f"data.{t}" for t in self.data_types]

    def data_entry(self, type_name: str) -> TypeEntry:
        return self._data_entries[type_name]

    def data_source(self, type_name: str) -> DataSource[Any]:
        with self._lock:
            if type_name not in self._data_instances:
                module_path, _, class_name = self._data_entries[type_name].reference.partition(":")
                found = getattr(importlib.import_module(module_path), class_name)
                if getattr(found, "type_name", None) != type_name:
                    raise ReconcileError(f"data entry point {type_name} names {found.__qualname__}, whose type_name "
                                         f"is {getattr(found, 'type_name', None)!r}")
                self._data_instances[type_name] = found()
            return self._data_instances[type_name]

    def data_schema(self, type_name: str) -> dict[str, Any]:
        key = f"data:{type_name}"
        with self._lock:
            if key not in self._schema_cache:
                self._schema_cache[key] = load_schema_beside(self._data_entries[type_name].module_path)
            return self._schema_cache[key]

    # -- targets ------------------------------------------------------------------------------
    @property
    def families(self) -> list[str]:
        """The target families that can be used (a plugin's family that fails to load is reported once and
        left out)."""
        return sorted(f for f in self._target_refs if self._family_loads(f))

    def _family_loads(self, name: str) -> bool:
        if name in self._families:
            return True
        if f"family:{name}" in self._broken:
            return False
        if self._target_refs[name].startswith("reconciler."):
            return True  # built in: imported when a resource of the family needs it
        try:
            self.family(name)
        except Exception as exc:  # noqa: BLE001 - a plugin's bug: reported by name, never a crash
            why = f"{type(exc).__name__}: {exc}"
            self._broken[f"family:{name}"] = why
            log.warning("target family %s (%s) cannot be loaded and is left out (%s)", name,
                        self._target_refs[name], why)
            return False
        return True

    def entries(self) -> tuple[TypeEntry, ...]:
        """The resource types as declared (what another process needs to build the same registry)."""
        return tuple(self._entries.values())

    def data_entries(self) -> tuple[TypeEntry, ...]:
        return tuple(self._data_entries.values())

    def family_references(self) -> dict[str, str]:
        return dict(self._target_refs)

    def family(self, name: str) -> Family:
        """The target family: how its targets are made and where its resources go."""
        with self._lock:
            if name not in self._families:
                reference = self._target_refs.get(name)
                if reference is None:
                    raise ReconcileError(f"no target for {name} resources is installed (no `reconcile.targets` "
                                         f"entry point named {name!r})")
                module_path, _, attr = reference.partition(":")
                found = getattr(importlib.import_module(module_path), attr)
                self._families[name] = found if isinstance(found, Family) else FactoryFamily(found)
            return self._families[name]

    def target_factory(self, family: str) -> Callable[..., Any]:
        return self.family(family).create

    def target_factories(self) -> dict[str, Callable[..., Any]]:
        """family -> how its targets are made, for every family that loads (what a TargetPool is given)."""
        return {family: self.target_factory(family) for family in self.families}
