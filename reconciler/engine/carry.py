"""Carrying out changes on their targets: the one piece of apply that touches the world.

The same functions run in this process (the local executor) and on Dask workers (the distributed
executor). They take the module and target from a registry and a target pool, retry retryable errors,
and never raise: every outcome is a Result. Error texts are returned unlocated and unmasked; the
caller (the applier, on the client) locates them in the spec and masks the run's secrets.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from reconciler.capabilities import BatchApply, Deferrable
from reconciler.engine.write_batch import carry_deferred
from reconciler.errors import ModuleError, ReconcileError
from reconciler.model import Action, Change, Observed, Result, Status
from reconciler.registry import Registry

log = logging.getLogger(__name__)

RETRIES = 3
DESTROY, CREATE, BATCH = "destroy", "create", "batch"


class Targets(Protocol):
    def get(self, family: str, name: str) -> Any: ...


class Executor(Protocol):
    """Where changes are carried out: `run(phase, changes)` returns one Result per change. `remote`:
    each call costs a round trip, so the applier hands over a target's ready changes together."""

    remote: bool

    def run(self, phase: str, changes: list[Change]) -> list[Result]: ...

    def close(self) -> None: ...


def new_first(change: Change) -> bool:
    return (change.action is Action.REPLACE and change.resource is not None
            and change.resource.lifecycle.create_before_destroy)


def carry_out(registry: Registry, targets: Targets, phase: str, changes: Sequence[Change],
              before_mutating: Callable[[Change], str | None] = lambda change: None) -> list[Result]:
    """Run one phase's work for `changes` (one change, or a batch of one batch_apply type on one target).
    `before_mutating(change)` is asked just before the target is changed; a text it returns fails the
    change with that text instead (the distributed executor's guard against applying twice)."""
    if phase == BATCH:
        return _batch(registry, targets, list(changes), before_mutating)
    deferred = [c for c in changes if phase == CREATE and deferrable(registry, c)] if len(changes) > 1 else []
    if len(deferred) < 2:
        return [_one(registry, targets, phase, c, before_mutating) for c in changes]
    chosen = {c.address for c in deferred}
    return _deferred(registry, targets, deferred, before_mutating) + [
        _one(registry, targets, phase, c, before_mutating) for c in changes if c.address not in chosen]


def deferrable(registry: Registry, change: Change) -> bool:
    """Whether `change` may travel with its host's other ready changes (write_batch.py)."""
    return (change.action in (Action.CREATE, Action.UPDATE) and change.resource is not None
            and isinstance(registry.module(change.type), Deferrable))


def _deferred(registry: Registry, targets: Targets, changes: list[Change],
              before_mutating: Callable[[Change], str | None]) -> list[Result]:
    """Deferrable changes of one target in one exchange (write_batch.py); each one that the batch cannot
    carry is carried out on its own."""
    def alone(change: Change) -> Result:
        return _one(registry, targets, CREATE, change, lambda c: None)

    refused = {c.address: before_mutating(c) for c in changes}
    out = [Result(c.address, c.action, Status.FAILED, error=text) for c in changes
           if (text := refused[c.address])]
    going = [c for c in changes if not refused[c.address]]
    if not going:
        return out
    module = registry.module(going[0].type)
    assert going[0].resource is not None
    try:
        target = targets.get(module.family, going[0].resource.target)
    except Exception:  # noqa: BLE001 - each change then reports the target's failure itself
        log.debug("no target for a batch of %d changes", len(going), exc_info=True)
        return out + [alone(c) for c in going]
    return out + carry_deferred(registry, target, going, alone)


