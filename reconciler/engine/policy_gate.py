"""The policy gate: a plan in Terraform's plan-JSON shape, judged by the spec's and the command line's
Rego policies; each deny is a blocker (nothing is applied), each warn a warning."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.diagnostics import SourceDocument
from reconciler.model import Plan
from reconciler.registry import Registry
from reconciler.spec.validate import Validated


def policy_paths(validated: Validated, given: Sequence[str | Path] = ()) -> list[Path]:
    """The spec's `policy:` paths (relative to its file), then `given` (--policy), in that order."""
    base = Path(validated.spec.document.base_dir)
    block = validated.spec.document.data.get("policy") or []
    written = [str(p.get("path")) for p in block if isinstance(p, dict) and p.get("path")] \
        if isinstance(block, list) else []
    return [base / p for p in written] + [Path(p) for p in given]


def terraform_form(plan: Plan, document: SourceDocument, registry: Registry,
                   addresses: dict[str, str] | None = None) -> dict[str, Any]:
    """The plan in Terraform's plan-JSON shape; `addresses` is filled with each Terraform address's
    reconcile address."""
    from reconciler.policy.terraform_plan import terraform_plan

    def written(resource: Any) -> Mapping[str, Any]:
        """The resource's entry as the spec writes it (its `${…}` references unresolved)."""
        node: Any = document.data
        for part in resource.json_path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return {}
        if not isinstance(node, Mapping) or node.get("type") != resource.type or \
                str(node.get("name", "")).split("[")[0] != resource.name.split("[")[0]:
            return {}  # a component's resource: its entry is in the component's own file
        return node

    return terraform_plan(plan, registry.module, addresses, written)


def judged(plan: Plan, paths: Sequence[Path], document: SourceDocument, registry: Registry) -> Plan:
    """The plan with its policies' verdicts (none without policies)."""
    if not paths:
        return plan
    from reconciler.policy.rego import evaluate, policy_files

    ours: dict[str, str] = {}
    form = terraform_form(plan, document, registry, ours)
    findings = [dataclasses.replace(f, address=ours.get(f.address, f.address)) if f.address else f
                for f in evaluate(policy_files(paths), form)]
    denied = tuple(f"policy: {f}" for f in findings if f.kind == "deny")
    warned = tuple(f"policy: {f}" for f in findings if f.kind == "warn")
    return dataclasses.replace(plan, blockers=plan.blockers + denied, warnings=plan.warnings + warned,
                               policy=tuple(findings))
