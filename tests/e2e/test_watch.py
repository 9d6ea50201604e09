"""`reconcile watch` against real things: local files, two sshd hosts, moto (resources and an S3 state), webhooks
on 127.0.0.1, metrics read by prometheus_client's parser, the dashboard in headless Chromium."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.state.lock import StateLock
from tests.conftest import Cli, SSHFleet, state_path, write
from tests.e2e.test_drift import Hook
from tests.e2e.test_html_report import browse, console_errors

TOKEN = "watch-token-0123456789"


class Watch:
    """A `reconcile watch` process, its output read as it comes, its HTTP side found from its first line."""

    def __init__(self, cli: Cli, *args: str) -> None:
        self.proc = cli.popen("watch", *args)
        self.lines: list[str] = []
        self.errors: list[str] = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.errors), daemon=True).start()
        self.url = ""
        if "off" not in args:
            line = self.wait_for(lambda: next((x for x in self.lines if x.startswith("Serving")), None))
            self.url = line.split()[1].rstrip("/")

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_for(self, check: Callable[[], Any], timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            assert self.proc.poll() is None, f"watch exited {self.proc.returncode}: {self.lines} {self.errors}"
            time.sleep(0.1)
        raise AssertionError(f"timed out; output: {self.lines} {self.errors}")

    def runs(self) -> list[str]:
        return [line for line in self.lines if line.startswith("run ")]

    def get(self, path: str) -> tuple[int, str]:
        return request(self.url + path)

    def status(self) -> dict[str, Any]:
        return json.loads(self.get("/api/status")[1])

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


def request(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook(fail_first=2)  # the first deliveries fail (503): retried with backoff, never repeated
    yield receiver
    receiver.close()


def events(hook: Hook) -> list[tuple[str, str]]:
    return [(b["event"], b["resource"]) for b in hook.bodies]


def local_spec(spec_dir: Path, out: Path, max_changes: int = 5) -> None:
    write(spec_dir / "site.yaml", f"""name: watched
watch: {{interval: 1h, max_changes: {max_changes}}}
resources:
  - {{type: file, name: auto, path: "{out}/auto", content: "as specified\\n", drift: {{remediate: auto, every: 1s}}}}
  - {{type: file, name: watched, path: "{out}/watched", content: "report only\\n", drift: {{every: 1s}}}}
  - {{type: file, name: pair_a, path: "{out}/pair_a", content: "a\\n", drift: {{remediate: auto, every: 1s}}}}
  - {{type: file, name: pair_b, path: "{out}/pair_b", content: "b\\n", drift: {{remediate: auto, every: 1s}}}}
  - {{type: file, name: secret, path: "{out}/secret", content: "hunter2-is-secret\\n", sensitive: [content],
      drift: {{remediate: auto, every: 1s}}}}
