"""Property-based fuzzing of encrypted state and saved plans (Hypothesis): any damage to an envelope — a
field of the wrong type, altered, missing or cut short, random bytes after the magic — ends in one clear
StateError or ReconcileError (the CLI's one-line `Error:`), never another exception, and a damaged state
file is never written over."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import ReconcileError, StateError
from reconciler.key_source import PASSPHRASE, Sealing
from reconciler.state.planfile import read_plan_file
from reconciler.state.sealed_store import SealedStateStore
from reconciler.state.sealing import seal

EXAMPLES = int(os.environ.get("RECONCILE_FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, deadline=30_000, suppress_health_check=list(HealthCheck))
os.environ.setdefault("RECONCILE_FUZZ_PASSPHRASE", "fuzz")
SEALING = Sealing(PASSPHRASE, passphrase_env="RECONCILE_FUZZ_PASSPHRASE")
PLAN = json.loads(seal(b'{"kind": "reconcile-plan"}', SEALING, "plan"))
STATE = json.loads(seal(b"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);", SEALING, "state"))
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=60),
                   st.sampled_from(["", "AAAA", "====", "passphrase", "aws_kms", "plan", "state", "run"]),
                   st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))


def damaged(base: dict[str, Any]) -> Any:
    keys = sorted(base) + ["kdf.n", "kdf.salt", "kdf.name"]

    def apply(changes: list[tuple[str, Any, bool]], cut: int | None) -> bytes:
        body = json.loads(json.dumps(base))
        for key, value, drop in changes:
            holder, _, leaf = (body["kdf"], None, key[4:]) if key.startswith("kdf.") and isinstance(
                body.get("kdf"), dict) else (body, None, key)
            if drop:
                holder.pop(leaf, None)
            else:
                holder[leaf] = value
        text = json.dumps(body).encode()
        return text[:cut] if cut is not None else text

    return st.builds(apply, st.lists(st.tuples(st.sampled_from(keys), VALUES, st.booleans()), max_size=3),
                     st.one_of(st.none(), st.integers(0, 400)))


RANDOM = st.builds(lambda tail: b'{"reconcile_sealed": 1' + tail, st.binary(max_size=200))


@FUZZ
@given(st.one_of(damaged(PLAN), RANDOM))
def test_a_damaged_sealed_plan_is_one_clear_error(body: bytes) -> None:
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / "saved.plan"
        path.write_bytes(body)
        try:
            read_plan_file(path)
        except ReconcileError:
            pass


@FUZZ
@given(st.one_of(damaged(STATE), RANDOM))
def test_a_damaged_sealed_state_is_one_clear_error_and_is_not_written(body: bytes) -> None:
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / "state.db"
        path.write_bytes(body)
        for writable in (False, True):
            try:
                SealedStateStore(path, writable=writable, sealing=SEALING).close()
            except StateError:
                assert path.read_bytes() == body
