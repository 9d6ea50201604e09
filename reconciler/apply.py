"""Apply: a parallel walk of the graph in dependency order. A failure skips only its dependents."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

import networkx as nx

from .errors import ModuleError
from .model import UNKNOWN, Action, Change, Observed, Plan, Result, Status
from .plan import ReferenceResolver, attribute_view
from .registry import Registry
from .state import StateStore
from .targets import TargetPool

RETRIES = 3


class ApplyHooks(Protocol):
    def started(self, change: Change) -> None: ...

    def finished(self, result: Result) -> None: ...


class _NoHooks:
    def started(self, change: Change) -> None:
        pass

    def finished(self, result: Result) -> None:
        pass


class Applier:
    def __init__(
        self, graph: nx.DiGraph, registry: Registry, targets: TargetPool, store: StateStore,
        parallelism: int = 10, hooks: ApplyHooks | None = None,
    ):
        self.graph = graph
        self.registry = registry
        self.targets = targets
        self.store = store
        self.parallelism = max(1, parallelism)
        self.hooks = hooks or _NoHooks()
        self.resolver = ReferenceResolver(graph, registry)
        self.known: dict[str, dict[str, Any]] = {}

    def apply(self, plan: Plan) -> list[Result]:
        results: list[Result] = []
        self.records = self.store.records()
        managed = set(self.records)
        for change in plan.changes:  # resources removed from the spec go first
            if change.pruned:
                results.append(self._finish(self._run(change) if change.action is not Action.NOOP
                                            else Result(change.address, change.action, Status.NOOP), change, managed))
        results += self._walk([c for c in plan.changes if not c.pruned], plan.failures, managed)
        if any(r.status is Status.OK for r in results):
            self.store.bump_serial()
        return results

    def _walk(self, changes: list[Change], failures: Mapping[str, str], managed: set[str]) -> list[Result]:
        by_address = {c.address: c for c in changes}
        waiting = {a: {p for p in self.graph.predecessors(a) if p in by_address} for a in by_address}
        dependents = {a: [s for s in self.graph.successors(a) if s in by_address] for a in by_address}
        results: dict[str, Result] = {}
        running: dict[Future[Result], Change] = {}

        def settle(result: Result) -> list[str]:
            """Record a result; return the dependents now ready to run."""
            change = by_address[result.address]
            results[result.address] = self._finish(result, change, managed)
            ready = []
            for child in dependents[result.address]:
                if child in results:
                    continue
                if result.status in (Status.FAILED, Status.SKIPPED):
                    ready.append(child)  # settled below as skipped
                    continue
                waiting[child].discard(result.address)
                if not waiting[child]:
                    ready.append(child)
            return ready

        def start(address: str) -> list[str]:
            change = by_address[address]
            blocked = [p for p in self.graph.predecessors(address)
                       if p in results and results[p].status in (Status.FAILED, Status.SKIPPED)]
            if blocked:
                return settle(Result(address, change.action, Status.SKIPPED,
                                     error=f"skipped: dependency {blocked[0]} {results[blocked[0]].status.value}"))
            if address in failures:
                return settle(Result(address, change.action, Status.FAILED, error=failures[address]))
            change = by_address[address] = self._reresolved(change)
            if change.action is Action.NOOP:
                return settle(Result(address, Action.NOOP, Status.NOOP, observed=change.observed))
            self.hooks.started(change)
            running[pool.submit(self._run, change)] = change
            return []

        with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            queue = [a for a in by_address if not waiting[a]]
            while queue or running:
                while queue:
                    queue.extend(start(queue.pop(0)))
                if running:
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in done:
                        running.pop(future)
                        queue.extend(settle(future.result()))
        return [results[a] for a in by_address if a in results]

    def _reresolved(self, change: Change) -> Change:
        """Re-resolve references with the values resources applied earlier in this run produced."""
        original = self.graph.nodes[change.address]["resource"]
        resolved = self.resolver.resolve(original, self.known)
        if change.resource is not None and resolved.attributes == change.resource.attributes:
            return change
        return self.registry.module(change.type).diff(resolved, change.observed)

    def _run(self, change: Change) -> Result:
        """Carry out one change (in a worker thread); never raises."""
        started = time.monotonic()
        module = self.registry.module(change.type)
        resource = change.resource
        assert resource is not None
        unknown = sorted(k for k, v in resource.attributes.items() if v is UNKNOWN)
        if unknown:
            return Result(change.address, change.action, Status.FAILED,
                          error=f"{', '.join(unknown)} still unknown: the resources it refers to did not provide it")
        for attempt in range(1, RETRIES + 1):
            try:
                target = self.targets.get(module.family, resource.target)
                observed: Observed | None = None
                if change.action in (Action.DELETE, Action.REPLACE) and change.observed is not None:
                    module.delete(target, resource, change.observed)
                if change.action is Action.REPLACE:
                    observed = module.apply(target, dataclasses.replace(change, action=Action.CREATE, observed=None))
                elif change.action in (Action.CREATE, Action.UPDATE):
                    observed = module.apply(target, change)
                return Result(change.address, change.action, Status.OK, observed=observed,
                              seconds=time.monotonic() - started)
            except ModuleError as exc:
                if exc.retryable and attempt < RETRIES:
                    time.sleep(0.5 * attempt)
                    continue
                error = str(exc)
            except Exception as exc:  # a module bug or an SDK error: report it against the resource
                error = f"{type(exc).__name__}: {exc}"
            break
        return Result(change.address, change.action, Status.FAILED, error=error,
                      seconds=time.monotonic() - started)

    def _finish(self, result: Result, change: Change, managed: set[str]) -> Result:
        """Write the state for a settled result (main thread only) and tell the hooks."""
        resource = change.resource
        if resource is not None and result.status in (Status.OK, Status.NOOP):
            module = self.registry.module(change.type)
            secret = module.secret_attributes(resource)
            gone = change.pruned or module.state_of(resource) in module.absent_states
            if gone:
                self.store.forget(change.address)
            elif result.status is Status.OK or change.address not in managed:
                self.store.save(resource, result.observed or change.observed, secret)
            if not change.pruned:
                record = self.records.get(change.address)
                observed = result.observed or change.observed
                done = dataclasses.replace(change, action=Action.NOOP, observed=observed)
                self.known[change.address] = attribute_view(
                    None, done, record.observed if record and result.status is Status.NOOP else None)
        if result.status is not Status.NOOP:
            self.hooks.finished(result)
        return result
