"""Both state stores behind one Protocol (reconciler.state.interface.StateStore): the local SQLite file (plain
and sealed) and S3 over an in-memory fake (tests/unit/fakes/s3.py). The moto end-to-end tests
(tests/e2e/test_team_state.py) cover the same stores over HTTP."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.errors import StateConflict, StateError, StateLockedError
from reconciler.key_source import PASSPHRASE, Sealing
from reconciler.model import Observed, Resource, StackId
from reconciler.state.interface import StateStore
from reconciler.state.records import FOUND
from reconciler.state.s3 import S3StateStore
from reconciler.state.s3_bucket import S3Config
from reconciler.state.s3_locks import S3Lock
from reconciler.state.sealed_store import SealedStateStore
from reconciler.state.store import SqliteStateStore
from tests.unit.fakes.s3 import FakeS3

Opener = Callable[[bool], StateStore]


def resource(name: str, **attrs: object) -> Resource:
    return Resource(f"file.{name}", "file", name, "local", {"path": f"/tmp/{name}", **attrs})


@pytest.fixture(params=["sqlite", "sealed", "s3"])
def opener(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Opener]:
    if request.param == "sqlite":
        yield lambda writable: SqliteStateStore(tmp_path / "state.db", writable=writable)
    elif request.param == "sealed":
        monkeypatch.setenv("STATE_KEY", "correct horse battery staple")
        sealing = Sealing(PASSPHRASE, passphrase_env="STATE_KEY")
        yield lambda writable: SealedStateStore(tmp_path / "state.db", writable=writable, sealing=sealing)
    else:
        s3 = FakeS3()
        config = S3Config(bucket="state", key="stacks/web.json")
        yield lambda writable: S3StateStore(config, writable=writable, errored_dir=tmp_path, client=s3)


def test_a_state_read_before_any_write_is_new_and_empty(opener: Opener) -> None:
    store = opener(False)
    assert store.is_new and store.records() == {} and store.serial == 0 and store.stack is None
    store.close()
    again = opener(False)
    assert again.is_new  # reading created nothing
    again.close()


def test_what_one_writer_saves_the_next_reader_sees(opener: Opener) -> None:
    store = opener(True)
    store.set_stack(StackId("web", "default"))
    store.save(resource("a", content="x"), Observed({"size": 1}, identity={"inode": 7}), secret=())
    store.save(resource("b", password="hunter2"), Observed({"password": "hunter2"}), secret={"password"},
               origin=FOUND, depends_on=["file.a"])
    store.bump_serial()
    store.set_outputs({"url": "http://127.0.0.1"})
    store.close()

    reader = opener(False)
    records = reader.records()
    assert set(records) == {"file.a", "file.b"} and reader.serial == 1
    assert reader.stack == StackId("web", "default") and reader.outputs == {"url": "http://127.0.0.1"}
    assert records["file.a"].identity == {"inode": 7} and records["file.b"].origin == FOUND
    assert records["file.b"].depends_on == ("file.a",)
    assert "hunter2" not in json.dumps(records["file.b"].to_json())  # a secret is kept as a salted hash only
    reader.close()


def test_moving_and_forgetting_records(opener: Opener) -> None:
    store = opener(True)
    store.save(resource("a"), Observed({}), secret=())
    assert store.move("file.a", "file.renamed") and not store.move("file.a", "file.other")
    assert store.get("file.renamed") is not None and store.get("file.a") is None
    assert store.forget("file.renamed") and not store.forget("file.renamed")
    store.close()
    reader = opener(False)
    assert reader.records() == {}
    reader.close()


def test_the_journal_keeps_the_intents_of_changes_that_did_not_settle(opener: Opener) -> None:
    store = opener(True)
    store.journal_begin({"file.a": {"action": "create"}, "file.b": {"action": "update"}})
    store.close()
    reader = opener(True)
    assert set(reader.journal) == {"file.a", "file.b"}
    reader.journal_end(keep=["file.b"])
    reader.close()
    last = opener(False)
    assert set(last.journal) == {"file.b"}
    last.close()


def test_run_history_is_kept_beside_the_state(opener: Opener) -> None:
    store = opener(True)
    first = store.start_run("apply", "spec.yaml")
    store.finish_run(first, "ok", {"changed": 2})
    second = store.start_run("drift", "spec.yaml")
    store.finish_run(second, "drifted", {"drifted": 1})
    store.close()
    reader = opener(False)
    runs = reader.runs()
    assert [r.status for r in runs][:2] == ["drifted", "ok"] or [r.status for r in runs][:2] == ["ok", "drifted"]
    assert {r.kind for r in reader.runs(kind="drift")} == {"drift"}
    assert next(r for r in runs if r.status == "ok").summary == {"changed": 2}
    reader.close()


def test_a_read_only_store_refuses_writes(opener: Opener) -> None:
    writer = opener(True)
    writer.save(resource("a"), Observed({}), secret=())
    writer.close()
    reader = opener(False)
    with pytest.raises(Exception):  # noqa: B017, PT011 - each store refuses in its own words
        reader.save(resource("b"), Observed({}), secret=())
        reader.flush()
    reader.close()


# -- local ---------------------------------------------------------------------------------------------
def test_the_local_state_is_private_and_backed_up(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        store.save(resource("a"), Observed({}), secret=())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with SqliteStateStore(path) as store:
        store.save(resource("b"), Observed({}), secret=())
    versions = SqliteStateStore.versions_of(path)
    assert versions and versions[0].current
    older = [v for v in versions if not v.current]
    assert older
    SqliteStateStore.restore(path, older[-1].version)
    with SqliteStateStore(path, writable=False) as store:
        assert "file.b" not in store.records()


def test_a_plain_state_is_not_encrypted_in_place_by_the_plain_store(tmp_path: Path) -> None:
    with SqliteStateStore(tmp_path / "state.db") as store:
        store.rekey(None)  # plain stays plain: nothing to do
        with pytest.raises(StateError, match="plain state"):
            store.rekey(Sealing(PASSPHRASE, passphrase_env="X"))


# -- S3 --------------------------------------------------------------------------------------------------
CONFIG = S3Config(bucket="state", key="stacks/web.json")


def test_s3_writes_only_over_the_version_it_read(tmp_path: Path) -> None:
    s3 = FakeS3()
    with S3StateStore(CONFIG, writable=True, errored_dir=tmp_path, client=s3) as first:
        first.save(resource("a"), Observed({}), secret=())
    one = S3StateStore(CONFIG, writable=True, errored_dir=tmp_path, client=s3)
    two = S3StateStore(CONFIG, writable=True, errored_dir=tmp_path, client=s3)
    one.save(resource("b"), Observed({}), secret=())
    one.flush()
    two.save(resource("c"), Observed({}), secret=())
    with pytest.raises(StateConflict, match="changed by someone else"):
        two.flush()
    kept = json.loads((tmp_path / "errored.reconcile-state.json").read_text())
    assert "file.c" in json.dumps(kept)  # the refused view is kept for a person to look at
    with S3StateStore(CONFIG, client=s3) as reader:
        assert set(reader.records()) == {"file.a", "file.b"}


def test_s3_a_retried_write_whose_answer_was_lost_is_recognised(tmp_path: Path) -> None:
    s3 = FakeS3()
    store = S3StateStore(CONFIG, writable=True, errored_dir=tmp_path, client=s3)
    store.save(resource("a"), Observed({}), secret=())
    real_put = s3.put_object

    def put_then_lose_the_answer(**args: object) -> dict[str, object]:
        real_put(**args)  # type: ignore[arg-type]
        s3.put_object = real_put  # type: ignore[method-assign]
        return real_put(**args)  # type: ignore[arg-type]  # the retry: If-None-Match now fails

    s3.put_object = put_then_lose_the_answer  # type: ignore[method-assign]
    store.flush()  # no conflict: the document there is exactly this writer's
    store.save(resource("b"), Observed({}), secret=())
    store.flush()  # and the next write replaces the version it landed
    assert "file.b" in S3StateStore(CONFIG, client=s3).records()


def test_s3_history_journal_and_runs_live_under_the_state_key(tmp_path: Path) -> None:
    s3 = FakeS3()
    with S3StateStore(CONFIG, writable=True, errored_dir=tmp_path, client=s3) as store:
        store.journal_begin({"file.a": {"action": "create"}})
        for _ in range(5):  # more runs than one listing page holds
            store.finish_run(store.start_run("drift", "spec"), "ok", {})
    keys = s3.keys()
    assert "stacks/web.json.journal" in keys and len([k for k in keys if k.startswith("stacks/web.json.runs/")]) >= 1
    with S3StateStore(CONFIG, client=s3) as reader:
        assert reader.runs(limit=3) and len(reader.runs(limit=3)) <= 3


def test_s3_versions_and_restore(tmp_path: Path) -> None:
    s3 = FakeS3()
    with S3StateStore(CONFIG, writable=True, errored_dir=tmp_path, client=s3) as store:
        store.save(resource("a"), Observed({}), secret=())
    with S3StateStore(CONFIG, writable=True, errored_dir=tmp_path, client=s3) as store:
        store.save(resource("b"), Observed({}), secret=())
    with S3StateStore(CONFIG, writable=True, errored_dir=tmp_path, client=s3) as store:
        versions = store.versions()
        assert versions[0].current and len(versions) == 2
        store.restore(versions[-1].version)
    with S3StateStore(CONFIG, client=s3) as reader:
        assert set(reader.records()) == {"file.a"} and reader.serial >= 1


def test_s3_without_versioning_says_how_to_turn_it_on(tmp_path: Path) -> None:
    s3 = FakeS3(versioned=False)
    with S3StateStore(CONFIG, writable=True, errored_dir=tmp_path, client=s3) as store:
        store.save(resource("a"), Observed({}), secret=())
        with pytest.raises(StateError, match="put-bucket-versioning"):
            store.versions()


@pytest.mark.parametrize(("code", "said"), [
    ("AccessDenied", "was denied"), ("InvalidAccessKeyId", "was denied"), ("SlowDown", "SlowDown")])
def test_s3_refusals_are_one_line_errors(code: str, said: str) -> None:
    s3 = FakeS3(refuse={"GetObject": code})
    with pytest.raises(StateError, match=said):
        S3StateStore(CONFIG, client=s3)


def test_s3_a_missing_bucket_says_how_to_make_one() -> None:
    with pytest.raises(StateError, match="does not exist"):
        S3StateStore(S3Config(bucket="nowhere", key="k"), client=FakeS3())


def test_s3_damaged_documents_are_named() -> None:
    s3 = FakeS3()
    s3.put_object(Bucket="state", Key=CONFIG.key, Body=b"{not json")
    with pytest.raises(StateError, match="not JSON"):
        S3StateStore(CONFIG, client=s3)
    s3.put_object(Bucket="state", Key=CONFIG.key, Body=b"")
    with pytest.raises(StateError, match="empty"):
        S3StateStore(CONFIG, client=s3)


def test_s3_lock_is_exclusive_and_only_its_id_forces_it() -> None:
    s3 = FakeS3()
    with S3Lock(CONFIG, "apply", client=s3) as held:
        assert held.id is not None
        with pytest.raises(StateLockedError, match="force-unlock"):
            S3Lock(CONFIG, "drift", client=s3).acquire()
        other = S3Lock(CONFIG, "force-unlock", client=s3)
        with pytest.raises(StateError, match="has id"):
            other.force_unlock("not-the-id")
        assert other.force_unlock(held.id)["operation"] == "apply"
        with S3Lock(CONFIG, "next", client=s3):  # free again
            pass
    assert not [k for k in s3.keys() if k.endswith(".lock")]
