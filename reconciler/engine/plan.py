"""Plan: observe, then diff every node in dependency order; unknown values flow along references.

What the state knows decides what happens to an object the spec no longer has: one reconcile created is
destroyed (in reverse dependency order, at apply), one it found already there is forgotten, and
`removed:` entries say otherwise explicitly. `moved:` hands a record to its new address. A state that
does not exist yet is rebuilt from the objects carrying this stack's identity.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import networkx as nx

from reconciler.engine import triggers
from reconciler.engine.diff import change_for, unmarked
from reconciler.engine.observe import Observation, ObserveProgress, observe
from reconciler.engine.outputs import resolve_outputs
from reconciler.engine.references import ReferenceResolver, attribute_view
from reconciler.errors import ReconcileError
from reconciler.model import (
    EPHEMERAL,
    UNKNOWN,
    Action,
    AttrDiff,
    Change,
    Inventory,
    Observed,
    Plan,
    Resource,
    Selection,
    Spec,
    address_scope,
    covers,
)
from reconciler.module import UNCHECKED, Module
from reconciler.registry import Registry
from reconciler.secrets import Redactor
from reconciler.spec import refs
from reconciler.spec.build_state import canonical_hash
from reconciler.spec.graph import referenced_by, with_dependencies
from reconciler.state.interface import StateStore
from reconciler.state.records import CREATED, FOUND, StateRecord, unsettled
from reconciler.targets import TargetPool, declared_targets
from reconciler.words import plural

log = logging.getLogger(__name__)


def selected_nodes(graph: nx.DiGraph[str], selection: Selection, inventory: Inventory | None = None) -> list[str]:
    """Nodes to plan, in dependency order: the selected ones and everything they depend on. `--limit`
    takes hosts, groups (their hosts) and engine or region names."""
    nodes: Collection[str] = graph.nodes
    if selection.targets:
        chosen = [n for n in graph.nodes if n in selection.targets or _base(n) in selection.targets]
        unknown = [t for t in selection.targets if not any(n == t or _base(n) == t for n in graph.nodes)]
        if unknown:
            raise ReconcileError(f"--target names no resource of the spec: {', '.join(unknown)}")
        nodes = with_dependencies(graph, chosen)
    if selection.limit:
        hosts = set()
        for name in selection.limit:
            members = inventory.expand(name) if inventory is not None else None
            hosts |= set(members) if members else {name}
        known = {graph.nodes[n]["resource"].host for n in graph.nodes} | {
            graph.nodes[n]["resource"].target for n in graph.nodes}
        missing = sorted(hosts - known)
        if missing:
            raise ReconcileError(f"--limit names no host or target of the spec: {', '.join(missing)} "
                                 "(a group's hosts are named one by one)")
        chosen = [n for n in nodes if graph.nodes[n]["resource"].host in hosts
                  or graph.nodes[n]["resource"].target in hosts]
        nodes = with_dependencies(graph, chosen)
    keep = set(nodes)
    if selection.exclude:
        excluded = [n for n in graph.nodes if any(covers(x, n) for x in selection.exclude)]
        unknown = [x for x in selection.exclude if not any(covers(x, n) for n in graph.nodes)]
        if unknown:
            raise ReconcileError(f"--exclude names no resource of the spec: {', '.join(unknown)}")
        for node in excluded:
            keep -= {node} | set(nx.descendants(graph, node))  # type: ignore[arg-type]
    return [n for n in nx.lexicographical_topological_sort(graph) if n in keep]


def _base(address: str) -> str:
    return address.split("[", 1)[0]


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


@dataclasses.dataclass(frozen=True)
class _Ghost:
    """A resource the state has and the spec does not, and what to do with it."""

    resource: Resource
    record: StateRecord | None  # None: found by its ownership marks while rebuilding a lost state
    destroy: bool
    reason: str


class Planner:
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

    # -- what the state says ---------------------------------------------------------------------
    def _names_nothing(self, records: Mapping[str, StateRecord], retired: Collection[str]) -> None:
        """A `moved:` or `removed:` entry must name something the state has, or had (a typo would leave the
        resource it meant to be pruned): an error at its line. A new state has nothing to check against."""
        if self.state_is_new:
            return
        known = set(records) | set(retired)
        gone = sorted({a.split("[", 1)[0] for a in records if a not in self.graph})
        entries = [("moved", m.source, m.location) for m in self.spec.moved]
        entries += [("removed", r.address, r.location) for r in self.spec.removed]
        for key, address, location in entries:
            if any(covers(address, a) for a in known):
                continue
            import difflib

            close = difflib.get_close_matches(address.split("[", 1)[0], gone, n=1, cutoff=0.6)
            where = f"{location}: " if location else ""
            hint = f" (did you mean {close[0]}?)" if close else ""
            self.blockers.append(f"{where}{key}: {address} names nothing in the state{hint}")

    def _apply_moves(self, records: Mapping[str, StateRecord]) -> tuple[dict[str, StateRecord], dict[str, str]]:
        """The records as the spec's addresses see them once `moved:` entries are applied: a resource's entry
        moves all its instances (`file.g` -> `file.h`: `file.g[a]` -> `file.h[a]`), an instance's only that one
        (`file.g[a]` -> `file.g[b]`, a renamed key)."""
        view = dict(records)
        moved: dict[str, str] = {}
        for move in self.spec.moved:
            for address in sorted(a for a in records if covers(move.source, a) and a in view):
                destination = move.destination + address[len(move.source):]
                if destination in view:
                    self.blockers.append(f"moved: both {address} and {destination} are in the state; remove one "
                                         "with `reconcile state rm` first")
                    continue
                record = view.pop(address)
                name = destination.split("[", 1)[0].split(".")[-1]
                view[destination] = dataclasses.replace(record, address=destination, name=name)
                moved[destination] = address
        return view, moved

    def _ghosts(self, discovered: Mapping[str, tuple[str, str, Mapping[str, Any]]]) -> list[_Ghost]:
        """What the state has and the spec does not (with `destroy`: everything chosen), and its fate."""
        if self.selection.destroy:
            going = self._destroy_set()
            staying = set(self.records) - going
        elif not self.selection.prune or self.selection.partial:
            return []
        else:
            excluded = self._excluded_records()
            staying = set(self.graph.nodes) | excluded
        out: list[_Ghost] = []
        for address, record in sorted(self.records.items()):
            if address in staying or record.type not in self.registry:
                continue
            module = self.registry.module(record.type)
            naming = [r for r in self.spec.removed if covers(r.address, address)]  # the most precise entry wins
            removal = max(naming, key=lambda r: len(r.address)) if naming else None
            if removal is not None:
                destroy = removal.destroy
                reason = "removed: destroy: true" if destroy else "removed: destroy: false; the object stays"
            elif record.origin == FOUND:
                destroy, reason = False, "it existed before reconcile; it stays as it is"
            elif not module.prunable:
                destroy, reason = False, module.forget_reason
            elif self._departed(module.family, record.target):
                destroy, reason = False, f"its host {record.target} is no longer in its dynamic group"
            else:
                destroy, reason = True, "destroyed with the stack" if self.selection.destroy else "no longer in the spec"
            out.append(_Ghost(record.as_resource(), record, destroy, reason))
        if self.selection.destroy and self.selection.targets:
            return out
        in_spec = set() if self.selection.destroy else set(self.graph.nodes)
        strays = sorted(a for a in discovered if a not in in_spec and a not in self.records)
        if strays and not self.spec.named:
            self.warnings.append(
                f"{plural(len(strays), 'object')} carry this spec's default stack identity {self.spec.stack} but are not in "
                f"the spec ({', '.join(strays[:5])}{' …' if len(strays) > 5 else ''}); a default identity is not "
                "trusted to destroy anything: give the spec a `name:` to have them pruned")
            return out
        for address in strays:
            type_name, target, identity = discovered[address]
            name = address.split("[", 1)[0].split(".")[-1]
            resource = Resource(address=address, type=type_name, name=name, target=target,
                                attributes={"state": "absent"}, prior=dict(identity),
                                scope=address_scope(address, type_name, name))
            out.append(_Ghost(resource, None, True, "no longer in the spec (found by this stack's ownership marks)"))
        return out

    def _destroy_set(self) -> set[str]:
        """`reconcile destroy`: every record, or those --target names and everything that depends on them."""
        if not self.selection.targets:
            return set(self.records)
        unknown = [t for t in self.selection.targets
                   if not any(covers(t, a) for a in set(self.records) | set(self.graph.nodes))]
        if unknown:
            raise ReconcileError(f"--target names no resource of the spec or the state: {', '.join(unknown)}")
        going = {a for a in self.records if any(covers(t, a) for t in self.selection.targets)}
        going |= {d for a in list(going) if a in self.graph for d in nx.descendants(self.graph, a)}
        while True:  # and what the state records as depending on them
            more = {a for a, r in self.records.items() if a not in going and set(r.depends_on) & going}
            if not more:
                return going & set(self.records)
            going |= more

    def _excluded_records(self) -> set[str]:
        """--exclude: records it names, or that depend on one it names, are left as they are."""
        if not self.selection.exclude:
            return set()
        out = {a for a in self.records if any(covers(x, a) for x in self.selection.exclude)}
        while True:
            more = {a for a, r in self.records.items() if a not in out and set(r.depends_on) & out}
            if not more:
                return out
            out |= more

    def _departed(self, family: str, target: str) -> bool:
        """A host that was an instance of a dynamic group and is not any more (terminated, scaled in): what
        was made on it went with it, or is out of reach; it is forgotten."""
        inventory = self.spec.inventory
        if (not inventory.dynamic or not inventory.resolved or not self.registry.family(family).places_on_hosts
                or target in inventory.hosts):
            return False
        return target != "local" and target not in self.registry.family(family).declared(self.spec)

    def _discover_stack(self) -> dict[str, tuple[str, str, Mapping[str, Any]]]:
        """A state that does not exist yet: every object on the spec's engines and regions that carries this
        stack's identity, so that what was removed from the spec meanwhile is found and pruned."""
        if not self.state_is_new or self.selection.partial or not self.selection.prune or (
                self.selection.destroy and self.selection.targets):
            return {}
        pairs: set[tuple[str, str]] = set()
        targets_by_family = declared_targets(self.spec, {f: self.registry.family(f) for f in self.registry.families})
        for r in self.spec.resources:
            targets_by_family.setdefault(self.registry.module_class(r.type).family, set()).add(r.target)
        for type_name in self.registry.types:
            family = self.registry.module_class(type_name).family
            if self.registry.module_class(type_name).discovers:
                pairs |= {(type_name, t) for t in targets_by_family.get(family, ())}
        found: dict[str, tuple[str, str, Mapping[str, Any]]] = {}
        for type_name, target_name in sorted(pairs):
            module = self.registry.module(type_name)
            try:
                for address, identity in module.discover(self.targets.get(module.family, target_name)).items():
                    if address.startswith(type_name + "."):
                        found[address] = (type_name, target_name, identity)
            except ReconcileError as exc:
                log.info("discovery of %s on %s failed: %s", type_name, target_name, exc)
            except Exception:  # noqa: BLE001 - discovery is best effort: observation reports the real errors
                log.warning("discovery of %s on %s failed", type_name, target_name, exc_info=True)
        return found

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
        while run.pending or first_wave:  # the first wave also observes what was removed from the spec
            wave = self._resolve(run, run.take_ready(self.graph), resolver)
            going = [g.resource for g in ghosts if g.destroy] if first_wave else []
            observation, retiring = self._observe(run, wave, going)
            first_wave = False
            self._diff(run, wave, observation, retiring)
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

    def _observe(self, run: PlanRun, wave: Sequence[Resource], going: Sequence[Resource]
                 ) -> tuple[Observation, dict[str, Resource]]:
        """One batched observation of the wave (and of what is being destroyed, with the first wave), and the
        old identities of resources whose identity changes (`retiring`, by address)."""
        for r in wave:
            self.redactor.add_resource(r, self.registry.module(r.type).secret_attributes(r))
        observable = [self._unchecked(r) for r in wave
                      if self.registry.module(r.type).observe_unresolved or not _has_unknown(r)]
        retiring = {r.address: old for r in observable if (old := self._old_identity(r)) is not None}
        observation = observe(observable + list(going) + list(retiring.values()), self.registry, self.targets,
                              self.parallelism, self.progress)
        run.observed.update(observation.observed)
        located = {r.address: r.location for r in wave if r.location is not None}
        run.failures.update({a: self.redactor.redact(f"({located[a]}): {m}" if a in located else m)
                             for a, m in observation.errors.items()})
        return observation, retiring

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

    def _refuse_an_empty_spec(self, gone: Sequence[Change]) -> None:
        """A spec without any `resources:` at all (an empty or truncated file) that would destroy everything the
        stack manages is refused: `--allow-empty` (or `reconcile destroy`) says it is meant. An explicit
        `resources: []` is a statement of its own and needs nothing."""
        data = self.spec.document.data
        if self.selection.destroy or self.selection.allow_empty or data.get("resources") is not None \
                or data.get("components"):
            return
        destroyed = [c.address for c in gone if c.action is Action.DELETE]
        if destroyed:
            from reconciler.spec.load import display_path

            files = ", ".join(display_path(f) for f in self.spec.document.files) or display_path(self.spec.document.root)
            self.blockers.append(
                f"{files} has no resources, so this plan would destroy everything the stack manages ({plural(len(destroyed), 'object')}); if that is what you want, pass --allow-empty, or run `reconcile destroy`")

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

    def _ghost_change(self, ghost: _Ghost, observed_all: Mapping[str, Observed | None],
                      failures: Mapping[str, str]) -> Change:
        change = self._ghost_action(ghost, observed_all, failures)
        source = self.moved_from.get(change.address)
        return dataclasses.replace(change, moved_from=source) if source else change

    def _ghost_action(self, ghost: _Ghost, observed_all: Mapping[str, Observed | None],
                      failures: Mapping[str, str]) -> Change:
        r = ghost.resource
        if not ghost.destroy:
            return Change(r.address, r.type, Action.FORGET, reason=ghost.reason, resource=r, pruned=True)
        if r.address in failures:
            return Change(r.address, r.type, Action.NOOP, reason="not observed", resource=r, pruned=True)
        observed = observed_all.get(r.address)
        if observed is None:  # already gone: the state entry just goes
            return Change(r.address, r.type, Action.FORGET, reason="no longer in the spec; already gone",
                          resource=r, pruned=True)
        return Change(r.address, r.type, Action.DELETE, reason=ghost.reason, resource=r, observed=observed,
                      pruned=True)

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

    def _destroy_blockers(self, changes: Sequence[Change]) -> list[str]:
        out = []
        going_by_target: dict[tuple[str, str], list[Change]] = {}
        leaving = [dataclasses.replace(c, resource=c.going_resource) for c in changes
                   if c.action in (Action.DELETE, Action.REPLACE) and c.going_resource is not None]
        for c in leaving:
            assert c.resource is not None
            going_by_target.setdefault((self.registry.module_class(c.type).family, c.resource.target), []).append(c)
        for c in leaving:
            assert c.resource is not None
            verb = "replace" if c.action is Action.REPLACE else "destroy"
            lifecycle = c.resource.lifecycle if c.retiring is None else next(
                (x.resource.lifecycle for x in changes if x.address == c.address and x.resource), c.resource.lifecycle)
            if lifecycle.prevent_destroy:
                out.append(f"{c.address}: lifecycle.prevent_destroy is set, but the plan would {verb} it")
                continue
            if lifecycle.prevent_destroy is False or lifecycle.allow_data_loss or self.selection.allow_data_loss:
                continue
            module = self.registry.module(c.type)
            try:
                target = self.targets.get(module.family, c.resource.target)
                hazard = module.destroy_hazard(target, c, going_by_target.get((module.family, c.resource.target), []))
            except ReconcileError as exc:
                hazard = f"it could not be checked for data ({exc})"
            if hazard:
                out.append(self.redactor.redact(
                    f"{c.address}: the plan would {verb} it, but {hazard}; pass --allow-data-loss (or set "
                    "lifecycle.allow_data_loss: true on it) to accept that"))
        return out

    def _check_same_objects(self, changes: Sequence[Change]) -> None:
        """A destroy under one address of the object another address manages would undo that one: refuse it
        and suggest `moved:` (a rename) instead."""
        keys: dict[tuple[str, str, str], str] = {}
        for c in changes:
            if c.resource is None or c.pruned or c.action is Action.DELETE:
                continue
            key = self.registry.module(c.type).physical_key(c.resource)
            if key is not None:
                keys[(c.type, c.resource.target, key)] = c.address
        for c in changes:
            if not c.pruned or c.action is not Action.DELETE or c.resource is None:
                continue
            key = self.registry.module(c.type).physical_key(c.resource)
            other = keys.get((c.type, c.resource.target, key)) if key is not None else None
            if other:
                self.blockers.append(
                    f"{c.address} and {other} are the same object ({key}): destroying {c.address} would undo "
                    f"{other}. If it was renamed, add `moved: [{{from: {c.address}, to: {other}}}]`; to stop "
                    f"managing it under the old name without destroying it, add "
                    f"`removed: [{{address: {c.address}, destroy: false}}]`")


