"""What each change of a plan does to a text it rewrites (a type's text_diffs), masked, batched per type and
target, in parallel."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from reconciler.capabilities import ShowsText
from reconciler.model import Action, Change, Plan
from reconciler.registry import Registry
from reconciler.secrets import Redactor
from reconciler.targets import TargetPool

log = logging.getLogger(__name__)


def content_diffs(plan: Plan, pool: TargetPool, registry: Registry, parallelism: int, context: int,
                  redactor: Redactor) -> dict[str, str]:
    """One batch per (type, target), in parallel, masked; never for a change whose values are sensitive. A
    target that cannot be read costs the plan its diffs there, nothing else."""
    from concurrent.futures import ThreadPoolExecutor

    groups: dict[tuple[str, str], list[Change]] = {}
    for change in plan.changes:
        if change.resource is None or change.deferred or change.action not in (Action.CREATE, Action.UPDATE, Action.REPLACE):
            continue
        if any(d.sensitive for d in change.diffs) or not issubclass(registry.module_class(change.type), ShowsText):
            continue
        groups.setdefault((change.type, change.resource.target), []).append(change)

    def one(key: tuple[str, str]) -> Mapping[str, str]:
        module = registry.module(key[0])
        assert isinstance(module, ShowsText), key[0]
        try:
            return module.text_diffs(pool.get(module.family, key[1]), groups[key], context)
        except Exception as exc:  # noqa: BLE001 - a plan without these diffs, not a failed plan
            log.warning("no content diffs for %s on %s: %s", key[0], key[1], redactor.redact(str(exc)),
                        exc_info=log.isEnabledFor(logging.DEBUG))
            return {}

    if not groups:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(groups)))) as threads:
        found = list(threads.map(one, sorted(groups, key=lambda k: (k[1], k[0]))))
    return {address: redactor.redact(text) for part in found for address, text in part.items()}
