"""Load a spec file or a directory of them into one document that remembers where every value came from."""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import SpecError
from reconciler.model import Diagnostic, JsonPath, Location, SourceDocument

try:  # libyaml is ~10x faster; the pure-Python loader gives the same nodes
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

SPEC_SUFFIXES = (".yaml", ".yml")
LIST_KEYS = ("resources", "vars_from_env")  # concatenated across files; every other top-level key is merged


def display_path(path: str | Path) -> str:
    """A path as the user will recognise it: relative to the working directory when under it."""
    path = os.path.abspath(path)
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def spec_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / f for f in sorted(filenames) if f.endswith(SPEC_SUFFIXES))
    return found


def load_spec(path: str | Path) -> SourceDocument:
    """Read, parse and merge a spec. Raises SpecError with every problem found."""
    root = Path(path).absolute()
    if not root.exists():
        raise SpecError([Diagnostic(f"no such file or directory: {display_path(root)}")])
    files = spec_files(root)
    if not files:
        raise SpecError([Diagnostic(f"no *.yaml or *.yml files under {display_path(root)}")])

    diagnostics: list[Diagnostic] = []
    parsed: list[tuple[Path, yaml.Node]] = []
    for file in files:
        node = _compose(file, diagnostics)
        if node is not None:
            parsed.append((file, node))

    inventory_files = {_inventory_reference(file, node) for file, node in parsed} - {None}
    merger = _Merger(diagnostics)
    for file, node in parsed:
        if file not in inventory_files:
            merger.add(file, node)
    if diagnostics:
        raise SpecError(diagnostics)
    return SourceDocument(
        root=str(root),
        base_dir=str(root if root.is_dir() else root.parent),
        files=tuple(str(f) for f, _ in parsed if f not in inventory_files),
        data=merger.data,
        locations=merger.locations,
    )


def load_yaml_file(file: Path) -> tuple[Any, dict[JsonPath, Location]]:
    """Parse one YAML file on its own (e.g. an Ansible inventory), keeping locations."""
    diagnostics: list[Diagnostic] = []
    node = _compose(file, diagnostics)
    if diagnostics:
        raise SpecError(diagnostics)
    locations: dict[JsonPath, Location] = {}
    if node is None:
        return None, locations
    value = _Converter(display_path(file), locations, diagnostics).convert(node, ())
    if diagnostics:
        raise SpecError(diagnostics)
    return value, locations


def _compose(file: Path, diagnostics: list[Diagnostic]) -> yaml.Node | None:
    shown = display_path(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        diagnostics.append(Diagnostic(f"cannot read spec file: {exc}", Location(shown, 1, 1)))
        return None
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        # an unclosed bracket or quote is reported where it was opened, not at the end of the file
        mark = exc.context_mark or exc.problem_mark
        loc = Location(shown, mark.line + 1, mark.column + 1) if mark else Location(shown, 1, 1)
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        if exc.context_mark and exc.problem_mark:
            problem += f" (at line {exc.problem_mark.line + 1})"
        diagnostics.append(Diagnostic(f"YAML syntax error: {problem}", loc))
    except yaml.YAMLError as exc:
        diagnostics.append(Diagnostic(f"YAML error: {exc}", Location(shown, 1, 1)))
    return None


def _inventory_reference(file: Path, node: yaml.Node) -> Path | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key, value in node.value:
        if key.value == "inventory" and isinstance(value, yaml.ScalarNode):
            return (file.parent / os.path.expanduser(value.value)).absolute()
    return None


class _Converter:
    """Turns a YAML node tree into plain values, recording the location of every node."""

    def __init__(self, file: str, locations: dict[JsonPath, Location], diagnostics: list[Diagnostic]):
        self.file = file
        self.locations = locations
        self.diagnostics = diagnostics
        self.constructor = yaml.constructor.SafeConstructor()

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def convert(self, node: yaml.Node, path: JsonPath) -> Any:
        if path not in self.locations:  # a mapping value keeps its key's location, set by the caller
            self.locations[path] = self.loc(node)
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)
            out: dict[str, Any] = {}
            for knode, vnode in node.value:
                # keys keep their text: YAML 1.1 would turn `on:` into True
                key = knode.value if isinstance(knode, yaml.ScalarNode) else str(knode.value)
                if key in out:
                    self.diagnostics.append(
                        Diagnostic(f"duplicate key {key!r} in mapping", self.loc(knode), path + (key,))
                    )
                    continue
                self.locations[path + (key,)] = self.loc(knode)
                out[key] = self.convert(vnode, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, path + (i,)) for i, item in enumerate(node.value)]
        value = self.constructor.construct_object(node, deep=True)
        if isinstance(value, (datetime.date, datetime.datetime)):
            return value.isoformat()
        return value


class _Merger:
    """Merges the top-level mappings of several files: lists are concatenated, mappings joined."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        self.data: dict[str, Any] = {}
        self.locations: dict[JsonPath, Location] = {}

    def add(self, file: Path, node: yaml.Node) -> None:
        shown = display_path(file)
        if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
            return  # an empty file
        if not isinstance(node, yaml.MappingNode):
            self.diagnostics.append(
                Diagnostic("a spec file must be a mapping of top-level keys", Location(shown, 1, 1))
            )
            return
        converter = _Converter(shown, self.locations, self.diagnostics)
        converter.constructor.flatten_mapping(node)
        for knode, vnode in node.value:
            key = str(knode.value)
            if key in LIST_KEYS and isinstance(vnode, yaml.SequenceNode):
                items = self.data.setdefault(key, [])
                self.locations.setdefault((key,), converter.loc(knode))
                for item in vnode.value:
                    items.append(converter.convert(item, (key, len(items))))
            elif key in self.data:
                self._merge_into(self.data, key, vnode, (key,), converter)
            else:
                self.locations[(key,)] = converter.loc(knode)
                self.data[key] = converter.convert(vnode, (key,))

    def _merge_into(
        self, target: dict[str, Any], key: str, vnode: yaml.Node, path: JsonPath, converter: _Converter
    ) -> None:
        existing = target[key]
        if isinstance(existing, dict) and isinstance(vnode, yaml.MappingNode):
            converter.constructor.flatten_mapping(vnode)
            for knode, child in vnode.value:
                ckey = str(knode.value)
                if ckey in existing:
                    self._merge_into(existing, ckey, child, path + (ckey,), converter)
                else:
                    self.locations[path + (ckey,)] = converter.loc(knode)
                    existing[ckey] = converter.convert(child, path + (ckey,))
            return
        first = self.locations.get(path)
        self.diagnostics.append(
            Diagnostic(
                f"{'.'.join(str(p) for p in path)} is defined twice (first at {first})",
                converter.loc(vnode),
                path,
            )
        )