def check_attributes(registry: Registry, type_name: str, attributes: Mapping[str, Any], keys: Collection[str],
                     secret: Collection[str] = ()) -> list[str]:
    """Schema problems of `attributes[key]` for the given keys (values still unknown are skipped)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(registry.schema(type_name), format_checker=Draft202012Validator.FORMAT_CHECKER)
    known = {k: v for k, v in attributes.items() if not _unknown_inside(v)}
    out = []
    for error in validator.iter_errors(known):
        top = str(error.absolute_path[0]) if error.absolute_path else None
        if top in keys:
            message = error.message if top not in secret else f"the value of {top} is not valid ({error.validator})"
            out.append(f"{top}: {message}")
    return out


def _unknown_inside(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, Mapping):
        return any(_unknown_inside(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_unknown_inside(v) for v in value)
    return False


def infer_edges(changes: list[Change], discovered: Sequence[_Ghost]) -> list[Change]:
    """Objects found by their ownership marks come with no recorded edges: one whose attribute values hold
    another's identity (its id, ARN or name) depends on it — a subnet names its VPC — so it goes first."""
    unknown = {g.resource.address for g in discovered}
    if not unknown:
        return changes
    handles: dict[str, set[str]] = {}
    for c in changes:
        own = dict(c.observed.identity) if c.observed else {}
        for key in ("id", "arn"):
            if c.observed is not None and key in c.observed.attributes:
                own[key] = c.observed.attributes[key]
        handles[c.address] = {v for v in own.values() if isinstance(v, str) and len(v) >= 3}
    out = []
    for c in changes:
        if c.address not in unknown or c.observed is None:
            out.append(c)
            continue
        mentioned = set(_strings(c.observed.attributes)) - handles[c.address]
        deps = tuple(sorted(other for other, hs in handles.items() if other != c.address and hs & mentioned))
        out.append(dataclasses.replace(c, depends_on=deps))
    return out


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


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


