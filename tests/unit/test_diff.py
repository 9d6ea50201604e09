from typing import ClassVar

from reconciler.engine.diff import change_for
from reconciler.model import UNKNOWN, Action, Lifecycle, Observed, Resource
from reconciler.module import Module


class Thing(Module):
    type_name = "thing"
    sensitive: ClassVar[frozenset[str]] = frozenset({"password"})
    requires_replace: ClassVar[frozenset[str]] = frozenset({"zone"})


def res(**attrs: object) -> Resource:
    return Resource("thing.a", "thing", "a", "local", attrs)


def test_engine_chooses_the_action() -> None:
    m = Thing()
    assert change_for(m, res(size=1), None).action is Action.CREATE
    assert change_for(m, res(size=1), Observed({"size": 1, "extra": "engine default"})).action is Action.NOOP
    update = change_for(m, res(size=2), Observed({"size": 1}))
    assert update.action is Action.UPDATE and update.diffs[0].before == 1
    replace = change_for(m, res(size=2, zone="b"), Observed({"size": 1, "zone": "a"}))
    assert replace.action is Action.REPLACE and replace.replace_causes == ("zone",)
    assert change_for(m, res(state="absent"), Observed({})).action is Action.DELETE
    assert change_for(m, res(state="absent"), None).action is Action.NOOP


def test_unknown_secret_and_ignored_values() -> None:
    m = Thing()
    change = change_for(m, res(size=UNKNOWN, password="s3cret"), Observed({"size": 1, "password": "old"}))
    by_name = {d.name: d for d in change.diffs}
    assert by_name["size"].after is UNKNOWN and by_name["password"].sensitive
    ignoring = Resource("thing.a", "thing", "a", "local", {"size": 2}, lifecycle=Lifecycle(ignore_changes=frozenset({"size"})))
    assert change_for(m, ignoring, Observed({"size": 1})).action is Action.NOOP


def test_long_changes_report_progress() -> None:
    import io
    import time as clock

    from reconciler.model import Change, Result, Status
    from reconciler.report.progress import ApplyReporter

    out = io.StringIO()
    reporter = ApplyReporter(1, out=out, every=0.05)
    change = Change("aws.rds_instance.db", "aws.rds_instance", Action.CREATE)
    reporter.started(change)
    clock.sleep(0.2)
    reporter.finished(Result("aws.rds_instance.db", Action.CREATE, Status.OK, seconds=0.2))
    reporter.close()
    text = out.getvalue()
    assert "aws.rds_instance.db: Creating..." in text and "aws.rds_instance.db: Still creating... [" in text
    assert text.rstrip().endswith("Creation complete after 0.2s")
