"""IAM-style JSON policies compared by meaning, not text: key order, one-element lists and statement
order do not matter."""

from __future__ import annotations

import json
from typing import Any


def normalize_policy(policy: Any) -> Any:
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return policy
    return _normal(policy)


def _normal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        items = [_normal(v) for v in value]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return value