""")


def test_local_watch_repairs_reports_holds_and_tells_once(cli: Cli, spec_dir: Path, tmp_path: Path,
                                                         hook: Hook) -> None:
    out = tmp_path / "out"
    local_spec(spec_dir, out, max_changes=2)
    cli("apply", "--auto-approve", "spec", check=0)
    cli.env["WATCH_TOKEN"] = TOKEN
    watch = Watch(cli, "spec", "--listen", "127.0.0.1:0", "--notify", hook.url, "--token-env", "WATCH_TOKEN")
    try:
        watch.wait_for(lambda: watch.runs())
        assert watch.runs()[0] == "run 1: clean"

        # drift: one resource repaired automatically, one reported only; each said once
        (out / "auto").write_text("edited by hand\n")
        (out / "watched").write_text("edited by hand\n")
        (out / "secret").write_text("hunter3-by-hand\n")
        watch.wait_for(lambda: (out / "auto").read_text() == "as specified\n"
                       and (out / "secret").read_text() == "hunter2-is-secret\n")
        watch.wait_for(lambda: ("resolved", "file.secret") in events(hook) and ("resolved", "file.auto") in events(hook))
        assert (out / "watched").read_text() == "edited by hand\n"  # report only: never repaired
        count = len(watch.runs())
        watch.wait_for(lambda: len(watch.runs()) >= count + 3)  # three more runs: nothing is said again
        assert sorted(events(hook)) == sorted([("drift", "file.auto"), ("drift", "file.watched"),
                                               ("drift", "file.secret"), ("resolved", "file.auto"),
                                               ("resolved", "file.secret")])
        drift = next(b for b in hook.bodies if b["resource"] == "file.watched" and b["event"] == "drift")
        assert drift["class"] == "drifted" and drift["attributes"] == ["content"] and "file.watched" in drift["text"]
        assert drift["report"]["items"][0]["address"] == "file.watched"
        assert not any("hunter" in json.dumps(b) for b in hook.bodies)  # secrets never leave
        status = watch.status()
        assert [(d["address"], d["class"], d["remediate"]) for d in status["drift"]] == [
            ("file.watched", "drifted", "report")]
        assert "content" in status["drift"][0]["why"]

        # fixed by hand: resolved, said once
        (out / "watched").write_text("report only\n")
        watch.wait_for(lambda: ("resolved", "file.watched") in events(hook))
        assert next(b for b in hook.bodies if b["event"] == "resolved" and b["resource"] == "file.watched")[
            "resolved_by"] == "outside"

        # blast radius: three changes with max_changes 2 are held, applied by nobody, counted
        for name in ("pair_a", "pair_b", "auto"):
            (out / name).write_text("changed\n")
        watch.wait_for(lambda: watch.status()["held"])
        time.sleep(2)
        assert all((out / name).read_text() == "changed\n" for name in ("pair_a", "pair_b", "auto"))
        held = watch.status()["held"][0]
        assert sorted(held["addresses"]) == ["file.auto", "file.pair_a", "file.pair_b"]
        assert "max_changes (2)" in held["why"]

        # metrics, in Prometheus's text format
        code, text = watch.get("/metrics")
        assert code == 200
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(text) for s in family.samples}
        assert samples[("reconcile_resources", ())] == 5
        assert samples[("reconcile_drift_resources", (("class", "drifted"),))] == 3
        assert samples[("reconcile_runs_total", (("result", "remediated"),))] >= 1
        assert samples[("reconcile_runs_total", (("result", "held"),))] >= 1
        assert samples[("reconcile_runs_total", (("result", "clean"),))] >= 1
        assert samples[("reconcile_remediations_total", ())] == 2
        assert samples[("reconcile_last_run_timestamp_seconds", ())] > time.time() - 60
        assert samples[("reconcile_run_duration_seconds_count", ())] == len(watch.runs())

        # POST /run: a token is required; with it, a full run starts now (the interval is an hour)
        assert request(watch.url + "/run", "POST")[0] == 401
        assert request(watch.url + "/run", "POST", {"Authorization": "Bearer wrong"})[0] == 401
        before = len(watch.status()["runs"])
        assert request(watch.url + "/run", "POST", {"Authorization": f"Bearer {TOKEN}"})[0] == 202
        watch.wait_for(lambda: any(not r["partial"] and r["run"] > before for r in watch.status()["runs"]))

        # nothing else does anything
        assert watch.get("/nothing")[0] == 404
        assert request(watch.url + "/run")[0] == 405
        assert request(watch.url + "/metrics", "POST", {"Authorization": f"Bearer {TOKEN}"})[0] == 405
        assert request(watch.url + "/", "DELETE")[0] == 405

        # the dashboard, in a real browser: the drift now, held remediations, the runs
        shown = browse(watch.url + "/", "--dump-dom")
        assert shown.returncode == 0, shown.stderr
        assert not console_errors(shown.stderr)
        assert 'data-address="file.pair_a"' in shown.stdout and "Held remediations" in shown.stdout
        assert "hunter" not in shown.stdout and TOKEN not in shown.stdout
    finally:
        rc = watch.stop()
    assert rc == 0 and watch.lines[-1] == "Stopped.", watch.errors
    assert not any("Traceback" in line for line in watch.errors)


def test_a_failed_run_is_recorded_and_the_watch_goes_on(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    local_spec(spec_dir, out)
    cli("apply", "--auto-approve", "spec", check=0)
    watch = Watch(cli, "spec", "--listen", "127.0.0.1:0", "--interval", "1s")
    try:
        watch.wait_for(lambda: watch.runs())
        good = (spec_dir / "site.yaml").read_text()
        (spec_dir / "site.yaml").write_text(good + "  - {type: file, name: broken\n")  # a person's typo
        watch.wait_for(lambda: any(r["result"] == "failed" for r in watch.status()["runs"]))
        (spec_dir / "site.yaml").write_text(good)
        (out / "auto").write_text("edited\n")
        watch.wait_for(lambda: (out / "auto").read_text() == "as specified\n")
        assert any("failed" in e and "site.yaml" in e for e in watch.errors)
    finally:
        assert watch.stop() == 0


def test_sigterm_in_the_middle_of_a_remediation(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    files = "".join(f'  - {{type: file, name: f{i}, path: "{out}/f{i}", content: "{i}\\n", '
                    f"drift: {{remediate: auto}}}}\n" for i in range(150))
    write(spec_dir / "site.yaml", f"watch: {{interval: 1s, max_changes: 1000}}\nresources:\n{files}")
    cli("apply", "--auto-approve", "spec", check=0)
    watch = Watch(cli, "spec", "--listen", "off")
    watch.wait_for(lambda: watch.runs())
    for i in range(150):
        (out / f"f{i}").write_text("drifted\n")
    watch.wait_for(lambda: any((out / f"f{i}").read_text() != "drifted\n" for i in range(150)), timeout=120)
    assert watch.stop() == 0  # the step under way finishes, the lock is released
    lock = StateLock(state_path(spec_dir))
    lock.acquire()
    lock.release()
    cli("apply", "--auto-approve", "spec", check=0)  # a rerun converges
    assert all((out / f"f{i}").read_text() == f"{i}\n" for i in range(150))
    assert "No changes" in cli("plan", "spec", check=0).out


def test_watch_once_on_two_ssh_hosts(cli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    hosts = ssh_hosts.hosts[:2]
    write(spec_dir / "site.yaml", ssh_hosts.inventory() + f"""resources:
  - {{type: file, name: motd, on: [h0, h1], path: /tmp/{uid}-motd, content: "managed\\n", drift: {{remediate: auto}}}}
  - {{type: file, name: note, on: [h0, h1], path: /tmp/{uid}-note, content: "note\\n"}}
