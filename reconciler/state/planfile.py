"""Saved plans (`plan --out FILE`, `apply FILE`): what was planned against, so a stale plan is refused.

The file holds no secret: only hashes of the spec and of what was observed, and the masked changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.engine.plan import Selection
from reconciler.errors import ReconcileError, StalePlanError
from reconciler.model import Plan

KIND = "reconcile-plan"
REQUIRED = {"spec_hash": str, "state_serial": int, "fingerprint": str, "spec_path": str, "state_path": str}


def saved_plan_body(plan_json: Mapping[str, Any], plan: Plan, spec_path: str, state_path: str,
                    selection: Selection, workspace: str) -> dict[str, Any]:
    """The saved plan: the JSON plan plus what `apply FILE` needs to check and redo it."""
    return dict(plan_json) | {
        "kind": KIND,
        "spec_path": str(Path(spec_path).absolute()),
        "state_path": str(Path(state_path).absolute()),
        "workspace": workspace,
        "selection": {"targets": list(selection.targets), "limit": list(selection.limit), "prune": selection.prune,
                      "allow_data_loss": selection.allow_data_loss},
        "observed_hashes": dict(plan.observed_hashes),
    }


def is_plan_file(path: str | Path) -> bool:
    p = Path(path)
    if not p.is_file() or p.suffix in (".yaml", ".yml"):
        return False
    try:
        with open(p, "rb") as fh:
            head = fh.read(4096)
        return head.lstrip().startswith(b"{")
    except OSError:
        return False


def read_plan_file(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReconcileError(f"cannot read saved plan {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ReconcileError(f"{path} is not a saved reconcile plan (make one with `reconcile plan --out FILE`)")
    wrong = [k for k, kind in REQUIRED.items() if not isinstance(data.get(k), kind)]
    if wrong or not isinstance(data.get("selection", {}), dict):
        raise ReconcileError(f"the saved plan {path} is damaged ({', '.join(wrong) or 'selection'} missing or "
                             "malformed); run `reconcile plan --out` again")
    return data


def selection_of(saved: Mapping[str, Any]) -> Selection:
    s = saved.get("selection") or {}
    return Selection(tuple(map(str, s.get("targets", ()))), tuple(map(str, s.get("limit", ()))),
                     bool(s.get("prune", True)), bool(s.get("allow_data_loss", False)))


def check_fresh(saved: Mapping[str, Any], current: Plan) -> None:
    """Refuse a saved plan when the spec, the state or the observed world changed since it was made."""
    if saved["spec_hash"] != current.spec_hash:
        raise StalePlanError("the spec changed since this plan was saved; run `reconcile plan` again")
    if saved["state_serial"] != current.state_serial:
        raise StalePlanError("the state changed since this plan was saved (another apply ran); plan again")
    if current.failures:  # e.g. a host whose key changed: say so, not just "stale"
        first = sorted(current.failures.items())[:3]
        raise StalePlanError("the saved plan cannot be checked: " + "; ".join(f"{a}: {m}" for a, m in first))
    if saved["fingerprint"] != current.fingerprint:
        before, now = saved.get("observed_hashes") or {}, current.observed_hashes
        changed = sorted(a for a in set(before) | set(now) if before.get(a) != now.get(a))
        shown = ", ".join(changed[:5]) + (" …" if len(changed) > 5 else "")
        raise StalePlanError(f"stale plan: the real state changed since it was saved ({shown}); plan again")
