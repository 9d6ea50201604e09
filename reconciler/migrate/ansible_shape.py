"""A converted playbook made to read like a person wrote it: short names, one package resource with a list
where Ansible looped over packages or listed them task after task, and `depends_on` only where the order
matters (a package before what configures or runs it, a group before its users, a user before what it owns,
a directory before what is in it, a command after and before everything, since what it does is opaque),
never a chain through every resource."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import networkx as nx

FILLER = frozenset({"make", "sure", "we", "have", "has", "a", "an", "the", "that", "is", "are", "be", "ensure",
                    "ensures", "exists", "exist", "present", "please", "our", "its", "it", "there", "so", "all",
                    "of", "for", "on", "to", "in", "and", "with", "installed", "up"})
_WORD = re.compile(r"[a-z0-9]+")
MAX_WORDS = 4
PACKAGING_PATHS = ("/etc/apt/", "/usr/share/keyrings/", "/etc/pip.conf", "/etc/dpkg/")
REFERENCING = ("depends_on", "restart_on", "triggered_by", "notify")


def short_name(title: Any, fallback: str) -> str:
    """`Make sure we have a 'wheel' group` -> wheel_group: the words that say what, at most four."""
    words = [w for w in _WORD.findall(str(title or "").lower())
             if w not in FILLER and (len(w) > 1 or w.isdigit())][:MAX_WORDS]  # "vendor's": vendor
    return "_".join(words)[:48].strip("_") or fallback


def shaped(resources: list[dict[str, Any]], order: list[str],
           step: Callable[[str], str] = lambda type_name: "content") -> list[dict[str, Any]]:
    """Packages grouped, then each resource's `depends_on` from what must come before it."""
    resources, renamed = _grouped(_looped_packages(resources))
    order = [renamed.get(a, a) for a in order]
    for r in resources:
        for key in REFERENCING:
            if isinstance(r.get(key), list):
                r[key] = sorted({_renamed(v, renamed) for v in r[key]} - {address(r)})
    _depends(resources, order, step)
    return resources


def address(r: Mapping[str, Any]) -> str:
    return f"{r['type']}.{r['name']}"


def _renamed(entry: str, renamed: Mapping[str, str]) -> str:
    target, sep, action = entry.partition(": ")
    return renamed.get(target, target) + (sep + action if sep else "")


def _looped_packages(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`apt: name={{ item }}` over a fixed list is one package resource with `names:`."""
    out = []
    for r in resources:
        each = r.get("for_each")
        values = list(each.values()) if isinstance(each, dict) else each
        if r["type"] == "package" and isinstance(values, list) and r.get("package") == "{{ each.value }}" \
                and all(isinstance(v, str) for v in values) and "version" not in r:
            r = {k: v for k, v in r.items() if k not in ("for_each", "package")} | {"names": values}
        out.append(r)
    return out


def _plain_package(r: Mapping[str, Any]) -> bool:
    return r["type"] == "package" and not set(r) & {"when", "for_each", "version", "notify", "restart_on",
                                                   "triggered_by", "sensitive", "update_cache", "cache_valid_time"}


def _grouped(resources: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Package tasks one after another on the same hosts with the same state become one resource."""
    out: list[dict[str, Any]] = []
    renamed: dict[str, str] = {}
    for r in resources:
        last = out[-1] if out else None
        if last is not None and _plain_package(r) and _plain_package(last) and last["on"] == r["on"] \
                and last.get("state", "present") == r.get("state", "present"):
            names = _names(last) + [n for n in _names(r) if n not in _names(last)]
            if all(isinstance(n, str) and "{{" not in n for n in names):
                merged = {k: v for k, v in last.items() if k != "package"} | {"names": names}
                if merged["name"] != "packages" and len(names) > 1:
                    renamed[address(last)] = f"package.{_free_name(out, 'packages', last)}"
                    merged["name"] = renamed[address(last)].removeprefix("package.")
                renamed[address(r)] = address(merged)
                for old, new in list(renamed.items()):
                    if new == address(last):
                        renamed[old] = address(merged)
                out[-1] = merged
                continue
        out.append(r)
    return out, renamed


def _free_name(out: list[dict[str, Any]], wanted: str, own: Mapping[str, Any]) -> str:
    taken = {r["name"] for r in out if r["type"] == "package" and r is not own}
    name, n = wanted, 2
    while name in taken:
        name, n = f"{wanted}_{n}", n + 1
    return name


def _names(r: Mapping[str, Any]) -> list[Any]:
    return list(r["names"]) if "names" in r else [r.get("package", r["name"])]


def _must_precede(before: Mapping[str, Any], after: Mapping[str, Any], step: Callable[[str], str]) -> bool:
    if before["on"] != after["on"] and not (set(_hosts(before["on"])) & set(_hosts(after["on"]))):
        return False
    first, then = step(str(before["type"])), step(str(after["type"]))
    if "opaque" in (first, then):
        return True
    if then in ("source", "software"):  # sources (and their keys and settings) before what they install
        where = str(before.get("path") or before.get("dest") or "")
        return first == "source" or (first == "content" and where.startswith(PACKAGING_PATHS))
    if first == "software":
        return True
    if first == "group":
        return then in ("account", "content", "owned", "runs")
    if first == "account":
        return then in ("content", "owned", "runs")
    if then == "runs":
        return first in ("content", "setting")
    path, later = before.get("path"), after.get("path") or after.get("dest")
    return isinstance(path, str) and isinstance(later, str) and later.startswith(path.rstrip("/") + "/")


def _hosts(on: Any) -> list[str]:
    return [str(h) for h in on] if isinstance(on, list) else [str(on)]


def _depends(resources: list[dict[str, Any]], order: Iterable[str], step: Callable[[str], str]) -> None:
    """Each resource waits for the earlier ones that must precede it, reduced to the nearest (a chain
    package -> file -> service does not also say package -> service)."""
    by_address = {address(r): r for r in resources}
    sequence = [a for a in dict.fromkeys(order) if a in by_address]
    sequence += [a for a in by_address if a not in sequence]
    handlers = {a for a, r in by_address.items() if r.get("triggered_by")}  # ordered by their triggers
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(sequence)
    for i, later in enumerate(sequence):
        if later in handlers:
            continue
        for earlier in sequence[:i]:
            if _must_precede(by_address[earlier], by_address[later], step):
                graph.add_edge(earlier, later)
    reduced = nx.transitive_reduction(graph)
    for a, r in by_address.items():
        wanted = sorted(reduced.predecessors(a))
        kept = [d for d in r.get("depends_on", []) if d not in wanted]
        if wanted or kept:
            r["depends_on"] = sorted({*kept, *wanted})
        else:
            r.pop("depends_on", None)
