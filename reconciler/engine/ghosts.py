"""What the state says beside the spec: moved and removed entries, the resources that left the spec (ghosts)
and their fate, a lost state rebuilt from ownership marks, data-loss hazards and objects claimed twice."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import networkx as nx

from reconciler.capabilities import Discovers
from reconciler.errors import ReconcileError
from reconciler.model import (
    Action,
    Change,
    Observed,
    Resource,
    Selection,
    Spec,
    address_scope,
    covers,
)
from reconciler.registry import Registry
from reconciler.secrets import Redactor
from reconciler.state.records import FOUND, StateRecord
from reconciler.targets import TargetPool, declared_targets
from reconciler.words import plural

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class _Ghost:
    """A resource the state has and the spec does not, and what to do with it."""

    resource: Resource
    record: StateRecord | None  # None: found by its ownership marks while rebuilding a lost state
    destroy: bool
    reason: str


class StateSide:
    """The planner's side that reads the state: a base of Planner (engine.plan), which sets these."""

    spec: Spec
    graph: nx.DiGraph[str]
    registry: Registry
    targets: TargetPool
    selection: Selection
    redactor: Redactor
    state_is_new: bool
    records: dict[str, StateRecord]
    blockers: list[str]
    warnings: list[str]
    moved_from: dict[str, str]

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
            if issubclass(self.registry.module_class(type_name), Discovers):
                pairs |= {(type_name, t) for t in targets_by_family.get(family, ())}
        found: dict[str, tuple[str, str, Mapping[str, Any]]] = {}
        for type_name, target_name in sorted(pairs):
            module = self.registry.module(type_name)
            assert isinstance(module, Discovers), type_name
            try:
                for address, identity in module.discover(self.targets.get(module.family, target_name)).items():
                    if address.startswith(type_name + "."):
                        found[address] = (type_name, target_name, identity)
            except ReconcileError as exc:
                log.info("discovery of %s on %s failed: %s", type_name, target_name, exc)
            except Exception:  # noqa: BLE001 - discovery is best effort: observation reports the real errors
                log.warning("discovery of %s on %s failed", type_name, target_name, exc_info=True)
        return found

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
