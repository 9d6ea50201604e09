"""JSON documents compared by meaning, each by its own rules, and always sent as written.

- IAM policies (`normalize_policy`): key order, one-element lists and statement order do not matter: for
  comparing only; what is sent is the document as the spec wrote it (`as_written`).
- Other JSON documents (SNS filter and delivery policies, SQS redrive and access policies, event patterns):
  `json_value`: key order does not matter, list order does (a numeric range is an ordered list).
- `scalar_text`: a value AWS keeps as a string (Lambda environment variables, tags) by YAML's rules:
  `true` is "true", `1.5` is "1.5" (Python's str() would give "True")."""

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


def json_value(document: Any) -> Any:
    """A JSON document (or its text) as a value: objects compare without regard to key order, lists in order.
    An empty object is no document."""
    if isinstance(document, str):
        if not document.strip():
            return None
        try:
            document = json.loads(document)
        except ValueError:
            return document
    return None if document in ({}, None) else document


def as_written(document: Any) -> str:
    """The text to send for a document the spec wrote as YAML or as a JSON string: unchanged in meaning or
    order (never normalised)."""
    return document if isinstance(document, str) else json.dumps(document)


def text_map(mapping: Any) -> dict[str, str]:
    """A map of names to scalars (tags, dimensions, environment) as the strings YAML would write."""
    return {str(k): scalar_text(v) for k, v in (mapping or {}).items()}


def scalar_text(value: Any) -> str:
    """A scalar as YAML writes it, for an API that keeps strings: true -> "true", None -> ""."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


FILTER_OPERATORS = frozenset({"prefix", "suffix", "anything-but", "numeric", "exists", "cidr", "equals-ignore-case",
                              "wildcard"})
NUMERIC_COMPARISONS = frozenset({"=", "<", "<=", ">", ">="})


def filter_policy_problem(policy: Any, path: str = "filter_policy") -> str | None:
    """What SNS would refuse in a filter policy (its documented grammar), or None: every key names a list of
    values to match (a string, a number, or one operator such as {"numeric": [">=", 0, "<", 100]}), or,
    for a message body, a nested policy."""
    if not isinstance(policy, dict) or not policy:
        return f"{path}: a filter policy is a non-empty map of attribute names to lists of values"
    for key, value in policy.items():
        where = f"{path}.{key}"
        if isinstance(value, dict):
            nested = filter_policy_problem(value, where)
            if nested:
                return nested
            continue
        if not isinstance(value, list) or not value:
            return f"{where}: must be a list of values to match (e.g. [\"a\", \"b\"]), or a nested policy"
        for item in value:
            problem = _filter_value_problem(item, where)
            if problem:
                return problem
    return None


def _filter_value_problem(item: Any, where: str) -> str | None:
    if item is None or isinstance(item, (str, bool)) or (isinstance(item, (int, float)) and not isinstance(item, bool)):
        return None
    if not isinstance(item, dict) or len(item) != 1:
        return f"{where}: {json.dumps(item)} is neither a value nor one operator ({', '.join(sorted(FILTER_OPERATORS))})"
    (operator, operand), = item.items()
    if operator not in FILTER_OPERATORS:
        return (f"{where}: unknown operator {operator!r} (SNS knows {', '.join(sorted(FILTER_OPERATORS))})")
    if operator == "numeric":
        pairs = operand if isinstance(operand, list) else []
        if not pairs or len(pairs) % 2 or len(pairs) > 4 or any(
                op not in NUMERIC_COMPARISONS or isinstance(n, bool) or not isinstance(n, (int, float))
                for op, n in zip(pairs[::2], pairs[1::2], strict=True)):
            return (f"{where}: numeric takes one or two comparisons and their numbers, e.g. "
                    f"[\">=\", 100, \"<\", 500], not {json.dumps(operand)}")
    if operator == "exists" and not isinstance(operand, bool):
        return f"{where}: exists takes true or false, not {json.dumps(operand)}"
    return None
