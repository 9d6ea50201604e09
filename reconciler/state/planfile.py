"""Saved plans (`plan --out FILE`, `apply FILE`): what was planned against, so a stale plan is refused.

The file holds no secret: only hashes of the spec and of what was observed, and the masked changes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from reconciler.engine.plan import Selection
from reconciler.errors import ReconcileError, StalePlanError
from reconciler.model import Plan
from reconciler.report.plan_text import plan_to_json

KIND = "reconcile-plan"


def write_plan_file(path: str | Path, plan: Plan, spec_path: str, state_path: str, selection: Selection) -> None:
    body = plan_to_json(plan) | {
        "kind": KIND,
        "spec_path": str(Path(spec_path).absolute()),
        "state_path": str(Path(state_path).absolute()),
        "selection": {"targets": list(selection.targets), "limit": list(selection.limit), "prune": selection.prune,
                      "allow_data_loss": selection.allow_data_loss},
        "observed_hashes": dict(plan.observed_hashes),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(body, fh, indent=2)
        fh.write("\n")


def is_plan_file(path: str | Path) -> bool:
    p = Path(path)
    if not p.is_file() or p.suffix in (".yaml", ".yml"):
        return False
    try:
        with open(p, "rb") as fh:
            head = fh.read(4096)
        return head.lstrip().startswith(b"{") and KIND.encode() in Path(p).read_bytes()
    except OSError:
        return False


def read_plan_file(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ReconcileError(f"cannot read saved plan {path}: {exc}") from exc
    if data.get("kind") != KIND:
        raise ReconcileError(f"{path} is not a saved reconcile plan")
    return data


def selection_of(saved: dict[str, Any]) -> Selection:
    s = saved.get("selection") or {}
    return Selection(tuple(s.get("targets", ())), tuple(s.get("limit", ())), bool(s.get("prune", True)),
                     bool(s.get("allow_data_loss", False)))


def check_fresh(saved: dict[str, Any], current: Plan) -> None:
    """Refuse a saved plan when the spec, the state or the observed world changed since it was made."""
    if saved["spec_hash"] != current.spec_hash:
        raise StalePlanError("the spec changed since this plan was saved; run `reconcile plan` again")
    if saved["state_serial"] != current.state_serial:
        raise StalePlanError("the state changed since this plan was saved (another apply ran); plan again")
    if saved["fingerprint"] != current.fingerprint:
        before, now = saved.get("observed_hashes", {}), current.observed_hashes
        changed = sorted(a for a in set(before) | set(now) if before.get(a) != now.get(a))
        shown = ", ".join(changed[:5]) + (" …" if len(changed) > 5 else "")
        raise StalePlanError(f"stale plan: the real state changed since it was saved ({shown}); plan again")
