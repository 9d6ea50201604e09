"""JSON documents of the AWS types, as pure logic: filter policies checked by SNS's grammar (AWS's own
examples pass, what SNS refuses is said), scalars as YAML writes them, and documents compared by their
own rules (only IAM's get IAM's normalisation)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from reconcile_modules.aws.policy import (
    filter_policy_problem,
    json_value,
    normalize_policy,
    scalar_text,
    text_map,
)

# From the SNS developer guide: attribute, numeric range, anything-but, prefix, exists, nested (message body)
DOCUMENTED = [
    {"store": ["example_corp"], "price_usd": [{"numeric": [">=", 100, "<", 500]}],
     "event": [{"anything-but": "order_cancelled"}]},
    {"customer_interests": [{"prefix": "bas"}], "encrypted": [False], "source_ip": [{"cidr": "10.0.0.0/24"}]},
    {"store": [{"exists": True}], "customer_interests": [{"equals-ignore-case": "Rugby"}]},
    {"patient": {"age": [{"numeric": [">", 18]}], "name": [{"suffix": "son"}]}},
]


def test_the_documented_filter_policies_pass() -> None:
    for policy in DOCUMENTED:
        assert filter_policy_problem(policy) is None, policy


def test_what_sns_refuses_is_said() -> None:
    assert "list of values" in str(filter_policy_problem({"store": "example_corp"}))
    assert "unknown operator 'begins-with'" in str(filter_policy_problem({"s": [{"begins-with": "x"}]}))
    assert "numeric takes" in str(filter_policy_problem({"p": [{"numeric": [">=", "100"]}]}))
    assert "numeric takes" in str(filter_policy_problem({"p": [{"numeric": ["~", 1]}]}))
    assert "exists takes true or false" in str(filter_policy_problem({"p": [{"exists": "yes"}]}))
    assert "non-empty map" in str(filter_policy_problem({}))


def test_values_follow_yaml_and_only_iam_documents_are_normalised() -> None:
    assert json_value('{"store": ["b", "a"]}') == {"store": ["b", "a"]}  # as written: order is meaning here
    assert json_value("{}") is None  # SNS's answer for a removed filter policy
    iam = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]}
    assert normalize_policy(json.dumps(iam)) == normalize_policy(iam)
    assert text_map({"DEBUG": True, "N": 3, "X": None}) == {"DEBUG": "true", "N": "3", "X": ""}
    assert scalar_text(False) == "false" and scalar_text(1.5) == "1.5"


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                   max_size=4), max_leaves=20)


@given(JSONISH)
def test_any_document_gets_an_answer_never_an_exception(document: Any) -> None:
    problem = filter_policy_problem(document)
    assert problem is None or problem.startswith("filter_policy")
