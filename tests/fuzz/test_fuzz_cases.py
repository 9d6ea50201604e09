"""Property-based fuzzing of `reconcile test` case files (Hypothesis): any text ends in a case or one
ReconcileError naming the file, never another exception."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import ReconcileError
from reconciler.spectest.cases import read_case

EXAMPLES = int(os.environ.get("RECONCILE_FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, deadline=30_000, suppress_health_check=list(HealthCheck))
LINES = ["hosts:", "  web1: {image: x}", "  web1: [x]", "vars: {port: 1}", "vars: 3", "assert:", "  - {on: web1, command: true}",
         "  - {on: web1, file: /x, mode: 7}", "  - {on: web2, file: /x}", "  - {on: web1, rc: x, command: y}", "  - 3",
         "aws: {endpoint_url: http://127.0.0.1:1}", "aws: 5", "x: 1", "- a", "{", "&a [*a]", "  - {on: web1, absent: 1, file: /y}"]


@FUZZ
@given(st.one_of(st.lists(st.sampled_from(LINES), max_size=10).map("\n".join), st.text(max_size=200)))
def test_any_case_text_is_a_case_or_one_clear_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / "case.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            case = read_case(path)
        except ReconcileError as exc:
            assert str(path) in str(exc) or "cannot read" in str(exc)
        else:
            assert case.hosts and all(check.on in case.hosts for check in case.checks)
