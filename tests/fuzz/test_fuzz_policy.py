"""Property-based fuzzing of Rego policies (Hypothesis): any text as a policy file — mutated real policies,
random Rego-looking lines, bytes — ends in findings or one PolicyError naming the file, never another
exception and never output of regopy's own on the terminal."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.policy.rego import PolicyError, evaluate

EXAMPLES = int(os.environ.get("RECONCILE_FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, deadline=30_000, suppress_health_check=list(HealthCheck))
PLAN = {"resource_changes": [{"address": "file.a", "type": "file", "change": {"actions": ["create"],
                                                                             "after": {"mode": "0666"}}}]}
PIECES = ["package main", "package reconcile.files", "import rego.v1", "deny contains msg if {", "}", "warn[msg] {",
          'msg := "x"', "some r in input.resource_changes", 'r.change.after.mode == "0666"', "x := 1 / 0",
          "deny := true", "default deny := false", 'msg := sprintf("%s", [r.address])', "{{", "not", "every x in [1] {",
          "warn contains {\"msg\": \"m\", \"address\": r.address} if {", "import future.keywords", "# comment", "\x00"]


@FUZZ
@given(st.one_of(st.lists(st.sampled_from(PIECES), max_size=12).map("\n".join), st.text(max_size=300),
                 st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_any_policy_text_is_findings_or_one_clear_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / "p.rego"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            findings = evaluate([path], PLAN)
        except PolicyError as exc:
            assert str(path) in str(exc)
        else:
            assert all(f.kind in ("deny", "warn") for f in findings)
