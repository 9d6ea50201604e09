"""Reusable components: a directory of spec files with `inputs:` and `outputs:`, used from a spec as

    components:
      - {name: web, use: ./components/webserver, with: {port: 8080, hosts: web}}

Its resources are addressed `component.web.TYPE.NAME`; `${component.web.OUTPUT}` reads one of its outputs.
This module holds the pieces that need no builder: loading a component's directory, checking the caller's
`with:` against its `inputs:`, scoping the component's own addresses, and reading outputs in the caller.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.diagnostics import Diagnostic, JsonPath, Location, SourceDocument
from reconciler.errors import SpecError
from reconciler.spec import refs
from reconciler.spec.load import display_path, load_spec

# the keys a component's files may hold; the rest (inventory, state, name, aws…) belong to the stack
COMPONENT_KEYS = ("description", "inputs", "outputs", "vars", "resources", "components", "template_paths")
MAX_DEPTH = 16  # components inside components
MARK = "(component)"  # a component's own document is grafted under components[i] at this key
INPUT_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "map": lambda v: isinstance(v, dict),
    "any": lambda v: True,
}
_REF = re.compile(r"(?<!\$)\$\{([^}]*)\}")


@dataclass(frozen=True)
class ComponentOutput:
    value: Any  # rendered; `${…}` inside already point at the component's scoped addresses
    sensitive: bool


def resolve_use(use: str, where: Location | None, base_dir: str) -> Path:
    """The component's directory: `use:` relative to the file that holds the entry."""
    if "://" in use or use.startswith(("git::", "git@")):
        raise ValueError(f"use: {use!r} is not a local path; components are directories on this machine "
                         "(for now: check the component into the repository, or vendor it)")
    anchor = Path(where.file).absolute().parent if where else Path(base_dir)
    return (anchor / use).resolve()


MAX_ENTRIES = 2_000  # files and directories a component's tree may hold: `use: /` must not walk a disk


def load_component(directory: Path) -> SourceDocument:
    """The component's spec files, merged; SpecError when it has none, is too large, or cannot be parsed."""
    if not directory.is_dir():
        what = "is a file, not a directory" if directory.exists() else "does not exist"
        raise SpecError([Diagnostic(f"component directory {display_path(directory)} {what}")])
    seen = 0
    for _, dirnames, filenames in os.walk(directory):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        seen += len(dirnames) + len(filenames)
        if seen > MAX_ENTRIES:
            raise SpecError([Diagnostic(f"component directory {display_path(directory)} holds more than "
                                        f"{MAX_ENTRIES} files and directories: is `use:` the component's own "
                                        "directory?")])
    return load_spec(directory)


