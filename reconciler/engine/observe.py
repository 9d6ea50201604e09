"""Observe what really exists: one batched call per (resource type, target), run in parallel."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from reconciler.model import Observed, Resource, Unobservable
from reconciler.registry import Registry
from reconciler.targets import TargetPool
from reconciler.targets.prefetch import Answers, PrefetchedTarget, Read, gather
from reconciler.timing import ms

log = logging.getLogger(__name__)

# (target, targets done, targets in all): called as each target's last batch of a wave is observed
ObserveProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Observation:
    observed: Mapping[str, Observed | None]
    errors: Mapping[str, str]  # address -> why it could not be observed


def observe(
    resources: Sequence[Resource], registry: Registry, targets: TargetPool, parallelism: int = 10,
    progress: ObserveProgress | None = None,
) -> Observation:
    groups: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for r in resources:
        groups[(r.type, r.target)].append(r)
    left: dict[str, int] = defaultdict(int)  # target -> batches still to observe
    for _, target_name in groups:
        left[target_name] += 1
    finished: list[str] = []
    count_lock = threading.Lock()

    def count(target_name: str) -> None:
        if progress is None:
            return
        with count_lock:
            left[target_name] -= 1
            if left[target_name]:
                return
            finished.append(target_name)
            done = len(finished)
        progress(target_name, done, len(left))

    gathered = _prefetch(groups, registry, targets, parallelism)

    def one(key: tuple[str, str]) -> tuple[dict[str, Observed | None], dict[str, str]]:
        type_name, target_name = key
        batch = groups[key]
        module = registry.module(type_name)
        started = time.monotonic()
        try:
            target = targets.get(module.family, target_name)
            answers = gathered.get((module.family, target_name))
            found = module.observe(PrefetchedTarget(target, answers) if answers is not None else target, batch)
            observed = {r.address: found.get(r.address) for r in batch}
            errors = {a: o.reason for a, o in observed.items() if isinstance(o, Unobservable)}
            log.info("observe: %d %s on %s in %s (%d found, %d not there, %d unobservable)", len(batch), type_name,
                     target_name, ms(started), sum(1 for o in observed.values() if isinstance(o, Observed)),
                     sum(1 for o in observed.values() if o is None), len(errors))
            return {a: o for a, o in observed.items() if a not in errors}, errors  # type: ignore[misc]
        except Exception as exc:  # one unreachable target must not stop the others
            log.debug("observing %s on %s failed", type_name, target_name, exc_info=exc)
            message = str(exc) or type(exc).__name__
            return {}, {r.address: message for r in batch}
        finally:
            count(target_name)

    # target by target: a host's batches run together, so a capped pool of connections opens each once
    return _gather(sorted(groups, key=lambda k: (k[1], k[0])), one, parallelism)


def _prefetch(groups: Mapping[tuple[str, str], Sequence[Resource]], registry: Registry, targets: TargetPool,
              parallelism: int) -> dict[tuple[str, str], Answers]:
    """The reads every type declares (Module.reads), gathered per target in one round trip, in parallel.
    A target that cannot be reached is left out: each type's own observation then reports it."""
    wanted: dict[tuple[str, str], list[Read]] = defaultdict(list)
    for (type_name, target_name), batch in groups.items():
        module = registry.module(type_name)
        wanted[(module.family, target_name)].extend(module.reads(batch))
    keys = sorted(k for k, reads in wanted.items() if reads)

    def one(key: tuple[str, str]) -> tuple[tuple[str, str], Answers | None]:
        started = time.monotonic()
        try:
            found = gather(targets.get(*key), wanted[key])
            log.info("observe: %d read(s) of %s gathered in one round trip in %s", len(wanted[key]), key[1], ms(started))
            return key, found
        except Exception as exc:  # noqa: BLE001 - reported by the observation that follows
            log.debug("gathering the reads of %s failed", key[1], exc_info=exc)
            return key, None

    if len(keys) <= 1:
        found = [one(k) for k in keys]
    else:
        with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(keys))), thread_name_prefix="gather") as pool:
            found = list(pool.map(one, keys))
    return {key: answers for key, answers in found if answers is not None}


Batch = Callable[[tuple[str, str]], tuple[dict[str, Observed | None], dict[str, str]]]


def _gather(keys: list[tuple[str, str]], one: Batch, parallelism: int) -> Observation:
    """Run `one` per (type, target) batch, in parallel (bounded), and merge what they found and failed."""
    if len(keys) <= 1:
        results = [one(k) for k in keys]
    else:
        with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(keys)))) as pool:
            results = list(pool.map(one, keys))
    observed: dict[str, Observed | None] = {}
    errors: dict[str, str] = {}
    for found, failed in results:
        observed.update(found)
        errors.update(failed)
    return Observation(observed, errors)


def read_data(
    queries: Sequence[Resource], registry: Registry, targets: TargetPool, parallelism: int = 10
) -> Observation:
    """Every `data:` lookup: one batched read per (data type, target), in parallel; a failure (nothing
    found, more than one found, an unreachable target) is that lookup's error. `observed` holds
    Observed(attributes) for each lookup that answered."""
    groups: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for q in queries:
        groups[(q.type.removeprefix("data."), q.target)].append(q)

    def one(key: tuple[str, str]) -> tuple[dict[str, Observed | None], dict[str, str]]:
        kind, target_name = key
        batch = groups[key]
        source = registry.data_source(kind)
        try:
            target = targets.get(source.family, target_name)
            found = source.read(target, batch)
        except Exception as exc:  # one unreachable target must not stop the others
            log.debug("reading data %s on %s failed", kind, target_name, exc_info=exc)
            message = str(exc) or type(exc).__name__
            return {}, {q.address: message for q in batch}
        answered: dict[str, Observed | None] = {}
        errors: dict[str, str] = {}
        for q in batch:
            got = found.get(q.address)
            if isinstance(got, Unobservable):
                errors[q.address] = got.reason
            elif got is None:
                errors[q.address] = "found nothing"
            else:
                answered[q.address] = Observed({**q.attributes, **got})
        return answered, errors

    return _gather(sorted(groups), one, parallelism)
