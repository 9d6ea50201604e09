"""The engine's choice of action, as a pure function of desired and observed values."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from reconciler.engine import triggers
from reconciler.ignored_keys import keys_left_to_the_world, with_found_keys, with_keys_as_found
from reconciler.model import UNKNOWN, Action, AttrDiff, Change, Observed, Resource
from reconciler.spec.notify import Trigger

if TYPE_CHECKING:
    from reconciler.module import Module


def change_for(module: Module[Any], resource: Resource, observed: Observed | None) -> Change:
    """The plan's change for one resource: the engine's choice, then the type's own refinement, if it has one
    (`module.RefinesChange`)."""
    change = compute_change(module, resource, observed)
    refine = getattr(module, "refine_change", None)
    return refine(change, resource, observed) if refine is not None else change


def compute_change(module: Module[Any], resource: Resource, observed: Observed | None) -> Change:
    """no object -> create; a changed replace-forcing attribute -> replace; equal -> no-op; else update."""
    secret = module.secret_attributes(resource)
    if module.state_of(resource) in module.absent_states:
        if observed is None:
            return Change(resource.address, resource.type, Action.NOOP, resource=resource)
        return Change(
            resource.address, resource.type, Action.DELETE, reason="state: absent",
            resource=resource, observed=observed,
        )
    desired = module.desired(resource)
    if observed is None:
        diffs = tuple(AttrDiff(k, None, v, sensitive=k in secret) for k, v in sorted(desired.items()))
        return Change(resource.address, resource.type, Action.CREATE, diffs, resource=resource)

    ignored = resource.lifecycle.ignore_changes
    if module.co_managed:  # left to the world unless the spec sets them
        ignored = ignored | (module.co_managed - resource.attributes.keys())
    keys_ignored = keys_left_to_the_world(ignored)
    if keys_ignored:  # the spec's maps with the ignored keys as found: compared, and kept by an update, as they are
        resource = dataclasses.replace(resource, attributes=with_found_keys(resource.attributes, observed.attributes,
                                                                            keys_ignored))
        desired = module.desired(resource)
    diffs_list = []
    for name in sorted(desired):
        if name in ignored:
            continue
        want, have = desired[name], observed.attributes.get(name)
        if name in keys_ignored and isinstance(want, dict) and isinstance(have, dict):
            want = with_keys_as_found(want, have, keys_ignored[name])
        if want is UNKNOWN or not module.equal(name, want, have):
            diffs_list.append(
                AttrDiff(name, have, want, sensitive=name in secret, forces_replace=name in module.requires_replace)
            )
    diffs = tuple(diffs_list)
    if any(d.forces_replace for d in diffs):
        action = Action.REPLACE
    elif diffs:
        action = Action.UPDATE
    else:
        action = Action.NOOP
    return Change(resource.address, resource.type, action, diffs, resource=resource, observed=observed)


OWNERSHIP = "owned"  # the diff a module reports when an object lacks this stack's ownership marks


def unmarked(change: Change) -> Change:
    """A found object (imported, adopted, migrated, or there before reconcile) keeps the marks it has:
    marking it would make a rebuilt state take it for one reconcile created, and destroy it on removal."""
    if not any(d.name == OWNERSHIP for d in change.diffs):
        return change
    diffs = tuple(d for d in change.diffs if d.name != OWNERSHIP)
    action = change.action if diffs or change.action is not Action.UPDATE else Action.NOOP
    return dataclasses.replace(change, diffs=diffs, action=action, reason=change.reason if diffs else "")


def rediff(module: Module[Any], change: Change, resolved: Resource, *, reacts: bool) -> Change:
    """The change again for a resource whose references resolved, during the apply, to other values than at
    plan time: a replacement stays one, and what its triggers decided at plan time stands (`reacts`)."""
    rediffed = change_for(module, resolved, change.observed)
    if change.action is Action.REPLACE:
        rediffed = dataclasses.replace(rediffed, action=Action.REPLACE)
    if reacts:
        fired = [Trigger(cause, change.trigger_action) for cause in change.triggered_by]
        rediffed = triggers.react(module, rediffed, fired)
    return dataclasses.replace(rediffed, moved_from=change.moved_from)
