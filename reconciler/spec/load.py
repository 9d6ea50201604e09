"""Load a spec file or a directory of them into one document that remembers where every value came from."""

from __future__ import annotations

import datetime
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from reconciler.diagnostics import Diagnostic, JsonPath, Location, SourceDocument
from reconciler.errors import SpecError

try:  # libyaml is ~10x faster; the pure-Python loader gives the same nodes
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

SPEC_SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 16 * 1024 * 1024  # a spec file larger than this is refused before parsing
MAX_DEPTH = 100  # nesting of mappings and lists
MAX_VALUES = 1_000_000  # values in a document once aliases are expanded (a "billion laughs" stops here)
LIST_KEYS = ("resources", "vars_from_env")  # concatenated across files; every other top-level key is merged


def display_path(path: str | Path) -> str:
    """A path as the user will recognise it: relative to the working directory when under it."""
    path = os.path.abspath(path)
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def spec_files(root: Path) -> list[Path]:
    """A spec file, or a directory's own *.yaml/*.yml files: never its subdirectories, which hold components,
    templates and vars/ (as Terraform reads only a directory's own .tf files)."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.iterdir() if p.name.endswith(SPEC_SUFFIXES) and not p.name.startswith(".")
                  and (p.is_file() or not p.exists()))


def load_spec(path: str | Path) -> SourceDocument:
    """Read, parse and merge a spec. Raises SpecError with every problem found."""
    root = Path(path).absolute()
    if not root.exists():
        raise SpecError([Diagnostic(f"no such file or directory: {display_path(root)}")])
    files = spec_files(root)
    if not files:
        raise SpecError([Diagnostic(f"no *.yaml or *.yml files in {display_path(root)} (a spec directory is its own "
                                    "files; subdirectories hold components and templates)")])

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
        texts=merger.texts,
    )


def load_yaml_file(file: Path, what: str = "file") -> tuple[Any, dict[JsonPath, Location]]:
    """Parse one YAML file on its own (an Ansible inventory, a variable file), keeping locations, with the
    spec's bounds: regular files only, size, depth, aliases."""
    diagnostics: list[Diagnostic] = []
    node = _compose(file, diagnostics, what)
    if diagnostics:
        raise SpecError(diagnostics)
    locations: dict[JsonPath, Location] = {}
    if node is None:
        return None, locations
    value = _Converter(display_path(file), locations, diagnostics).convert(node, ())
    if diagnostics:
        raise SpecError(diagnostics)
    return value, locations


def _compose(file: Path, diagnostics: list[Diagnostic], what: str = "spec file") -> yaml.Node | None:
    shown = display_path(file)
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO or device never blocks the read
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise OSError(f"{shown} is not a regular file")
            if info.st_size > MAX_FILE_BYTES:
                diagnostics.append(Diagnostic(f"{what} is {info.st_size} bytes; the limit is {MAX_FILE_BYTES}",
                                              Location(shown, 1, 1)))
                return None
            raw = fh.read(MAX_FILE_BYTES + 1)
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        diagnostics.append(Diagnostic(f"{what} is not UTF-8 text (byte {exc.start})", Location(shown, 1, 1)))
        return None
    except OSError as exc:
        diagnostics.append(Diagnostic(f"cannot read {what}: {exc.strerror or exc}", Location(shown, 1, 1)))
        return None
    if "\x00" in text:
        diagnostics.append(Diagnostic(f"{what} contains a NUL byte", Location(shown, 1, 1)))
        return None
    try:
        node = yaml.compose(text, Loader=_Loader)
        if node is not None and expanded_size(node) > MAX_VALUES:
            diagnostics.append(Diagnostic(
                f"the document expands to more than {MAX_VALUES} values (anchors and aliases repeated over and "
                "over?); refusing to load it", Location(shown, 1, 1)))
            return None
        return node
    except _TooDeep as exc:
        mark = exc.node.start_mark
        diagnostics.append(Diagnostic(f"values nested more than {MAX_DEPTH} deep", Location(shown, mark.line + 1,
                                                                                             mark.column + 1)))
    except RecursionError:
        diagnostics.append(Diagnostic(f"values nested more than {MAX_DEPTH} deep", Location(shown, 1, 1)))
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


class _TooDeep(Exception):
    def __init__(self, node: yaml.Node):
        super().__init__("nested too deeply")
        self.node = node


def expanded_size(node: yaml.Node, memo: dict[int, int] | None = None, depth: int = 0) -> int:
    """How many values `node` stands for once every alias is expanded, counted without expanding: each
    distinct node is sized once (an alias is the same node object again)."""
    memo = {} if memo is None else memo
    key = id(node)
    if key in memo:
        return memo[key]
    if depth > MAX_DEPTH:
        raise _TooDeep(node)
    memo[key] = 1  # a cycle (a recursive alias) counts once
    size = 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            size += expanded_size(k, memo, depth + 1) + expanded_size(v, memo, depth + 1)
            if size > MAX_VALUES:
                break
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            size += expanded_size(item, memo, depth + 1)
            if size > MAX_VALUES:
                break
    memo[key] = size
    return size


