"""Running a case: containers of the case's images stand in for its inventory hosts (reached with `docker
exec`), the spec converges on them with a state of its own in a temporary directory, a second plan must
change nothing, the checks run in the containers, whatever the spec made beyond them (in AWS, on a Docker
engine) is destroyed, and the containers go. Whatever the Docker engine still holds of the run afterwards is
reported as left over."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.engine.session import Session
from reconciler.errors import ReconcileError
from reconciler.inventory import Host
from reconciler.model import Selection, Status
from reconciler.spec.variables import VarOverrides
from reconciler.spectest.cases import Case, Check

log = logging.getLogger(__name__)
LABEL = "reconcile.test"


@dataclass(frozen=True)
class CaseResult:
    name: str
    path: str
    failures: tuple[str, ...]
    seconds: float
    changes: int = 0
    checks: int = 0
    leftovers: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures and not self.leftovers


@contextlib.contextmanager
def _endpoint(url: str | None) -> Iterator[None]:
    """The case's AWS endpoint for the SDK (AWS_ENDPOINT_URL), for this case only."""
    if not url:
        yield
        return
    before = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = before


def docker_client() -> Any:
    try:
        import docker

        client = docker.from_env()
        client.ping()
        return client
    except Exception as exc:  # noqa: BLE001 - one line: where the engine was looked for
        log.debug("no Docker engine for reconcile test", exc_info=True)
        raise ReconcileError(f"reconcile test needs a Docker engine for its throwaway hosts (DOCKER_HOST "
                             f"{os.environ.get('DOCKER_HOST') or 'unset'}): {exc}") from None


def run_case(spec_path: Path, case: Case, client: Any, known_hosts: Mapping[str, Host]) -> CaseResult:
    started = time.monotonic()
    run_id = uuid.uuid4().hex[:12]
    failures: list[str] = []
    changes = 0
    containers: dict[str, Any] = {}
    unknown = sorted(set(case.hosts) - set(known_hosts))
    if unknown:
        return CaseResult(case.name, str(case.path), (f"hosts {', '.join(unknown)} are not in the spec's inventory",),
                          0.0)
    try:
        for host, image in case.hosts.items():
            containers[host] = client.containers.run(image, detach=True, labels={LABEL: run_id}, hostname=host,
                                                     name=f"reconcile-test-{case.name[:30]}-{host}-{run_id}")
        stand_ins = {h: Host(h, address=c.name, connection="docker", docker_host=os.environ.get("DOCKER_HOST"),
                             vars=known_hosts[h].vars) for h, c in containers.items()}
        with tempfile.TemporaryDirectory(prefix="reconcile-test-") as scratch, _endpoint(case.aws_endpoint):
            def session() -> Session:
                return Session(spec_path, state_path=Path(scratch) / "state.db", stand_ins=stand_ins,
                               var_overrides=VarOverrides((), dict(case.variables)))

            outcome = session().apply()
            changes = sum(1 for r in outcome.results if r.status is not Status.NOOP)
            failed = [f"{r.address}: {r.error}" for r in outcome.results if r.status is Status.FAILED]
            failed += [f"{a}: {m}" for a, m in outcome.plan.failures.items()]
            if failed:
                failures += [f"converge failed: {f}" for f in failed]
            else:
                again = session().plan()
                if again.actionable:
                    failures.append("not idempotent: a second plan would change "
                                    + ", ".join(c.address for c in again.actionable))
                for check in case.checks:
                    problem = _check(containers[check.on], check)
                    if problem:
                        failures.append(f"{check}: {problem}")
            elsewhere = any(c.resource is not None and c.resource.target not in stand_ins
                            for c in outcome.plan.changes)
            if elsewhere:  # the case's state goes with it: what it made beyond its containers goes too
                gone = session().apply(Selection(destroy=True))
                failures += [f"destroy failed: {r.address}: {r.error}" for r in gone.results
                             if r.status is Status.FAILED]
    except ReconcileError as exc:
        failures.append(str(exc))
    finally:
        for container in containers.values():
            try:
                container.remove(force=True)
            except Exception:  # noqa: BLE001 - what stays is reported below as left over
                log.warning("could not remove container %s", container.name, exc_info=True)
    left = [c.name for c in client.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"})]
    return CaseResult(case.name, str(case.path), tuple(failures), time.monotonic() - started, changes,
                      len(case.checks), tuple(left))


def _exec(container: Any, command: str) -> tuple[int, str, str]:
    rc, (out, err) = container.exec_run(["sh", "-c", command], demux=True)
    return int(rc), (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace")


def _check(container: Any, check: Check) -> str | None:
    """What is wrong, or None."""
    import shlex

    if check.command:
        rc, out, err = _exec(container, check.command)
        if rc != check.rc:
            return f"exit {rc}, not {check.rc}" + (f": {err.strip()[:200]}" if err.strip() else "")
        if check.stdout_contains is not None and check.stdout_contains not in out:
            return f"its output does not hold {check.stdout_contains!r} (it printed {out[:200]!r})"
        return None
    path = shlex.quote(str(check.file))
    rc, out, _ = _exec(container, f"stat -c '%a %U %G' {path}")
    if check.absent:
        return None if rc != 0 else "exists"
    if rc != 0:
        return "does not exist"
    mode, owner, group = out.split()
    if check.mode is not None and int(mode, 8) != int(check.mode, 8):
        return f"mode {mode}, not {check.mode}"
    if check.owner is not None and owner != check.owner:
        return f"owner {owner}, not {check.owner}"
    if check.group is not None and group != check.group:
        return f"group {group}, not {check.group}"
    if check.content is not None or check.contains is not None:
        _, text, _ = _exec(container, f"cat {path}")
        if check.content is not None and text != check.content:
            return f"content {text[:200]!r}, not {check.content[:200]!r}"
        if check.contains is not None and check.contains not in text:
            return f"does not hold {check.contains!r}"
    return None


def render_text(results: list[CaseResult]) -> str:
    lines = []
    for r in results:
        if r.passed:
            lines.append(f"PASS {r.name}: converged ({r.changes} changes), idempotent, {r.checks} checks passed "
                         f"({r.seconds:.1f}s)")
        else:
            lines.append(f"FAIL {r.name} ({r.path})")
            lines += [f"  - {f}" for f in r.failures]
            lines += [f"  - left over: container {c}" for c in r.leftovers]
    passed = sum(r.passed for r in results)
    lines.append(f"{passed} of {len(results)} cases passed.")
    return "\n".join(lines) + "\n"


def render_junit(results: list[CaseResult]) -> str:
    from xml.etree import ElementTree as ET

    suites = ET.Element("testsuites", name="reconcile test", tests=str(len(results)),
                        failures=str(sum(not r.passed for r in results)))
    suite = ET.SubElement(suites, "testsuite", name="reconcile test", tests=str(len(results)),
                          failures=str(sum(not r.passed for r in results)), errors="0")
    for r in results:
        case = ET.SubElement(suite, "testcase", classname="reconcile.test", name=r.name, time=f"{r.seconds:.3f}")
        if not r.passed:
            problems = list(r.failures) + [f"left over: container {c}" for c in r.leftovers]
            failure = ET.SubElement(case, "failure", message=problems[0][:200], type="CaseFailed")
            failure.text = "\n".join(problems)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
