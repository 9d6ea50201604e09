"""Drift: tell apart what changed behind our back from what the spec changed, from a plan and the state.

- drifted: reality differs from what was last applied, and the spec did not change;
- pending: the spec changed (or was never applied) and apply has not run yet;
- missing: a managed resource is gone (and the spec still wants it);
- duplicate: more objects than one carry the resource's stack and address tags (a create whose answer was
  lost, retried); apply removes the extras;
- unmanaged: an object carrying our ownership label with no entry in the spec or the state.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.capabilities import Discovers
from reconciler.errors import ReconcileError
from reconciler.model import SENSITIVE, UNKNOWN, Action, Change, Plan
from reconciler.registry import Registry
from reconciler.state.records import StateRecord, attributes_differ

KINDS = ("drifted", "pending", "missing", "duplicate", "unmanaged")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriftItem:
    address: str
    type: str
    kind: str  # one of KINDS
    action: str  # what apply would do about it
    attributes: tuple[dict[str, Any], ...] = ()  # {"name", "last_applied"/"before", "actual", "wanted"}
    target: str = ""

    def signature(self) -> str:
        body = json.dumps([self.address, self.kind, list(self.attributes)], sort_keys=True, default=str)
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class DriftReport:
    items: tuple[DriftItem, ...]
    errors: Mapping[str, str] = field(default_factory=dict)
    checked: int = 0

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(KINDS, 0)
        for item in self.items:
            out[item.kind] += 1
        return out

    @property
    def found(self) -> bool:
        return bool(self.items)


def spec_changed(change: Change, record: StateRecord, secret: Iterable[str],
                 digested: Iterable[str] = ()) -> bool:
    """Whether the spec now asks for something else than what was last applied."""
    return change.resource is None or attributes_differ(record, change.resource, secret, digested)


def classify(plan: Plan, records: Mapping[str, StateRecord], registry: Registry,
             unmanaged: Iterable[tuple[str, str, str]] = ()) -> DriftReport:
    """`unmanaged`: (address, type, target) of labelled objects found on engines or clouds."""
    items: list[DriftItem] = []
    for change in plan.changes:
        if not change.actionable or change.address in plan.failures:
            continue
        module = registry.module(change.type)
        record = records.get(change.address)
        target = change.resource.target if change.resource else ""
        if change.pruned or record is None or change.moved_from:
            kind = "pending"
        else:
            secret = module.secret_attributes(change.resource) if change.resource else frozenset()
            if spec_changed(change, record, secret, module.digest_attributes):
                kind = "pending"
            elif change.observed is None and change.action is Action.CREATE:
                kind = "missing"
            elif any(d.name == "duplicates" for d in change.diffs):
                kind = "duplicate"
            else:
                kind = "drifted"
        attributes = tuple(
            {"name": d.name, "actual": SENSITIVE if d.sensitive and d.before is not None else d.before,
             "wanted": SENSITIVE if d.sensitive else (None if d.after is UNKNOWN else d.after)}
            for d in change.diffs
        )
        items.append(DriftItem(change.address, change.type, kind, change.action.value, attributes, target))
    known = {c.address for c in plan.changes}
    for address, type_name, target in unmanaged:
        if address not in known and address not in records:
            items.append(DriftItem(address, type_name, "unmanaged", "none", (), target))
    return DriftReport(tuple(items), dict(plan.failures), checked=len(plan.changes))


def new_since(report: DriftReport, earlier: Mapping[str, Any]) -> DriftReport:
    """Only the items that were not in an earlier run's report (same address, kind and details)."""
    seen = {item.get("signature") for item in earlier.get("items", [])}
    return DriftReport(tuple(i for i in report.items if i.signature() not in seen), report.errors, report.checked)


def discover_unmanaged(types_and_targets: Iterable[tuple[str, str]], registry: Registry,
                       targets: Any) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """Ask each (type, target) in use for the objects carrying this stack's identity: (address, type, target)."""
    found: list[tuple[str, str, str]] = []
    errors: dict[str, str] = {}
    for type_name, target_name in sorted(set(types_and_targets)):
        module = registry.module(type_name)
        if not isinstance(module, Discovers):
            continue
        try:
            for address in module.discover(targets.get(module.family, target_name)):
                if address.startswith(type_name + "."):
                    found.append((address, type_name, target_name))
        except ReconcileError as exc:  # reported; the rest is still checked
            errors[f"{type_name} on {target_name}"] = str(exc)
        except Exception as exc:  # noqa: BLE001 - reported with its traceback in the log; the rest is checked
            log.warning("discovery of %s on %s failed", type_name, target_name, exc_info=True)
            errors[f"{type_name} on {target_name}"] = f"{type(exc).__name__}: {exc}"
    return found, errors
