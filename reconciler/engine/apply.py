"""Apply: parallel walks of the graph. A failure skips only what depends on it.

Two phases, as Terraform does it: first everything that goes away (deletes, and the old half of
each replacement) in reverse dependency order, so a container is gone before its network is
replaced; then creates and updates in dependency order, values flowing along references.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

import networkx as nx

from reconciler.engine.plan import ReferenceResolver, attribute_view
from reconciler.errors import ModuleError
from reconciler.model import UNKNOWN, Action, Change, Observed, Plan, Result, Status
from reconciler.registry import Registry
from reconciler.state.store import StateRecord, StateStore, attributes_differ
from reconciler.targets import TargetPool

RETRIES = 3
GOING = (Action.DELETE, Action.REPLACE)


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
        self.records: dict[str, StateRecord] = {}

    def apply(self, plan: Plan) -> list[Result]:
        self.records = self.store.records()
        results: dict[str, Result] = {}
        for change in plan.changes:  # resources removed from the spec go first
            if change.pruned:
                if change.action is Action.DELETE:
                    self.hooks.started(change)
                    result = self._destroy(change)
                else:
                    result = Result(change.address, change.action, Status.NOOP)
                results[change.address] = self._settled(result, change)

        in_spec = [c for c in plan.changes if not c.pruned]
        actions = {c.address: c.action for c in in_spec}
        going = [c for c in in_spec if c.action in GOING]
        gone = self._walk(self.graph.reverse(copy=False), going, plan.failures, self._destroy, phase="destroy")
        results.update({a: r for a, r in gone.items() if actions[a] is Action.DELETE})

        failures = dict(plan.failures)
        coming: list[Change] = []
        for c in in_spec:
            if c.action is Action.DELETE:
                continue
            if c.action is Action.REPLACE:
                if gone[c.address].status is not Status.OK:  # the old one could not go: fail it, skip dependents
                    failures[c.address] = gone[c.address].error
                else:
                    c = dataclasses.replace(c, observed=None)
            coming.append(c)
        results.update(self._walk(self.graph, coming, failures, self._run, phase="create"))
        if any(r.status is Status.OK for r in results.values()):
            self.store.bump_serial()
        order = {c.address: i for i, c in enumerate(plan.changes)}
        return sorted(results.values(), key=lambda r: order.get(r.address, len(order)))

    def _walk(self, graph: nx.DiGraph, changes: list[Change], failures: Mapping[str, str],
              run: Callable[[Change], Result], phase: str) -> dict[str, Result]:
        by_address = {c.address: c for c in changes}
        waiting = {a: {p for p in graph.predecessors(a) if p in by_address} for a in by_address}
        dependents = {a: [s for s in graph.successors(a) if s in by_address] for a in by_address}
        results: dict[str, Result] = {}

        def settle(result: Result) -> list[str]:
            """Record a result; return the dependents now ready to start (or to be skipped)."""
            change = by_address[result.address]
            results[result.address] = self._settled(result, change, phase)
            ready = []
            for child in dependents[result.address]:
                if child in results:
                    continue
                if result.status in (Status.FAILED, Status.SKIPPED):
                    ready.append(child)
                    continue
                waiting[child].discard(result.address)
                if not waiting[child]:
                    ready.append(child)
            return ready

        def start(address: str) -> list[str]:
            if address in results:
                return []
            change = by_address[address]
            blocked = [p for p in graph.predecessors(address)
                       if p in results and results[p].status in (Status.FAILED, Status.SKIPPED)]
            if blocked:
                return settle(Result(address, change.action, Status.SKIPPED,
                                     error=f"skipped: dependency {blocked[0]} {results[blocked[0]].status.value}"))
            if address in failures:
                return settle(Result(address, change.action, Status.FAILED, error=failures[address]))
            if phase == "create":
                change = by_address[address] = self._reresolved(change)
                if change.action is Action.NOOP:
                    return settle(Result(address, Action.NOOP, Status.NOOP, observed=change.observed))
            if phase == "destroy" or change.action is not Action.REPLACE:
                self.hooks.started(change)
            module = self.registry.module(change.type)
            if phase == "create" and module.batch_apply and change.action in (Action.CREATE, Action.UPDATE):
                batches.setdefault((change.type, change.resource.target if change.resource else ""), []).append(change)
            else:
                running[pool.submit(lambda c: [run(c)], change)] = [change]
            return []

        batches: dict[tuple[str, str], list[Change]] = {}
        running: dict[Future[list[Result]], list[Change]] = {}
        with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            queue = [a for a in by_address if not waiting[a]]
            while queue or running or batches:
                while queue:
                    queue.extend(start(queue.pop(0)))
                for group in batches.values():  # what became ready together on one target goes together
                    running[pool.submit(self._run_batch, group)] = group
                batches.clear()
                if running:
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in done:
                        running.pop(future)
                        for result in future.result():
                            queue.extend(settle(result))
        return results

    def _reresolved(self, change: Change) -> Change:
        """Re-resolve references with the values resources applied earlier in this run produced."""
        original = self.graph.nodes[change.address]["resource"]
        resolved = self.resolver.resolve(original, self.known)
        if change.resource is not None and resolved.attributes == change.resource.attributes:
            return change
        if change.resource is not None and _has_unknown(resolved) and not _has_unknown(change.resource):
            return change  # what it refers to is not in this run (e.g. --only-drifted): plan-time values stand
        rediffed = self.registry.module(change.type).diff(resolved, change.observed)
        replacing = change.action is Action.REPLACE
        return dataclasses.replace(rediffed, action=Action.REPLACE) if replacing else rediffed

    def _attempt(self, change: Change, act: Callable[[Any], Observed | None]) -> Result:
        """Run `act(target)` with retries for retryable errors; never raises."""
        started = time.monotonic()
        module = self.registry.module(change.type)
        assert change.resource is not None
        error = ""
        for attempt in range(1, RETRIES + 1):
            try:
                observed = act(self.targets.get(module.family, change.resource.target))
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
        where = change.resource.location
        if where is not None:  # point at the spec entry: "aws.subnet.a (site.yaml:41): Code: message"
            error = f"({where.file}:{where.line}): {error}"
        return Result(change.address, change.action, Status.FAILED, error=error, seconds=time.monotonic() - started)

    def _run_batch(self, changes: list[Change]) -> list[Result]:
        """Changes of one batch_apply module on one target, handed over together (e.g. one apt-get for all
        packages a host is missing). A failed batch is retried one change at a time, so that one bad
        item fails alone."""
        if len(changes) == 1:
            return [self._run(changes[0])]
        module = self.registry.module(changes[0].type)
        assert changes[0].resource is not None
        started = time.monotonic()
        try:
            target = self.targets.get(module.family, changes[0].resource.target)
            observed = module.apply_many(target, changes)
        except Exception:
            return [self._run(c) for c in changes]
        return [Result(c.address, c.action, Status.OK, observed=observed[c.address],
                       seconds=time.monotonic() - started) for c in changes]

    def _destroy(self, change: Change) -> Result:
        module = self.registry.module(change.type)
        resource = change.resource
        assert resource is not None

        def act(target: Any) -> None:
            if change.observed is not None:
                module.delete(target, resource, change.observed)

        return self._attempt(change, act)

    def _run(self, change: Change) -> Result:
        module = self.registry.module(change.type)
        resource = change.resource
        assert resource is not None
        unknown = sorted(k for k, v in resource.attributes.items() if v is UNKNOWN)
        if unknown:
            return Result(change.address, change.action, Status.FAILED,
                          error=f"{', '.join(unknown)} still unknown: the resources it refers to did not provide it")

        def act(target: Any) -> Observed:
            if change.action is Action.REPLACE:  # the old object went in the destroy phase
                return module.apply(target, dataclasses.replace(change, action=Action.CREATE, observed=None))
            return module.apply(target, change)

        return self._attempt(change, act)

    def _settled(self, result: Result, change: Change, phase: str = "create") -> Result:
        """Write the state for a settled result (main thread only) and tell the hooks."""
        resource = change.resource
        if phase == "destroy" and change.action is Action.REPLACE:
            return result  # the create phase finishes (or fails) the replacement
        if resource is not None and result.status in (Status.OK, Status.NOOP):
            module = self.registry.module(change.type)
            if change.pruned or change.action is Action.DELETE:
                self.store.forget(change.address)
            elif (result.status is Status.OK or change.address not in self.records
                  or attributes_differ(self.records[change.address], resource, module.secret_attributes(resource))):
                self.store.save(resource, result.observed or change.observed, module.secret_attributes(resource))
            if not change.pruned:
                record = self.records.get(change.address)
                done = dataclasses.replace(change, action=Action.NOOP, observed=result.observed or change.observed)
                self.known[change.address] = attribute_view(
                    None, done, record.observed if record and result.status is Status.NOOP else None)
        if result.status is not Status.NOOP:
            self.hooks.finished(result)
        return result


def _has_unknown(resource: Any) -> bool:
    return any(v is UNKNOWN for v in resource.attributes.values())
