"""Helpers shared by the Docker modules: ownership labels, name clashes, value normalisation."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from reconciler.model import Observed, Resource, Unobservable
from reconciler.targets.docker import LABEL_ADDRESS, LABEL_SPEC, DockerEngine, owner_of

RECONCILE_LABELS = ("reconcile.",)


def object_name(resource: Resource, key: str) -> str:
    """The engine's name for the object: `key` (e.g. container_name) if set, else the resource's name."""
    return str(resource.get(key) or resource.name)


def match_objects(
    engine: DockerEngine, resources: Iterable[Resource], listed: Iterable[dict[str, Any]],
    names_of: Any, name_key: str,
) -> dict[str, tuple[dict[str, Any] | None, bool] | Unobservable]:
    """Pair each resource with its listed object: ours by label, or a foreign one of the same name.

    Returns address -> (object or None, adopted) or Unobservable for a clash with a foreign object.
    """
    by_owner: dict[str, dict[str, Any]] = {}
    by_name: dict[str, dict[str, Any]] = {}
    for obj in listed:
        owner = owner_of(obj.get("Labels"))
        if owner:
            by_owner[owner] = obj
        for n in names_of(obj):
            by_name[n] = obj
    out: dict[str, tuple[dict[str, Any] | None, bool] | Unobservable] = {}
    for r in resources:
        mine = by_owner.get(r.address)
        if mine is not None:
            out[r.address] = (mine, False)
            continue
        clash = by_name.get(object_name(r, name_key))
        if clash is None:
            out[r.address] = (None, False)
        elif r.get("adopt") and not owner_of(clash.get("Labels")):
            out[r.address] = (clash, True)
        else:
            owner = owner_of(clash.get("Labels"))
            whose = f"managed by {owner}" if owner else "not managed by reconcile"
            out[r.address] = Unobservable(
                f"the name {object_name(r, name_key)!r} is taken by an existing object {whose}; "
                "remove or rename it, or set adopt: true to take it over"
                + (" (it will be recreated with reconcile's labels)" if not owner else "")
            )
    return out


def labelled_addresses(engine: DockerEngine, listed: Iterable[dict[str, Any]]) -> list[str]:
    """Addresses of listed objects that this spec's runs created (label reconcile.spec matches)."""
    out = []
    for obj in listed:
        labels = obj.get("Labels") or {}
        if labels.get(LABEL_SPEC) == engine.spec_id and owner_of(labels):
            out.append(str(owner_of(labels)))
    return out


def observe_objects(
    engine: DockerEngine, resources: Iterable[Resource], listed: Iterable[dict[str, Any]], names_of: Any,
    name_key: str, build: Callable[[Resource, dict[str, Any], bool], Observed],
) -> dict[str, Observed | Unobservable | None]:
    """Each resource's Observed, built by `build(resource, object, adopted)` from its listed object."""
    resources = list(resources)
    out: dict[str, Observed | Unobservable | None] = {}
    for address, found in match_objects(engine, resources, listed, names_of, name_key).items():
        if isinstance(found, Unobservable) or found[0] is None:
            out[address] = found if isinstance(found, Unobservable) else None
        else:
            resource = next(r for r in resources if r.address == address)
            out[address] = build(resource, found[0], found[1])
    return out


def user_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (labels or {}).items() if not k.startswith(RECONCILE_LABELS)}


def labels_match(desired: Mapping[str, Any], observed: Mapping[str, Any] | None) -> bool:
    """Labels the spec sets must be there with its values; others (from the image, say) are not drift."""
    have = observed or {}
    return all(str(have.get(k)) == str(v) for k, v in desired.items())


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$", re.I)


def parse_bytes(value: Any) -> int:
    if isinstance(value, int):
        return value
    m = _SIZE.match(str(value).strip())
    if not m:
        raise ValueError(f"not a size: {value!r}")
    factor = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()]
    return int(float(m.group(1)) * factor)


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$")


def parse_duration_ns(value: Any) -> int:
    if isinstance(value, (int, float)):
        return int(value * 1e9)
    m = _DURATION.match(str(value).strip())
    if not m:
        raise ValueError(f"not a duration: {value!r}")
    unit = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}[m.group(2)]
    return int(float(m.group(1)) * unit)


def labels_for(engine: DockerEngine, resource: Resource, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**{str(k): str(v) for k, v in (resource.get("labels") or {}).items()},
            **engine.labels(resource.address), **(extra or {})}


__all__ = ["LABEL_ADDRESS", "labelled_addresses", "labels_for", "labels_match", "match_objects", "object_name",
           "observe_objects", "parse_bytes",
           "parse_duration_ns", "user_labels"]
