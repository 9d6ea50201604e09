"""`lifecycle.ignore_changes` with dotted paths: keys inside a map attribute (`tags.LastSeen`) that the world
owns. Their changes are not drift, an update keeps them as found, and the state does not compare them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def keys_left_to_the_world(ignored: frozenset[str]) -> dict[str, list[tuple[str, ...]]]:
    """`ignore_changes: [tags.LastSeen]`: attribute -> the key paths inside it whose changes are not drift."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for path in ignored:
        head, _, rest = path.partition(".")
        if rest:
            out.setdefault(head, []).append(tuple(rest.split(".")))
    return out


def with_keys_as_found(want: dict[str, Any], have: dict[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    """The wanted map with each ignored key taken as it is found (absent when it is absent): only the other keys
    are compared, and an update keeps what the world put there."""
    out = dict(want)
    for path in paths:
        head, rest = path[0], path[1:]
        if rest and isinstance(out.get(head), dict) and isinstance(have.get(head), dict):
            out[head] = with_keys_as_found(out[head], have[head], [rest])
        elif head in have:
            out[head] = have[head]
        else:
            out.pop(head, None)
    return out


def with_found_keys(attributes: Mapping[str, Any], observed: Mapping[str, Any],
                    paths: Mapping[str, list[tuple[str, ...]]]) -> dict[str, Any]:
    """The spec's attributes with the ignored keys of each map taken from what was observed."""
    out = dict(attributes)
    for name, keys in paths.items():
        want, have = out.get(name), observed.get(name)
        if isinstance(want, dict) and isinstance(have, dict):
            out[name] = with_keys_as_found(want, have, keys)
    return out


def without_keys(attributes: Mapping[str, Any], ignored: Iterable[str]) -> Mapping[str, Any]:
    """The attributes with every ignored key path inside their maps left out (for comparing with the state);
    the attributes themselves when no dotted path is ignored (the usual case: no copy)."""
    paths = keys_left_to_the_world(frozenset(ignored))
    if not paths:
        return attributes
    out = dict(attributes)
    for name, keys in paths.items():
        if isinstance(out.get(name), dict):
            out[name] = _dropped(out[name], keys)
    return out


def _dropped(value: dict[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    out = dict(value)
    for path in paths:
        head, rest = path[0], path[1:]
        if rest and isinstance(out.get(head), dict):
            out[head] = _dropped(out[head], [rest])
        elif not rest:
            out.pop(head, None)
    return out
