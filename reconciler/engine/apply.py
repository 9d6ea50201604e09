"""Apply: parallel walks of the graph. A failure skips only what depends on it.

1. `moved:` entries hand their state records over; objects to forget are dropped from the state.
2. Destroy phase, in reverse dependency order: objects removed from the spec (their edges come from the
   state), `state: absent` deletes, and the old half of each replacement (after `prepare_replace`, so
   e.g. a container's new image is pulled before the old container goes).
3. Create phase, in dependency order, values flowing along references: creates, updates, the new half
   of replacements; with `lifecycle.create_before_destroy` the new object is made first and the old
   one destroyed right after.

The state is written only from the calling thread, as each result settles.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import networkx as nx

from reconciler.capabilities import BatchApply
from reconciler.engine import rollout, triggers
from reconciler.engine.apply_order import creations, destroy_graph, intents, unreachable_hosts
from reconciler.engine.carry import BATCH, CREATE, DESTROY, Executor, LocalExecutor, deferrable, new_first
from reconciler.engine.diff import rediff
from reconciler.engine.plan_rules import check_attributes, dependencies_of, origin_for
from reconciler.engine.references import ReferenceResolver, attribute_view
from reconciler.engine.walk import walk
from reconciler.inventory import Rollout
from reconciler.model import EPHEMERAL, UNKNOWN, Action, Change, Plan, Resource, Result, Status
from reconciler.registry import Registry
from reconciler.secrets import Redactor
from reconciler.spec import refs
from reconciler.spec.refs import ReferenceProblem
from reconciler.state.interface import StateStore
from reconciler.state.records import (
    Carried,
    StateRecord,
    attributes_differ,
    journal_entries,
    now_text,
    unsettled,
)
from reconciler.targets import TargetPool

log = logging.getLogger(__name__)

GOING = (Action.DELETE, Action.REPLACE)


class ApplyHooks(Protocol):
    def started(self, change: Change) -> None: ...

    def finished(self, result: Result) -> None: ...

    def note(self, message: str) -> None: ...  # progress that is no change of its own (waiting for new hosts)


class _NoHooks:
    def started(self, change: Change) -> None:
        pass

    def finished(self, result: Result) -> None:
        pass

    def note(self, message: str) -> None:
        log.info("%s", message)


class Applier:
    def __init__(
        self, graph: nx.DiGraph[str], registry: Registry, targets: TargetPool, store: StateStore,
        parallelism: int = 10, hooks: ApplyHooks | None = None, redactor: Redactor | None = None,
        spec_data: Sequence[Resource] = (), executor: Executor | None = None,
        rollouts: Mapping[str, Rollout] | None = None,
    ):
        self.graph = graph
        self.registry = registry
        self.targets = targets
        self.store = store
        self.parallelism = max(1, parallelism)
        self.hooks = hooks or _NoHooks()
        self.redactor = redactor or Redactor()
        self.spec_data = tuple(spec_data)
        self.resolver = ReferenceResolver(graph, registry, spec_data)
        self.known: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, frozenset[str]] = {}
        self.records: dict[str, StateRecord] = {}
        self.unknown: dict[str, Mapping[str, Any]] = {}  # a stopped run's unsettled intents (plan.unknown)
        self.executor: Executor = executor or LocalExecutor(registry, targets)
        self.rollouts = dict(rollouts or {})
        self._stages: rollout.Stages | None = None
        self.carried = Carried()
        self._stopped: dict[str, list[str]] = {}

    # -- the run -----------------------------------------------------------------------------------
    def apply(self, plan: Plan) -> list[Result]:
        self.registry.prepare(c.type for c in plan.changes)
        for query in self.spec_data:  # data lookups were read by the plan
            if query.address in plan.data:
                self.known[query.address] = dict(plan.data[query.address])
                source = type(self.registry.data_source(query.type.removeprefix("data.")))
                self.secrets[query.address] = source.sensitive | ({EPHEMERAL} if source.ephemeral else frozenset())
        for change in plan.changes:
            if change.moved_from is not None and self.store.move(change.moved_from, change.address):
                log.info("moved %s to %s in the state", change.moved_from, change.address)
        self.records = self.store.records()
        self.unknown = dict(plan.unknown)
        self._journal(plan)
        self.carried = self.store.carried if hasattr(self.store, "carried") else Carried()
        self._stopped = {}  # group -> the hosts of the batch its rollout stopped at, this run
        if self.rollouts:  # checked before anything is changed: a rollout that cannot be ordered is refused
            creating = [c for c in plan.changes if not c.pruned and c.action not in (Action.DELETE, Action.FORGET)]
            self._stages = rollout.stages(self.rollouts, creating, self.graph, resume=self.carried.rollouts,
                                          unreachable=unreachable_hosts(self.graph, plan))
        results: dict[str, Result] = {}
        for change in plan.changes:
            if change.action is Action.FORGET:
                self.hooks.started(change)
                results[change.address] = self._settle(Result(change.address, Action.FORGET, Status.OK), change)
            elif change.pruned and change.action is Action.NOOP:  # could not be observed: kept in the state
                results[change.address] = Result(change.address, Action.NOOP, Status.NOOP)

        going = [c for c in plan.changes if c.action in GOING and not new_first(c)]
        gone = self._run_walk(destroy_graph(self.graph, plan, self.records).reverse(copy=False), going, plan.failures,
                              self._destroy, phase="destroy")
        results.update({a: r for a, r in gone.items() if r.action is Action.DELETE or r.status is not Status.OK})

        coming, failures = creations(plan, gone)
        results.update(self._run_walk(self.graph, coming, failures, self._run, phase="create"))
        if hasattr(self.store, "set_carried"):
            self.store.set_carried(self._left_for_next(plan, results))
        if hasattr(self.store, "journal_end"):  # a failed change's object may exist: its intent stays
            mine = {c.address for c in plan.changes}
            pending = unsettled(self.store.journal, self.store.records())
            self.store.journal_end(keep=[a for a in pending if a not in mine or (
                a in results and results[a].status is Status.FAILED)])
        if any(r.status is Status.OK for r in results.values()) or any(c.moved_from for c in plan.changes):
            self.store.bump_serial()
        order = {c.address: i for i, c in enumerate(plan.changes)}
        return sorted(results.values(), key=lambda r: order.get(r.address, len(order)))

    def _left_for_next(self, plan: Plan, results: Mapping[str, Result]) -> Carried:
        """What the next apply must finish: the handlers this run (or an earlier one) notified that did not
        run here, and each rollout a gate stopped."""
        handlers = triggers.pending_handlers(self.graph, self.registry, plan, results, self.carried.handlers)
        dropped = self._stages.dropped if self._stages is not None else frozenset()
        rollouts = {g: hosts for g, hosts in self.carried.rollouts.items()
                    if g in self.rollouts and g not in self._settled_rollouts and g not in dropped}
        rollouts.update(self._stopped)
        return Carried(handlers, rollouts)

    @property
    def _settled_rollouts(self) -> set[str]:
        """Groups whose rollout ran through every gate of this run."""
        if self._stages is None:
            return set()
        return {g.rollout.group for g in self._stages.gates.values()} - set(self._stopped)

    def _journal(self, plan: Plan) -> None:
        """Before anything changes: what this apply means to do, with the origin each object will have."""
        if hasattr(self.store, "journal_begin"):
            self.store.journal_begin(journal_entries(intents(plan, self.records, self.unknown), now_text()))

    def _run_walk(self, graph: nx.DiGraph[str], changes: list[Change], failures: Mapping[str, str],
                  run: Callable[[Change], Result], phase: str) -> dict[str, Result]:
        by_address = {c.address: c for c in changes}

        def before(address: str) -> Result | None:
            change = by_address[address]
            if address in failures:
                return Result(address, change.action, Status.FAILED, error=failures[address])
            if phase == "create":
                fresh = self._reresolved(change)
                if isinstance(fresh, Result):
                    return fresh
                change = by_address[address] = fresh
                if change.action is Action.NOOP:
                    return Result(address, Action.NOOP, Status.NOOP, observed=change.observed)
            if phase == "destroy" or change.action is not Action.REPLACE:
                self.hooks.started(change)
            return None

        def job(addresses: list[str]) -> list[Result]:
            if len(addresses) == 1:
                return [run(by_address[addresses[0]])]
            changes = [by_address[a] for a in addresses]
            key = batch_key(addresses[0])
            if key is not None and key[0] == BATCH:
                return self._run_batch(changes)
            return self._run_many(phase, changes)

        def batch_key(address: str) -> tuple[str, ...] | None:
            """Changes that became ready together and go in one job: a host's Deferrable changes (one
            exchange), a batch-applying type's on one target (one apt transaction), and with a remote
            executor every change of one target (one task)."""
            change = by_address[address]
            if change.resource is None:
                return None
            module = self.registry.module(change.type)
            if phase == "create" and deferrable(self.registry, change):
                return ("deferred", module.family, change.resource.target)
            if phase == "create" and change.action in (Action.CREATE, Action.UPDATE) \
                    and isinstance(module, BatchApply):
                return (BATCH, change.type, change.resource.target)
            if self.executor.remote:  # one task per target for the changes that became ready together
                return (phase, module.family, change.resource.target)
            return None

        prerequisites = {a: set(graph.predecessors(a)) for a in by_address if a in graph}

        # target by target, so that a capped pool of connections reaches each host in one stretch
        def target_of(address: str) -> str:
            resource = by_address[address].resource
            return resource.target if resource is not None else ""

        order = sorted(by_address, key=target_of)
        stages = self._stages if phase == "create" else None
        if stages is None or not stages.gates:
            return walk(order, prerequisites, job, parallelism=self.parallelism, before=before,
                        settle=lambda r: self._settle(r, by_address[r.address], phase), batch_key=batch_key,
                        action_of=lambda a: by_address[a].action)
        return self._rolling_walk(stages, order, prerequisites, job, before, batch_key, by_address)

    def _rolling_walk(self, stages: rollout.Stages, order: list[str], prerequisites: dict[str, set[str]],
                      job: Callable[[list[str]], list[Result]], before: Callable[[str], Result | None],
                      batch_key: Callable[[str], Any], by_address: Mapping[str, Change]) -> dict[str, Result]:
        """The create phase with a rollout's gates between its batches (see rollout.py)."""
        gates = stages.gates
        runner = rollout.GateRunner(stages, functools.partial(rollout.command_check, self.registry, self.targets))
        stopped: dict[str, int] = {}  # group -> the batch its rollout stopped at
        for node, needs in stages.prerequisites.items():
            if node in gates or node in by_address:
                prerequisites.setdefault(node, set()).update(n for n in needs if n in gates or n in by_address)

        def settle(result: Result) -> None:
            if result.address in gates:
                if result.status is Status.FAILED:
                    gate = gates[result.address]
                    stopped.setdefault(gate.rollout.group, gate.number)
                    self._stopped.setdefault(gate.rollout.group, list(gate.batch))
                    self.hooks.finished(result)
                return
            runner.settled(result)
            self._settle(result, by_address[result.address], "create")

        def skipped_because(blocker: str, status: Status) -> str:
            if blocker not in gates:
                return f"skipped: dependency {blocker} {status.value}"
            group = gates[blocker].rollout.group
            return f"not reached: the rollout of {group} stopped at batch {stopped.get(group, gates[blocker].number)}"

        results = walk(
            order + sorted(gates), prerequisites,
            lambda nodes: [runner.run(nodes[0])] if nodes[0] in gates else job(nodes),
            parallelism=self.parallelism,
            before=lambda a: None if a in gates else before(a), settle=settle,
            batch_key=lambda a: None if a in gates else batch_key(a),
            action_of=lambda a: Action.NOOP if a in gates else by_address[a].action,
            tolerates=lambda node, prerequisite: node in gates and prerequisite not in gates,
            skipped_because=skipped_because)
        return {a: r for a, r in results.items() if a not in gates or r.status is Status.FAILED}

    def _reresolved(self, change: Change) -> Change | Result:
        """Re-resolve references with the values resources applied earlier in this run produced."""
        original = self.graph.nodes[change.address]["resource"]
        try:
            resolved = self.resolver.resolve(original, self.known, self.secrets)
        except ReferenceProblem as exc:
            return Result(change.address, change.action, Status.FAILED,
                          error=self._located(change, str(exc), exc.key))
        if change.resource is not None:
            resolved = dataclasses.replace(resolved, prior=change.resource.prior, adopted=change.resource.adopted)
        module = self.registry.module(change.type)
        if resolved is not original:
            referenced = [k for k, v in original.attributes.items() if refs.contains_reference(v)]
            problems = check_attributes(self.registry, change.type, resolved.attributes, referenced,
                                        resolved.sensitive | module.sensitive)
            if problems:
                return Result(change.address, change.action, Status.FAILED, error=self._located(
                    change, f"{problems[0]} (the value came through a reference)", problems[0].split(":", 1)[0]))
        self.redactor.add_resource(resolved, module.secret_attributes(resolved))
        if change.resource is not None and resolved.attributes == change.resource.attributes:
            return change
        if change.resource is not None and _has_unknown(resolved) and not _has_unknown(change.resource):
            return change  # what it refers to is not in this run (e.g. --only-drifted): plan-time values stand
        return rediff(module, change, resolved, reacts=bool(self.graph.nodes[change.address].get("triggers")))

    # -- carrying out changes (by the executor: here, or on Dask workers) -------------------------------
    def _carried(self, phase: str, changes: list[Change]) -> list[Result]:
        results = self.executor.run(phase, changes)
        by_address = {c.address: c for c in changes}
        return [dataclasses.replace(r, error=self._located(by_address[r.address], r.error))
                if r.status is Status.FAILED and r.error else r for r in results]

    def _located(self, change: Change, error: str, key: str | None = None) -> str:
        """"aws.subnet.a (site.yaml:41:5): Code: message", with every secret of the run masked."""
        where = change.resource.where(key) if change.resource is not None else None
        text = f"({where}): {error}" if where is not None else error
        return self.redactor.redact(text)

    def _run_batch(self, changes: list[Change]) -> list[Result]:
        return self._carried(BATCH, changes)

    def _run_many(self, phase: str, changes: list[Change]) -> list[Result]:
        """Changes of one target that became ready together, carried out by one task of a remote executor."""
        if phase == "destroy":
            return self._carried(DESTROY, changes)
        out, ready = [], []
        for change in changes:
            unknown = change.resource is not None and any(v is UNKNOWN for v in change.resource.attributes.values())
            if unknown:
                out.append(self._run(change))  # fails it, with the names
            else:
                ready.append(change)
        return out + (self._carried(CREATE, ready) if ready else [])

    def _destroy(self, change: Change) -> Result:
        return self._carried(DESTROY, [change])[0]

    def _run(self, change: Change) -> Result:
        resource = change.resource
        assert resource is not None
        unknown = sorted(k for k, v in resource.attributes.items() if v is UNKNOWN)
        if unknown:
            return Result(change.address, change.action, Status.FAILED,
                          error=f"{', '.join(unknown)} still unknown: the resources it refers to did not provide it")
        return self._carried(CREATE, [change])[0]

    # -- results -----------------------------------------------------------------------------------
    def _settle(self, result: Result, change: Change, phase: str = "create") -> Result:
        """Write the state for a settled result (calling thread only) and tell the hooks."""
        resource = change.resource
        if phase == "destroy" and change.action is Action.REPLACE:
            return result  # the create phase finishes (or fails) the replacement
        if resource is not None and result.status in (Status.OK, Status.NOOP):
            self._record(result, change)
        if result.status is not Status.NOOP:
            self.hooks.finished(result)
            log.info("apply: %s %s %s in %.0f ms%s", result.address, phase if change.action is Action.REPLACE else
                     result.action.value, result.status.value, result.seconds * 1000,
                     f": {result.error}" if result.error else "")
        return result

    def _record(self, result: Result, change: Change) -> None:
        resource = change.resource
        assert resource is not None
        if change.pruned or change.action in (Action.DELETE, Action.FORGET):
            self.store.forget(change.address)
            return
        module = self.registry.module(change.type)
        secret = module.secret_attributes(resource)
        record = self.records.get(change.address)
        observed = result.observed or change.observed
        if observed is not None:  # values only now known (a command's output) join the run's secrets
            for name in secret & set(observed.attributes):
                self.redactor.add(observed.attributes[name])
        if (result.status is Status.OK or record is None
                or attributes_differ(record, resource, secret, module.digest_attributes)):
            self.store.save(resource, observed, secret,
                            origin=origin_for(change, record, change.observed, self.unknown.get(change.address)),
                            depends_on=dependencies_of(self.graph, change.address), digested=module.digest_attributes)
        done = dataclasses.replace(change, action=Action.NOOP, observed=observed)
        self.known[change.address] = attribute_view(
            None, done, record.observed if record and result.status is Status.NOOP else None)
        self.secrets[change.address] = secret


def _has_unknown(resource: Any) -> bool:
    return any(v is UNKNOWN for v in resource.attributes.values())


def failed(results: Sequence[Result]) -> bool:
    return any(r.status in (Status.FAILED, Status.SKIPPED) for r in results)
