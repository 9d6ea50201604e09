"""Helpers shared by the Docker modules: ownership labels, name clashes, value normalisation."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from reconciler.diagnostics import LintFinding
from reconciler.model import Observed, Resource, Unobservable
from reconciler.targets.docker import LABEL_ADDRESS, LABEL_STACK, DockerEngine, owner_of, stack_of

RECONCILE_LABELS = ("reconcile.",)


def unpinned_image(resource: Resource) -> list[LintFinding]:
    """Lint: an image on a `latest` (or no) tag and without a digest runs different code on each host."""
    image = resource.get("image")
    if not isinstance(image, str) or "@" in image or "{{" in image or "${" in image:
        return []
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    if tag not in ("", "latest"):
        return []
    return [LintFinding(f"image {image!r} uses the {'latest' if tag else 'implicit latest'} tag: pin a version "
                        "or a digest so every host runs the same image", ("image",))]


def object_name(resource: Resource, key: str) -> str:
    """The engine's name for the object: `key` (e.g. container_name) if set, else the resource's name."""
    return str(resource.get(key) or resource.name)


def match_objects(
    engine: DockerEngine, resources: Iterable[Resource], listed: Iterable[dict[str, Any]],
    names_of: Any, name_key: str, id_key: str = "Id",
) -> dict[str, tuple[dict[str, Any] | None, bool] | Unobservable]:
    """Pair each resource with its listed object and say whether it carries this stack's marks.

    1. The object the state recorded (its id, `prior`): ours, whatever its labels say now.
    2. The object labelled with this stack's identity and the resource's address.
    3. An object of the same name: another stack's is foreign (an error naming the owner); an unlabelled
       one may be taken over with `adopt: true`, else it is an error too.

    Returns address -> (object or None, carries our marks) or Unobservable.
    """
    by_id: dict[str, dict[str, Any]] = {}
    by_owner: dict[str, dict[str, Any]] = {}
    by_name: dict[str, dict[str, Any]] = {}
    for obj in listed:
        by_id[str(obj.get(id_key))] = obj
        labels = obj.get("Labels")
        if owner_of(labels) and stack_of(labels) == engine.stack:
            by_owner[str(owner_of(labels))] = obj
        for n in names_of(obj):
            by_name[n] = obj
    out: dict[str, tuple[dict[str, Any] | None, bool] | Unobservable] = {}
    for r in resources:
        recorded = r.prior.get("id") or r.prior.get("name")
        mine = by_id.get(str(recorded)) if recorded else None
        if mine is None:
            mine = by_owner.get(r.address)
        clash = by_name.get(object_name(r, name_key))
        if mine is not None and (clash is None or clash is mine):
            out[r.address] = (mine, _carries_marks(engine, mine, r.address))
            continue
        if clash is None:
            out[r.address] = (None, False)
            continue
        labels = clash.get("Labels")
        owner, stack = owner_of(labels), stack_of(labels)
        if owner is None and r.get("adopt"):
            out[r.address] = (clash, False)
        elif owner is not None:
            whose = f"{owner} of stack {stack}" if stack else f"{owner} (no stack label: made by an older reconcile)"
            out[r.address] = Unobservable(
                f"the name {object_name(r, name_key)!r} on engine {engine.name} belongs to {whose}; "
                "reconcile never touches another stack's objects: rename it in this spec"
            )
        else:
            out[r.address] = Unobservable(
                f"the name {object_name(r, name_key)!r} is taken by an existing object not managed by reconcile; "
                "remove or rename it, or set adopt: true to take it over (it will be recreated with reconcile's labels)"
            )
    return out


def _carries_marks(engine: DockerEngine, obj: Mapping[str, Any], address: str) -> bool:
    labels = obj.get("Labels") or {}
    return owner_of(labels) == address and stack_of(labels) == engine.stack


def labelled(engine: DockerEngine, listed: Iterable[dict[str, Any]], id_key: str = "Id",
             name_key: str | None = None) -> dict[str, dict[str, Any]]:
    """Objects carrying this stack's identity: address -> identity (to rebuild a lost state, and for
    drift's "unmanaged" class)."""
    out: dict[str, dict[str, Any]] = {}
    for obj in listed:
        labels = obj.get("Labels") or {}
        if stack_of(labels) == engine.stack and owner_of(labels):
            out[str(owner_of(labels))] = {"name": obj[name_key]} if name_key else {"id": obj[id_key]}
    return out


def observe_objects(
    engine: DockerEngine, resources: Iterable[Resource], listed: Iterable[dict[str, Any]], names_of: Any,
    name_key: str, build: Callable[[Resource, dict[str, Any], bool], Observed], id_key: str = "Id",
) -> dict[str, Observed | Unobservable | None]:
    """Each resource's Observed, built by `build(resource, object, adopted)` from its listed object."""
    resources = list(resources)
    by_address = {r.address: r for r in resources}
    out: dict[str, Observed | Unobservable | None] = {}
    for address, found in match_objects(engine, resources, listed, names_of, name_key, id_key).items():
        if isinstance(found, Unobservable) or found[0] is None:
            out[address] = found if isinstance(found, Unobservable) else None
            continue
        obj, ours = found
        assert obj is not None
        resource = by_address[address]
        adopted = not ours and not resource.prior and owner_of(obj.get("Labels")) is None
        observed = build(resource, obj, adopted)
        out[address] = dataclasses.replace(observed, ours=ours)
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


__all__ = ["LABEL_ADDRESS", "LABEL_STACK", "labelled", "labels_for", "labels_match", "match_objects", "object_name",
           "observe_objects", "parse_bytes",
           "parse_duration_ns", "user_labels"]
