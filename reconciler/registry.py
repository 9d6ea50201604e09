"""Which module class and JSON Schema stand behind each resource type name."""

from __future__ import annotations

import difflib
import importlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .module import Module


def schema_dir() -> Path:
    """schemas/ beside the packages in a checkout or editable install, else the installed data files."""
    here = Path(__file__).resolve().parent.parent / "schemas"
    if here.is_dir():
        return here
    return Path(sys.prefix) / "share" / "reconcile" / "schemas"


class Registry:
    """Maps type names to module classes (imported on first use) and their schemas."""

    def __init__(self, modules: Mapping[str, str], schemas: Path | None = None):
        self._specs = dict(modules)  # type name -> "package.module:ClassName"
        self._schemas = schemas or schema_dir()
        self._classes: dict[str, type[Module]] = {}
        self._instances: dict[str, Module] = {}
        self._schema_cache: dict[str, dict[str, Any]] = {}

    @classmethod
    def builtin(cls) -> Registry:
        from modules import BUILTIN_MODULES

        return cls(BUILTIN_MODULES)

    @property
    def types(self) -> list[str]:
        return sorted(self._specs)

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._specs

    def suggest(self, type_name: str) -> str | None:
        close = difflib.get_close_matches(type_name, self.types, n=1, cutoff=0.5)
        return close[0] if close else None

    def module_class(self, type_name: str) -> type[Module]:
        if type_name not in self._classes:
            module_path, _, class_name = self._specs[type_name].partition(":")
            self._classes[type_name] = getattr(importlib.import_module(module_path), class_name)
        return self._classes[type_name]

    def module(self, type_name: str) -> Module:
        if type_name not in self._instances:
            self._instances[type_name] = self.module_class(type_name)()
        return self._instances[type_name]

    def schema(self, type_name: str) -> dict[str, Any]:
        if type_name not in self._schema_cache:
            path = self._schemas / "resources" / f"{type_name}.json"
            self._schema_cache[type_name] = json.loads(path.read_text())
        return self._schema_cache[type_name]

    def spec_schema(self) -> dict[str, Any]:
        if "" not in self._schema_cache:
            self._schema_cache[""] = json.loads((self._schemas / "spec.json").read_text())
        return self._schema_cache[""]

    def resource_schema(self, type_name: str) -> dict[str, Any]:
        """One schema for a whole resource entry: the common keys of spec.json plus the type's own."""
        key = f"resource:{type_name}"
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

    def attribute_names(self, type_name: str) -> frozenset[str]:
        """Every attribute a `${…}` reference may name: the schema's properties plus computed ones."""
        props = set(self.schema(type_name).get("properties", {}))
        return frozenset(props | self.module_class(type_name).computed)