""")
    cli("apply", "--auto-approve", "spec", check=0)
    assert cli("watch", "--once", "spec").rc == 0
    for h in hosts:
        h.container.exec_run(["sh", "-c", f"echo changed > /tmp/{uid}-motd; echo changed > /tmp/{uid}-note"])
    run = cli("watch", "--once", "spec")
    assert run.rc == 2, run.text  # the notes' drift is reported, not repaired
    assert "repaired file.motd[h0], file.motd[h1]" in run.out
    for h in hosts:
        assert h.container.exec_run(["cat", f"/tmp/{uid}-motd"]).output == b"managed\n"
        assert h.container.exec_run(["cat", f"/tmp/{uid}-note"]).output == b"changed\n"


def test_watch_once_on_a_docker_engine(cli: Cli, spec_dir: Path, uid: str, docker_client: Any, docker_url: str,
                                       busybox: str, named_stack: str) -> None:
    scli = cli
    scli.env["DOCKER_HOST"] = docker_url
    write(spec_dir / "site.yaml", f"""resources:
  - {{type: docker.container, name: {uid}-app, image: "{busybox}", command: [sleep, "600"], stop_timeout: 1,
      drift: {{remediate: auto}}}}
""")
    scli("apply", "--auto-approve", "spec", check=0)
    assert scli("watch", "--once", "spec").out == "run 1: clean\n"
    docker_client.containers.get(f"{uid}-app").stop(timeout=1)
    run = scli("watch", "--once", "spec")
    assert run.rc == 0 and f"repaired docker.container.{uid}-app" in run.out, run.text
    assert docker_client.containers.get(f"{uid}-app").status == "running"
    docker_client.containers.get(f"{uid}-app").remove(force=True)


def s3_of(cli: Cli, moto: Any) -> Any:
    """The command pointed at moto, and an S3 client of the same endpoint."""
    cli.env.update(moto.env)
    return boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def test_watch_once_on_aws_with_ignored_tag_keys(cli: Cli, spec_dir: Path, moto: Any, uid: str,
                                                named_stack: str) -> None:
    s3 = s3_of(cli, moto)
    bucket = f"watch-{uid}"
    write(spec_dir / "site.yaml", f"""aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
