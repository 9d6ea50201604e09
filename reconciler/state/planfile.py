"""Saved plans (`plan --out FILE`, `apply FILE`): what was planned against, so a stale plan is refused, and
everything its apply needs, so that it applies on its own: the selection (--target, --exclude, --limit,
--no-prune, --allow-data-loss) and the variables given on the command line (--var-file and --var values).

The file is written 0600: like Terraform's, it holds the command line's variable values as given. Changes
and values read from targets are masked; the spec and what was observed are kept as hashes. Its
`terraform_json` is the plan in Terraform's plan-JSON shape for `show --format terraform-json` (values as
the spec and the targets have them, sensitive and ephemeral ones null). With
`state.encryption`, the whole file is sealed with the state's key (reconciler.state.sealing).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcileError, StalePlanError
from reconciler.key_source import Sealing
from reconciler.model import Plan, Selection
from reconciler.state.sealing import is_sealed, seal, unseal

KIND = "reconcile-plan"
REQUIRED = {"spec_hash": str, "state_serial": int, "fingerprint": str, "spec_path": str, "state_path": str}


def saved_plan_body(plan_json: Mapping[str, Any], plan: Plan, spec_path: str, state_path: str,
                    selection: Selection, workspace: str,
                    variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The saved plan: the JSON plan plus what `apply FILE` needs to check and redo it. `variables`: the
    values the command line gave (--var-file, then --var), applied again as they were."""
    return dict(plan_json) | {
        "kind": KIND,
        "spec_path": str(Path(spec_path).absolute()),
        "state_path": str(Path(state_path).absolute()),
        "workspace": workspace,
        "selection": selection.to_json(),
        "variables": dict(variables or {}),
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


def sealed_plan(text: str, sealing: Sealing | None) -> str:
    """The saved plan as written: sealed with the state's key when the state is encrypted."""
    return seal(text.encode(), sealing, "plan").decode() + "\n" if sealing is not None else text


def read_plan_file(path: str | Path) -> dict[str, Any]:
    try:
        body = Path(path).read_bytes()
        if is_sealed(body):
            body = unseal(body, f"the saved plan {path}", "plan")
        data = json.loads(body.decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise ReconcileError(f"cannot read saved plan {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ReconcileError(f"{path} is not a saved reconcile plan (make one with `reconcile plan --out FILE`)")
    wrong = [k for k, kind in REQUIRED.items() if not isinstance(data.get(k), kind)]
    wrong += [k for k in ("selection", "variables") if not isinstance(data.get(k, {}), dict)]
    if wrong:
        raise ReconcileError(f"the saved plan {path} is damaged ({', '.join(wrong)} missing or malformed); run "
                             "`reconcile plan --out` again")
    return data


def selection_of(saved: Mapping[str, Any]) -> Selection:
    try:
        return Selection.from_json(saved.get("selection") or {})
    except (TypeError, ValueError):
        raise ReconcileError("the saved plan's selection is damaged; run `reconcile plan --out` again") from None


def variables_of(saved: Mapping[str, Any]) -> dict[str, Any]:
    """The command line's variable values the plan was made with."""
    return dict(saved.get("variables") or {})


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
