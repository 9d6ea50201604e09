"""Plan: observe, then diff every node in dependency order; unknown values flow along references.

What the state knows decides what happens to an object the spec no longer has: one reconcile created is
destroyed (in reverse dependency order, at apply), one it found already there is forgotten, and
`removed:` entries say otherwise explicitly. `moved:` hands a record to its new address. A state that
does not exist yet is rebuilt from the objects carrying this stack's identity."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import networkx as nx

from reconciler.engine import triggers
from reconciler.engine.diff import change_for, unmarked
from reconciler.engine.early_observe import Ahead
from reconciler.engine.ghosts import StateSide
from reconciler.engine.observe import Observation, ObserveProgress, observe
from reconciler.engine.outputs import resolve_outputs
from reconciler.engine.plan_rules import (
    _has_unknown,
    _unread_data,
    check_attributes,
    infer_edges,
    origin_for,
    selected_nodes,
)
from reconciler.engine.references import ReferenceResolver, attribute_view
from reconciler.model import (
    EPHEMERAL,
    UNKNOWN,
    Action,
    AttrDiff,
    Change,
    Observed,
    Plan,
    Resource,
    Selection,
    Spec,
)
from reconciler.module import UNCHECKED, Module
from reconciler.registry import Registry
from reconciler.secrets import Redactor
from reconciler.spec import refs
from reconciler.spec.build_state import canonical_hash
from reconciler.spec.graph import referenced_by
from reconciler.state.interface import StateStore
from reconciler.state.records import FOUND, StateRecord, unsettled
from reconciler.targets import TargetPool
from reconciler.words import plural

log = logging.getLogger(__name__)


@dataclasses.dataclass
class PlanRun:
    """What one planning pass knows so far, by address: the nodes still waiting for what they reference, the
    attribute views later references read (`known`) and the secret attributes among them, each planned
    change, everything observed, and what could not be planned and why."""

    pending: list[str]
    known: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    secrets: dict[str, frozenset[str]] = dataclasses.field(default_factory=dict)
    changes: dict[str, Change] = dataclasses.field(default_factory=dict)
    observed: dict[str, Observed | None] = dataclasses.field(default_factory=dict)
    failures: dict[str, str] = dataclasses.field(default_factory=dict)
    waves: int = 0  # observations made (a wave whose resources were all observed ahead makes none)

    def take_ready(self, graph: nx.DiGraph[str]) -> list[str]:
        """The pending nodes whose references are all known now (taken off the pending list)."""
        ready = [a for a in self.pending if all(p in self.known for p in referenced_by(graph, a))]
        taken = set(ready)
        self.pending = [a for a in self.pending if a not in taken]
        return ready

    def settle(self, address: str, change: Change, view: dict[str, Any],
               secret: frozenset[str] | None = None) -> None:
        """A node's change, and what later references read of it."""
        self.changes[address] = change
        self.known[address] = view
        if secret is not None:
            self.secrets[address] = secret

    def not_planned(self, address: str, resource: Resource, reason: str, secret: frozenset[str] | None = None) -> None:
        """A node left as it is (its failure or blocker says why); references to it read nothing."""
        self.settle(address, Change(address, resource.type, Action.NOOP, reason=reason, resource=resource), {}, secret)