watch: {{max_changes: 3}}
resources:
  - type: aws.s3_bucket
    name: {bucket}
    tags: {{team: data}}
    drift: {{remediate: auto}}
    lifecycle: {{ignore_changes: [tags.LastSeen]}}
""")
    cli("apply", "--auto-approve", "spec", check=0)

    def tags() -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}

    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in
                                                             {**tags(), "LastSeen": "monday"}.items()]})
    assert cli("watch", "--once", "spec").out == "run 1: clean\n"  # an ignored key is not drift
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in
                                                             {**tags(), "team": "ops", "LastSeen": "tuesday"}.items()]})
    run = cli("watch", "--once", "spec")
    assert run.rc == 0 and f"repaired aws.s3_bucket.{bucket}" in run.out, run.text
    assert tags()["team"] == "data" and tags()["LastSeen"] == "tuesday"  # repaired, the world's key kept
    drift = json.loads(cli("drift", "--format", "json", "spec").out)
    assert drift["drift_found"] is False


def test_two_watchers_on_one_s3_state_only_one_remediates(cli: Cli, spec_dir: Path, tmp_path: Path, moto: Any,
                                                          uid: str) -> None:
    s3 = s3_of(cli, moto)
    bucket = f"{uid}-watch-state"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    out = tmp_path / "out"
    files = "".join(f'  - {{type: file, name: f{i}, path: "{out}/f{i}", content: "{i}\\n", '
                    f"drift: {{remediate: auto}}}}\n" for i in range(20))
    write(spec_dir / "site.yaml", f"""name: replicas
state: {{backend: s3, bucket: {bucket}, key: replicas.state, region: us-east-1, endpoint_url: "{moto.url}"}}
watch: {{interval: 1s, max_changes: 50}}
resources:
{files}""")
    cli("apply", "--auto-approve", "spec", check=0)
    replicas = [Watch(cli, "spec", "--listen", "off") for _ in range(2)]
    try:
        for w in replicas:
            w.wait_for(lambda w=w: w.runs())
        for round_ in range(3):
            for i in range(20):
                (out / f"f{i}").write_text(f"drift {round_}\n")
            replicas[0].wait_for(lambda: all((out / f"f{i}").read_text() == f"{i}\n" for i in range(20)))
            time.sleep(2.5)  # both have looked again since
        repaired = [a for w in replicas for line in w.runs() if "repaired " in line
                    for a in line.split("repaired ", 1)[1].split(", ")]
        # each file's drift repaired once per round, by one of them (a round may be seen in two parts: the
        # files are drifted one after another, and a run can look in between)
        assert sorted(repaired) == sorted(f"file.f{i}" for i in range(20) for _ in range(3)), \
            [w.runs() for w in replicas]
    finally:
        codes = [w.stop() for w in replicas]
    assert codes == [0, 0]
    history = cli("history", "--spec", "spec", check=0).out
    assert history.count(" apply ") >= 4, history  # the first apply and the three remediations, each recorded