def check_inputs(
    declared: Mapping[str, Any], given: Mapping[str, Any], component: str, at: JsonPath,
    locate: Callable[[JsonPath], Location | None],
) -> tuple[dict[str, Any], list[Diagnostic]]:
    """The inputs the component sees (given values, then defaults), and what is wrong with `with:` —
    reported at the caller's lines."""
    problems: list[Diagnostic] = []
    values: dict[str, Any] = {}

    def report(message: str, path: JsonPath) -> None:
        problems.append(Diagnostic(message, locate(path), path))

    for key, value in given.items():
        path = at + ("with", key)
        spec = declared.get(key)
        if not isinstance(spec, dict):
            close = difflib.get_close_matches(str(key), list(declared), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(sorted(declared)) or "none"
            report(f"component {component} has no input {key!r}{hint}; its inputs: {known}", path)
            continue
        kind = spec.get("type", "any")
        check = INPUT_TYPES.get(kind, INPUT_TYPES["any"])
        if not check(value) and not (isinstance(value, str) and refs.has_reference(value)):
            shown = "(sensitive)" if "password" in key or "secret" in key else repr(value)[:80]
            article = "an" if kind[0] in "aeiou" else "a"
            report(f"input {key} of component {component} must be {article} {kind}, not {type(value).__name__} "
                   f"{shown}", path)
            continue
        values[key] = value
    for key, spec in declared.items():
        if key in values or key in given or not isinstance(spec, dict):
            continue
        if "default" in spec:
            values[key] = spec["default"]
        elif spec.get("required", True):
            about = f" ({spec['description']})" if spec.get("description") else ""
            report(f"component {component} needs the input {key!r}{about}: add it under with:", at)
        else:
            values[key] = None
    return values, problems


def scope_references(value: Any, scope: str, types: Collection[str]) -> Any:
    """`${TYPE.NAME…}` and `${component.X…}` written inside a component, made to name the component's own
    resources and components (`${component.web.TYPE.NAME…}`). A reference to anything the component does
    not declare is scoped too, so it cannot reach into the caller: it is then reported as unknown."""
    if isinstance(value, str):
        if "${" not in value:
            return value

        def repl(m: re.Match[str]) -> str:
            inner = m.group(1).strip()
            if inner.startswith("data."):  # lookups belong to the stack
                return m.group(0)
            parts = inner.split(".", 3)  # a key may hold a template, dots and all: file.x[{{ each.key }}].path
            names_a_type = any(".".join(parts[:w]) in types for w in (3, 2, 1) if len(parts) > w)
            if not names_a_type and not inner.startswith(f"{refs.COMPONENT}."):
                return m.group(0)  # the graph reports what is wrong with it, as written
            return "${" + scope + inner + "}"

        return _REF.sub(repl, value)
    if isinstance(value, dict):
        return {k: scope_references(v, scope, types) for k, v in value.items()}
    if isinstance(value, list):
        return [scope_references(v, scope, types) for v in value]
    return value


def scope_address(written: str, scope: str) -> str:
    """An address in `depends_on:` or a trigger list inside a component, as the stack knows it."""
    return written if written.startswith("data.") else scope + written


def scope_notify(entry: str, scope: str) -> str:
    """A `notify:` entry inside a component, its address made to name the component's own resource."""
    address, action = refs.parse_notify(entry)
    return scope_address(address, scope) + (f": {action}" if action else "")


def read_outputs(
    value: Any, scope: str, outputs: Mapping[str, Mapping[str, ComponentOutput]], types: Collection[str],
) -> tuple[Any, list[str], bool]:
    """`value` with every `${component.NAME.OUTPUT…}` replaced by the output's value (`outputs` is keyed by
    the component's scope, "component.NAME."; `scope` is the reader's own, left out of messages); the
    problems found; and whether a sensitive output was read."""
    problems: list[str] = []
    sensitive = False

    def lookup(inner: str) -> tuple[bool, Any]:
        nonlocal sensitive
        at, rest = refs.split_scope(inner.strip().split("."))
        if not at or not rest:
            return False, None
        try:
            refs.parse(".".join(rest), types)  # component.web.file.conf.path: a resource of it
            return False, None
        except ValueError:
            pass
        shown = inner.strip()[len(scope):] if inner.strip().startswith(scope) else inner.strip()
        known = outputs.get(at)
        if known is None:
            here = sorted(k[len(scope):].removeprefix("component.").rstrip(".") for k in outputs if k.startswith(scope))
            problems.append(f"${{{shown}}}: there is no component {at[len(scope):].removeprefix('component.')[:-1]!r}"
                            + (f" (components: {', '.join(here)})" if here else ""))
            return True, None
        found = known.get(rest[0])
        if found is None:
            names = ", ".join(sorted(known)) or "none"
            problems.append(f"${{{shown}}}: the component has no output {rest[0]!r} (its outputs: {names})")
            return True, None
        sensitive = sensitive or found.sensitive
        try:
            return True, refs.dig(found.value, tuple(rest[1:]), f"${{{shown}}}")
        except refs.ReferenceProblem as exc:
            problems.append(str(exc))
            return True, None

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            if "${" not in node:
                return node
            whole = _REF.fullmatch(node)
            if whole:
                hit, got = lookup(whole.group(1))
                return got if hit else node

            def repl(m: re.Match[str]) -> str:
                hit, got = lookup(m.group(1))
                return m.group(0) if not hit else ("" if got is None else str(got))

            return _REF.sub(repl, node)
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(value), problems, sensitive


def component_order(entries: list[tuple[int, str, Any]], scope: str = "") -> tuple[list[int], list[str]]:
    """The order to build components in so that one reading another's outputs in `with:` comes after
    it; and the cycles found (each as "a -> b -> a"). `scope`: the callers' own, which their texts carry."""
    import networkx as nx

    graph: nx.DiGraph[str] = nx.DiGraph()
    index = {name: i for i, name, _ in entries}
    for _, name, given in entries:
        graph.add_node(name)
        for _, text in refs.find(given):
            parts = text.strip().removeprefix(scope).split(".")
            if len(parts) >= 3 and parts[0] == refs.COMPONENT and parts[1] in index and parts[1] != name:
                graph.add_edge(parts[1], name)
            elif len(parts) >= 3 and parts[0] == refs.COMPONENT and parts[1] == name:
                graph.add_edge(name, name)
    cycles = []
    for group in nx.strongly_connected_components(graph):
        members = sorted(group)
        if len(members) > 1 or graph.has_edge(members[0], members[0]):
            cycles.append(" -> ".join(members + [members[0]]))
    for cycle in cycles:  # the others are still built, so that their own problems show too
        graph.remove_nodes_from(cycle.split(" -> "))
    return [index[n] for n in nx.lexicographical_topological_sort(graph, key=lambda n: index[n])], sorted(cycles)


def graft(doc: SourceDocument, at: JsonPath, child: SourceDocument) -> SourceDocument:
    """`doc` with a component's document hung under `at + (MARK,)`: its locations and written texts, so
    that every stage that locates a resource by its path finds the component's file and line."""
    from dataclasses import replace

    locations = dict(doc.locations)
    texts = dict(doc.texts)
    prefix = at + (MARK,)
    locations.update({prefix + p: loc for p, loc in child.locations.items()})
    texts.update({prefix + p: t for p, t in child.texts.items()})
    data = _graft_data(doc.data, at, child.data)
    files = doc.files + tuple(f for f in child.files if f not in doc.files)
    return replace(doc, locations=locations, texts=texts, data=data, files=files)


def _graft_data(data: Any, at: JsonPath, child: Mapping[str, Any]) -> Any:
    if not at:
        return {**data, MARK: child} if isinstance(data, dict) else data
    head, rest = at[0], at[1:]
    if isinstance(data, dict) and head in data:
        return {**data, head: _graft_data(data[head], rest, child)}
    if isinstance(data, list) and isinstance(head, int) and head < len(data):
        copy = list(data)
        copy[head] = _graft_data(data[head], rest, child)
        return copy
    return data