class Planner(StateSide):
    """One planning pass over a spec, its graph and the state."""

    def __init__(self, spec: Spec, graph: nx.DiGraph[str], registry: Registry, targets: TargetPool,
                 records: Mapping[str, StateRecord], state_is_new: bool, selection: Selection,
                 parallelism: int, redactor: Redactor | None = None, progress: ObserveProgress | None = None,
                 retired: Collection[str] = (), journal: Mapping[str, Mapping[str, Any]] | None = None,
                 pending_handlers: Mapping[str, Mapping[str, Any]] | None = None):
        self.spec = spec
        self.graph = graph
        self.registry = registry
        self.targets = targets
        self.selection = selection
        self.parallelism = parallelism
        self.redactor = redactor or Redactor()
        self.progress = progress
        self.state_is_new = state_is_new
        self.blockers: list[str] = []
        self.warnings: list[str] = []
        self.unknown = unsettled(journal or {}, records)  # intents of a run that stopped before recording them
        self.pending_handlers = dict(pending_handlers or {})  # handlers an earlier apply did not run
        if self.unknown:
            shown = ", ".join(sorted(self.unknown)[:10]) + (" …" if len(self.unknown) > 10 else "")
            self.warnings.append(f"a run stopped before it recorded the outcome of {plural(len(self.unknown), 'change')} "
                                 f"({shown}); they were observed again, and what it was creating stays reconcile's")
        self._names_nothing(records, retired)
        self.records, self.moved_from = self._apply_moves(records)
        self.pending = {h: spec.inventory.hosts[h].pending for h in spec.inventory.pending_hosts()}

    # -- the pass ----------------------------------------------------------------------------------
    def plan(self, serial: int) -> Plan:
        order = [] if self.selection.destroy else selected_nodes(self.graph, self.selection, self.spec.inventory)
        ghosts = self._ghosts(self._discover_stack())
        self.registry.prepare([self.graph.nodes[a]["resource"].type for a in order] +
                              [g.resource.type for g in ghosts])
        resolver = ReferenceResolver(self.graph, self.registry, self.spec.data)
        run = PlanRun(list(order))
        data_values = self._read_data(run.known, run.secrets, run.failures)
        run.observed.update({a: Observed(v) for a, v in data_values.items()})
        first_wave = True
        ahead = Ahead()
        while run.pending or first_wave:  # the first wave also observes what was removed from the spec
            wave = self._resolve(run, run.take_ready(self.graph), resolver)
            going = [g.resource for g in ghosts if g.destroy] if first_wave else []
            early = self._ahead(run, resolver, ahead) if first_wave else []
            observation, retiring = self._observe(run, wave, going, ahead, early)
            first_wave = False
            self._diff(run, wave, observation, retiring)
        log.info("plan: %s of observation, %d resource(s) observed ahead of their turn", plural(run.waves, "wave"),
                 ahead.used)
        known, secrets, changes, observed_all, failures = run.known, run.secrets, run.changes, run.observed, run.failures

        ordered = [changes[a] for a in order]
        gone = [self._ghost_change(ghost, observed_all, failures) for ghost in ghosts]
        self._refuse_an_empty_spec(gone)
        ordered += infer_edges(gone, [g for g in ghosts if g.record is None])
        ordered = [self._located(c) for c in ordered]
        if log.isEnabledFor(logging.INFO):
            for c in ordered:
                if c.actionable or c.reason:
                    log.info("plan: %s %s%s%s", c.address, c.verb or c.action.value, f" ({c.where})" if c.where else "",
                             f": {self.redactor.redact(c.reason)}" if c.reason else "")
            log.info("plan: %d change(s) of %d resource(s); %d could not be planned", len([c for c in ordered
                     if c.actionable]), len(ordered), len(failures))
        self.blockers += self._destroy_blockers(ordered)
        self._check_same_objects(ordered)
        hidden = {c.address: c.resource.ephemeral for c in ordered if c.resource is not None and c.resource.ephemeral}
        hashes = {a: canonical_hash({k: v for k, v in o.attributes.items() if k not in hidden.get(a, ())} if o else None)
                  for a, o in sorted(observed_all.items())}  # a secret store's value is in no hash a plan file holds
        fingerprint = canonical_hash({"spec": self.spec.hash, "serial": serial, "observed": hashes})

        outputs = resolve_outputs(self.spec.outputs, self.graph, self.registry, known, secrets, self.spec.data)
        return Plan(tuple(ordered), self.spec.hash, fingerprint, serial, failures, tuple(self.blockers), hashes,
                    tuple(self.warnings), outputs, data_values, unknown=self.unknown)

    # -- one wave: resolve, observe, diff ------------------------------------------------------------
    def _resolve(self, run: PlanRun, ready: Sequence[str], resolver: ReferenceResolver) -> list[Resource]:
        """The wave's resources with their references resolved; those that cannot be planned (a data source
        they read failed, a reference problem, a host known only after apply) are settled at once."""
        wave = []
        for a in ready:
            original = self.graph.nodes[a]["resource"]
            unread = _unread_data(original, run.failures, resolver)
            if unread:
                run.failures[a] = f"reads {unread}, which could not be read"
                run.not_planned(a, original, "not planned")
                continue
            try:
                resolved = resolver.resolve(original, run.known, run.secrets)
                self._check_resolved(original, resolved)
                if resolved.host in self.pending:  # its host is known after apply: nothing to observe
                    module, deferred = self.registry.module(resolved.type), self._deferred(resolved)
                    run.settle(a, deferred, attribute_view(module, deferred), module.secret_attributes(resolved))
                    continue
                wave.append(self._with_prior(resolved))
            except refs.ReferenceProblem as exc:  # a problem of the spec: nothing may be applied
                where = original.where(exc.key)
                self.blockers.append(self.redactor.redact(f"{a} ({where}): {exc}" if where else f"{a}: {exc}"))
                run.not_planned(a, original, "not planned")
        return wave

    def _observe(self, run: PlanRun, wave: Sequence[Resource], going: Sequence[Resource], ahead: Ahead,
                 early: Sequence[Resource] = ()) -> tuple[Observation, dict[str, Resource]]:
        """One batched observation of the wave (and of what is being destroyed, with the first wave; and of
        `early`, the resources observed ahead: early_observe.py), and the old identities of resources whose
        identity changes (`retiring`, by address)."""
        for r in wave:
            self.redactor.add_resource(r, self.registry.module(r.type).secret_attributes(r))
        observable = [self._unchecked(r) for r in wave
                      if self.registry.module(r.type).observe_unresolved or not _has_unknown(r)]
        retiring = {r.address: old for r in observable if (old := self._old_identity(r)) is not None}
        known = {r.address: found for r in observable if r.address not in retiring
                 and (found := ahead.take(r)) is not None}
        batch = [r for r in observable if r.address not in known] + [*going, *retiring.values(), *early]
        run.waves += 1 if batch else 0
        observation = observe(batch, self.registry, self.targets, self.parallelism, self.progress)
        if early:
            observation = ahead.keep(observation)
        if known:
            observation = Observation({**observation.observed, **known}, observation.errors)
        run.observed.update(observation.observed)
        located = {r.address: r.location for r in wave if r.location is not None}
        run.failures.update({a: self.redactor.redact(f"({located[a]}): {m}" if a in located else m)
                             for a, m in observation.errors.items()})
        return observation, retiring

    def _ahead(self, run: PlanRun, resolver: ReferenceResolver, ahead: Ahead) -> list[Resource]:
        """The pending resources to observe with the first wave, resolved with the state's values."""
        if self.selection.destroy or not self.records or not run.pending:
            return []

        def resolve(address: str, known: Mapping[str, Mapping[str, Any]]) -> Resource | None:
            original = self.graph.nodes[address]["resource"]
            resolved = resolver.resolve(original, known, run.secrets)
            if resolved.host in self.pending or _has_unknown(resolved):
                return None
            self._check_resolved(original, resolved)
            return self._unchecked(self._with_prior(resolved))

        return ahead.choose(run.pending, lambda a: referenced_by(self.graph, a), run.known, self.records, resolve)

    def _diff(self, run: PlanRun, wave: Sequence[Resource], observation: Observation,
              retiring: Mapping[str, Resource]) -> None:
        """Each observed resource's change: the engine's choice, adoption, triggers, identity and moves."""
        for r in wave:
            module = self.registry.module(r.type)
            secret = module.secret_attributes(r)
            if r.address in run.failures:
                run.not_planned(r.address, r, "not observed", secret)
                continue
            change = change_for(module, r, observation.observed.get(r.address))
            record = self.records.get(r.address)
            intended = self.unknown.get(r.address)
            if origin_for(change, record, observation.observed.get(r.address), intended) == FOUND:
                adopted = dataclasses.replace(r, adopted=True)
                change = unmarked(dataclasses.replace(change, resource=adopted))
            change = triggers.fire(module, change, self.graph.nodes[r.address].get("triggers", ()), run.changes,
                                   self.pending_handlers.get(r.address))
            if r.address in retiring and record is not None:
                change = self._identity_change(module, change, record, retiring[r.address], observation.observed)
            if r.address in self.moved_from:
                change = dataclasses.replace(change, moved_from=self.moved_from[r.address])
            run.settle(r.address, change, attribute_view(module, change, record.observed if record else None), secret)

    def _unchecked(self, resource: Resource) -> Resource:
        """With --no-checks, a resource whose observation would run the spec's checks is marked to skip them."""
        if not self.selection.no_checks or not self.registry.module_class(resource.type).runs_checks:
            return resource
        return dataclasses.replace(resource, attributes={**resource.attributes, UNCHECKED: True})

    # -- identity: where an object is, and a change of it -----------------------------------------------
    def _located(self, change: Change) -> Change:
        """The change with where its object lives ("path /etc/app.conf on web1", "bucket logs in eu-west-1")."""
        resource = change.resource
        if resource is None or change.type not in self.registry:
            return change
        module = self.registry.module(change.type)
        place = self.registry.family(module.family).where(resource.target)
        what = module.locate(resource)  # masked below like everything else: a secret value never shows
        return dataclasses.replace(change, where=self.redactor.redact(f"{what} {place}" if what else place))

    def _old_identity(self, resource: Resource) -> Resource | None:
        """The object the state holds for `resource` when it is another one than the spec now names (a file's
        path, a user's name, its host changed): a stand-in for it, to observe and retire; else None."""
        record = self.records.get(resource.address)
        if record is None or self.selection.destroy or record.type != resource.type:
            return None
        if not record.attributes:  # adopted or imported, never applied: nothing recorded to compare
            return None
        module = self.registry.module(resource.type)
        old = record.as_resource()
        old = dataclasses.replace(old, attributes={k: v for k, v in old.attributes.items() if k != "state"})
        try:
            before, now = module.physical_key(old), module.physical_key(resource)
        except Exception:  # noqa: BLE001 - a record too old to name its object: no identity to compare
            log.debug("no identity for the record of %s", resource.address, exc_info=True)
            return None
        if before is None or now is None or (before == now and old.target == resource.target):
            return None
        return dataclasses.replace(record.as_resource(), address=f"{resource.address}~was")

    def _identity_change(self, module: Module[Any], change: Change, record: StateRecord, old: Resource,
                         observed: Mapping[str, Observed | None]) -> Change:
        """The spec names another object than the state's: the old one reconcile created is destroyed (a
        replacement, `-/+ … # forces replacement`); one it found or adopted is released, and the plan says so."""
        was = observed.get(old.address)
        resource = change.resource
        if was is None or resource is None or change.action is Action.REPLACE:
            return change  # the old object is gone already, or the module replaces it itself
        old = dataclasses.replace(old, address=change.address)
        place = self.registry.family(module.family).where(old.target)
        if record.origin == FOUND:
            note = (f"{module.locate(old) or 'the old object'} {place} is released, not destroyed: reconcile found it "
                    "there, it did not create it")
            return dataclasses.replace(change, reason=f"{change.reason}; {note}" if change.reason else note)
        identifying = {k for k in set(resource.attributes) | set(old.attributes) if k != "state"
                       and old.attributes.get(k) != resource.attributes.get(k)
                       and module.physical_key(dataclasses.replace(old, attributes={**old.attributes,
                                                                                     k: resource.attributes.get(k)}))
                       != module.physical_key(old)}
        if old.target != resource.target:
            identifying.add("on")
        secret = module.secret_attributes(resource)
        desired = module.desired(resource)
        diffs = [AttrDiff("on", old.target, resource.target, forces_replace=True)] if "on" in identifying else []
        diffs += [AttrDiff(k, old.attributes.get(k), resource.attributes.get(k), sensitive=k in secret,
                           forces_replace=True) for k in sorted(identifying - {"on"})]
        diffs += [AttrDiff(k, old.attributes.get(k), v, sensitive=k in secret)
                  for k, v in sorted(desired.items()) if k not in identifying and old.attributes.get(k) != v]
        if change.observed is not None and change.observed != was:  # the new one is there already: found
            resource = dataclasses.replace(resource, adopted=True)
        return dataclasses.replace(change, action=Action.REPLACE, diffs=tuple(diffs), observed=was, retiring=old,
                                   resource=resource,
                                   reason=f"it names another object than {module.locate(old) or 'before'} {place}")

    def _deferred(self, resource: Resource) -> Change:
        """A resource on a host still to be created: shown as created there, applied once the host answers."""
        self.redactor.add_resource(resource, self.registry.module(resource.type).secret_attributes(resource))
        change = change_for(self.registry.module(resource.type), resource, None)
        return dataclasses.replace(change, action=Action.CREATE, deferred=True,
                                   reason=f"on {self.pending[resource.host or '']}: known after apply")

    def _read_data(self, known: dict[str, dict[str, Any]], secrets: dict[str, frozenset[str]],
                   failures: dict[str, str]) -> dict[str, dict[str, Any]]:
        """Read every `data:` lookup before anything is planned: their values are known from the start."""
        if not self.spec.data:
            return {}
        from reconciler.engine.observe import read_data

        read = read_data(self.spec.data, self.registry, self.targets, self.parallelism)
        values: dict[str, dict[str, Any]] = {}
        for query in self.spec.data:
            source = type(self.registry.data_source(query.type.removeprefix("data.")))
            secret = source.sensitive
            secrets[query.address] = secret | ({EPHEMERAL} if source.ephemeral else frozenset())
            found = read.observed.get(query.address)
            if found is None:
                where = f"({query.location}): " if query.location else ""
                failures[query.address] = self.redactor.redact(where + read.errors.get(query.address, "not read"))
                continue
            values[query.address] = dict(found.attributes)
            known[query.address] = values[query.address]
            for name in secret:  # every text it can show as (a JSON secret's values too)
                self.redactor.add(found.attributes.get(name))
        return values

    def _check_resolved(self, original: Resource, resolved: Resource) -> None:
        """A value that arrived through `${…}` must satisfy the type's schema like a written one."""
        if resolved is original:
            return
        referenced = {k for k, v in original.attributes.items() if refs.contains_reference(v)}
        checked = {k: v for k, v in resolved.attributes.items() if k in referenced and v is not UNKNOWN}
        if not checked:
            return
        problems = check_attributes(self.registry, resolved.type, {**resolved.attributes}, referenced,
                                    resolved.sensitive | self.registry.module(resolved.type).sensitive)
        if problems:
            problem = refs.ReferenceProblem(f"{problems[0]} (the value came through a reference)")
            problem.key = problems[0].split(":", 1)[0]
            raise problem

    def _with_prior(self, resource: Resource) -> Resource:
        """Hand the module what the state knows of the object: it is looked up by the id the state holds,
        so it stays managed when its tags or labels are changed, and a renamed one is found."""
        record = self.records.get(resource.address)
        if record is None or not record.identity:
            return resource
        prior = dict(record.identity)
        if self.selection.full_refresh:  # apply and drift read everything afresh
            prior.pop("snapshot", None)
        return dataclasses.replace(resource, prior=prior)


def make_plan(
    spec: Spec, graph: nx.DiGraph[str], registry: Registry, targets: TargetPool, store: StateStore,
    selection: Selection | None = None, parallelism: int = 10, redactor: Redactor | None = None,
    progress: ObserveProgress | None = None,
) -> Plan:
    """Observe and diff every selected node. Observation runs in waves: first every resource that
    references nothing (one batch per type and target), then each set of resources whose
    references can now be resolved, so that a path or id taken from another resource is known
    before it is looked at."""
    is_new = bool(getattr(store, "is_new", False)) or (store.serial == 0 and not store.records())
    planner = Planner(spec, graph, registry, targets, store.records(), is_new, selection or Selection(), parallelism,
                      redactor, progress, retired=getattr(store, "retired", ()), journal=getattr(store, "journal", {}),
                      pending_handlers=store.carried.handlers if hasattr(store, "carried") else {})
    return planner.plan(store.serial)