def _inventory_reference(file: Path, node: yaml.Node) -> Path | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key, value in node.value:
        if key.value == "inventory" and isinstance(value, yaml.ScalarNode):
            return (file.parent / os.path.expanduser(str(value.value))).absolute()
    return None


class _Budget:
    """How many values may still be made: aliases repeat nodes, and expanding them must stay bounded."""

    def __init__(self) -> None:
        self.left = MAX_VALUES
        self.exceeded = False


class _Converter:
    """Turns a YAML node tree into plain values, recording the location of every node."""

    def __init__(self, file: str, locations: dict[JsonPath, Location], diagnostics: list[Diagnostic],
                 budget: _Budget | None = None, texts: dict[JsonPath, str] | None = None):
        self.file = file
        self.locations = locations
        self.texts = {} if texts is None else texts
        self.diagnostics = diagnostics
        self.constructor = yaml.constructor.SafeConstructor()
        self.budget = budget or _Budget()

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def flatten(self, node: yaml.MappingNode) -> bool:
        """Resolve `<<:` merge keys; a malformed one is a diagnostic, not a crash."""
        try:
            self.constructor.flatten_mapping(node)
            return True
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or node.start_mark
            self.diagnostics.append(Diagnostic(f"YAML error: {getattr(exc, 'problem', None) or exc}",
                                               Location(self.file, mark.line + 1, mark.column + 1)))
            return False

    def convert(self, node: yaml.Node, path: JsonPath) -> Any:
        self.budget.left -= 1
        if self.budget.left < 0:
            if not self.budget.exceeded:
                self.budget.exceeded = True
                self.diagnostics.append(Diagnostic(
                    f"the document expands to more than {MAX_VALUES} values (anchors and aliases repeated "
                    "over and over?); refusing to load it", self.loc(node)))
            return None
        if path not in self.locations:  # a mapping value keeps its key's location, set by the caller
            self.locations[path] = self.loc(node)
        if len(path) > MAX_DEPTH:
            self.diagnostics.append(Diagnostic(f"values nested more than {MAX_DEPTH} deep", self.loc(node)))
            return None
        if isinstance(node, yaml.MappingNode):
            if not self.flatten(node):
                return {}
            out: dict[str, Any] = {}
            for knode, vnode in node.value:
                # keys keep their text: YAML 1.1 would turn `on:` into True
                key = knode.value if isinstance(knode, yaml.ScalarNode) else str(knode.value)
                if "\x00" in key:
                    self.diagnostics.append(Diagnostic("a key contains a NUL character", self.loc(knode)))
                    continue
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
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.diagnostics.append(Diagnostic(f"YAML error: {getattr(exc, 'problem', None) or exc}", self.loc(node)))
            return None
        except (ValueError, OverflowError) as exc:  # e.g. a timestamp out of range
            self.diagnostics.append(Diagnostic(f"YAML value error: {exc}", self.loc(node)))
            return None
        if isinstance(value, (datetime.date, datetime.datetime)):
            return value.isoformat()
        if isinstance(value, bytes):  # !!binary
            self.diagnostics.append(Diagnostic("binary values (!!binary) are not supported", self.loc(node)))
            return None
        if isinstance(value, str) and "\x00" in value:  # e.g. "\0" in a double-quoted string
            self.diagnostics.append(Diagnostic("a value contains a NUL character", self.loc(node)))
            return None
        if not isinstance(value, str) and isinstance(node, yaml.ScalarNode):
            self.texts[path] = node.value  # `1.10`, `true`, `010`: what the user wrote, for string attributes
        return value


class _Merger:
    """Merges the top-level mappings of several files: lists are concatenated, mappings joined."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        self.data: dict[str, Any] = {}
        self.locations: dict[JsonPath, Location] = {}
        self.texts: dict[JsonPath, str] = {}
        self.budget = _Budget()

    def add(self, file: Path, node: yaml.Node) -> None:
        shown = display_path(file)
        if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
            return  # an empty file
        if not isinstance(node, yaml.MappingNode):
            self.diagnostics.append(
                Diagnostic("a spec file must be a mapping of top-level keys", Location(shown, 1, 1))
            )
            return
        converter = _Converter(shown, self.locations, self.diagnostics, self.budget, self.texts)
        if not converter.flatten(node):
            return
        in_this_file: dict[str, Location] = {}
        for knode, vnode in node.value:
            key = str(knode.value)
            if key in in_this_file:
                self.diagnostics.append(Diagnostic(
                    f"duplicate top-level key {key!r} (first at {in_this_file[key]})", converter.loc(knode), (key,)))
                continue
            in_this_file[key] = converter.loc(knode)
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
            if not converter.flatten(vnode):
                return
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
