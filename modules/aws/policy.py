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


def scalar_text(value: Any) -> str:
    """A scalar as YAML writes it, for an API that keeps strings: true -> "true", None -> ""."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)