def _unread_data(resource: Resource, failures: Mapping[str, str], resolver: ReferenceResolver) -> str | None:
    """The data lookup a resource reads that could not be read, if any."""
    for _, text in refs.find(dict(resource.attributes)):
        try:
            ref = refs.parse(text, resolver.types)
        except ValueError:
            continue
        if ref.type.startswith("data."):
            node = resolver.index.node_for_reference(ref, resource)
            if not isinstance(node, str) and node.address in failures:
                return node.address
    return None


def origin_for(change: Change, record: StateRecord | None, observed: Observed | None,
               intended: Mapping[str, Any] | None = None) -> str:
    """Whether the state should call the object created by reconcile or found already there. `intended`: the
    journal's entry for it, left by a run that stopped before it recorded the outcome: what that run was
    making is decided by what it meant to do, never by looking again (an object it made carries no mark)."""
    if change.action in (Action.CREATE, Action.REPLACE):
        found = change.retiring is not None and change.resource is not None and change.resource.adopted
        return FOUND if found else CREATED
    if record is not None and not (intended and intended.get("action") in ("create", "replace")):
        return record.origin
    if intended and intended.get("action") in ("create", "replace"):
        return str(intended.get("origin") or CREATED)
    if record is not None:
        return record.origin
    return CREATED if observed is not None and observed.ours else FOUND


def _has_unknown(resource: Resource) -> bool:
    return any(v is UNKNOWN for v in resource.attributes.values())


def dependencies_of(graph: nx.DiGraph[str], address: str) -> Iterable[str]:
    """Every address `address` depends on (depends_on and references), as the state records them."""
    return sorted(graph.predecessors(address)) if address in graph else ()