def _one(registry: Registry, targets: Targets, phase: str, change: Change,
         before_mutating: Callable[[Change], str | None]) -> Result:
    module = registry.module(change.type)
    resource = change.resource
    old = change.going_resource  # an identity change removes the old object, where it is
    assert resource is not None and old is not None

    def destroy(target: Any) -> None:
        if change.action is Action.REPLACE:
            module.prepare_replace(targets.get(module.family, resource.target), change)
        if change.observed is not None:
            module.delete(target, old, change.observed)

    def create(target: Any) -> Observed:
        if change.action is not Action.REPLACE:
            return module.apply(target, change)
        if not new_first(change):  # the old object went in the destroy phase
            return module.apply(target, dataclasses.replace(change, action=Action.CREATE, observed=None))
        module.prepare_replace(target, change)
        fresh = dataclasses.replace(change, action=Action.CREATE, observed=None, replacing=change.observed)
        new = module.apply(target, fresh)
        if change.observed is not None:
            module.delete(targets.get(module.family, old.target), old, change.observed)
        return module.after_replace(target, fresh, new)

    if phase == DESTROY:
        return _attempt(registry, targets, change, destroy, before_mutating, old.target)
    return _attempt(registry, targets, change, create, before_mutating, resource.target)


def _attempt(registry: Registry, targets: Targets, change: Change, act: Callable[[Any], Observed | None],
             before_mutating: Callable[[Change], str | None], target_name: str) -> Result:
    started = time.monotonic()
    module = registry.module(change.type)
    error = ""
    for attempt in range(1, RETRIES + 1):
        try:
            target = targets.get(module.family, target_name)
            refused = before_mutating(change) if attempt == 1 else None
            if refused:
                return Result(change.address, change.action, Status.FAILED, error=refused,
                              seconds=time.monotonic() - started)
            observed = act(target)
            return Result(change.address, change.action, Status.OK, observed=observed,
                          seconds=time.monotonic() - started)
        except ModuleError as exc:
            if exc.retryable and attempt < RETRIES:
                log.info("%s: retrying after a retryable error", change.address)
                time.sleep(0.5 * attempt)
                continue
            error = str(exc)
        except ReconcileError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a module bug or an SDK error: reported against the resource
            log.debug("%s: %s failed", change.address, change.action.value, exc_info=True)
            error = f"{type(exc).__name__}: {exc}"
        break
    return Result(change.address, change.action, Status.FAILED, error=error, seconds=time.monotonic() - started)


def _batch(registry: Registry, targets: Targets, changes: list[Change],
           before_mutating: Callable[[Change], str | None]) -> list[Result]:
    """Changes of one batch_apply module on one target, handed over together (e.g. one apt-get for all
    packages a host is missing). A failed batch is retried one change at a time, so that one bad item
    fails alone."""
    module = registry.module(changes[0].type)
    assert changes[0].resource is not None
    started = time.monotonic()
    try:
        target = targets.get(module.family, changes[0].resource.target)
        refused = [(c, before_mutating(c)) for c in changes]
        if any(text for _, text in refused):
            return [Result(c.address, c.action, Status.FAILED, error=text) if text else
                    _one(registry, targets, CREATE, c, lambda change: None) for c, text in refused]
        assert isinstance(module, BatchApply), changes[0].type
        observed = module.apply_many(target, changes)
    except Exception as exc:  # noqa: BLE001 - retried one by one, which reports each error
        log.info("batch of %d %s changes failed (%s); retrying one by one", len(changes), changes[0].type,
                 type(exc).__name__, exc_info=log.isEnabledFor(logging.DEBUG))
        return [_one(registry, targets, CREATE, c, lambda change: None) for c in changes]
    return [Result(c.address, c.action, Status.OK, observed=observed[c.address],
                   seconds=time.monotonic() - started) for c in changes]


class LocalExecutor:
    """Changes carried out by this process's threads, over its own connections."""

    remote = False

    def __init__(self, registry: Registry, targets: Targets):
        self.registry, self.targets = registry, targets

    def run(self, phase: str, changes: list[Change]) -> list[Result]:
        return carry_out(self.registry, self.targets, phase, changes)

    def close(self) -> None:
        pass
