"""Shared helpers: run the real `reconcile` command as a subprocess, write specs into temp dirs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    rc: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


class Cli:
    """Runs `python -m reconciler …` in a working directory, as a user would run `reconcile`."""

    python = sys.executable

    def __init__(self, cwd: Path):
        self.cwd = cwd
        self.env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}

    def __call__(self, *args: str, stdin: str | None = None, check: int | None = None) -> Run:
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler", *map(str, args)], cwd=self.cwd, env=self.env,
            input=stdin if stdin is not None else "", capture_output=True, text=True, timeout=120,
        )
        run = Run(proc.returncode, proc.stdout, proc.stderr)
        if check is not None:
            assert run.rc == check, f"exit {run.rc}, wanted {check}:\n{run.text}"
        return run

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "reconciler", *args], cwd=self.cwd, env=self.env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def state_path(spec: Path, workspace: str = "default") -> Path:
    """Where reconcile keeps the local state of the spec at `spec` (.reconcile/stacks/NAME/… beside it)."""
    from reconciler.engine.session import Session

    return Session(spec, workspace=workspace).state_file


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    d = tmp_path / "spec"
    d.mkdir()
    return d


# -- real services, started on first use and shared by xdist workers ------------------------------
# The longest tests (minutes each, from `--durations`), started first: the two workers then share the short ones
# at the end instead of one worker finishing a long test alone.
LONGEST_FIRST = (
    "tests/e2e/test_ansible_cases.py::", "tests/e2e/test_peer_terraform_types.py::",
    "tests/e2e/test_migrate_terraform_corpus.py::", "tests/e2e/test_migrate_terraform.py::",
    "tests/e2e/test_peer_terraform.py::", "tests/e2e/test_wire_aws.py::", "tests/e2e/test_migrate_ansible.py::",
    "tests/e2e/test_ssh.py::", "tests/e2e/test_server_types.py::", "tests/e2e/test_fleet_containers.py::",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)), len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: the rest keeps its order


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller: workers inherit the run directory
        import tempfile

        os.environ.setdefault("RECONCILE_TEST_RUN", tempfile.mkdtemp(prefix="reconcile-test-run-"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """A dockerd that stopped answering during the run fails many tests at once: say so, with its stacks."""
    from tests.harness.docker_engine import hang_report

    report = hang_report(Path(os.environ.get("RECONCILE_TEST_RUN", "/nonexistent")))
    if report:
        terminalreporter.write_sep("=", "dockerd stopped answering")
        terminalreporter.write_line(report)


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        from tests.harness.docker_engine import stop_if_started

        stop_if_started(Path(os.environ["RECONCILE_TEST_RUN"]))


@pytest.fixture(scope="session")
def docker_url() -> str:
    from tests.harness.docker_engine import engine_url, watch

    run_dir = Path(os.environ["RECONCILE_TEST_RUN"])
    url = engine_url(run_dir)
    watch(url, run_dir)
    return url


@pytest.fixture(scope="session")
def docker_client(docker_url: str):  # type: ignore[no-untyped-def]
    import docker

    client = docker.DockerClient(base_url=docker_url, timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox(docker_client) -> str:  # type: ignore[no-untyped-def]
    from tests.harness.images import ensure_busybox

    return ensure_busybox(docker_client)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.harness.registry import Registry

    reg = Registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture
def named_stack(spec_dir: Path, uid: str) -> str:
    """Give the test's spec a stack name of its own (spec/stack.yaml): tests share one dockerd and one moto,
    and objects are told apart by their stack identity."""
    write(spec_dir / "stack.yaml", f"name: {uid}\n")
    return uid


@pytest.fixture
def uid(request: pytest.FixtureRequest) -> Iterator[str]:
    """A short unique prefix for the Docker objects a test creates."""
    import hashlib

    value = "t" + hashlib.sha1(f"{os.getpid()}{request.node.nodeid}{time.time()}".encode()).hexdigest()[:8]
    docker = request.getfixturevalue("docker_client") if "docker_client" in request.fixturenames else None
    yield value
    if docker is not None:  # what a failed or interrupted test left behind does not outlive it
        for container in docker.containers.list(all=True, filters={"name": value}):
            container.remove(force=True)


@pytest.fixture(scope="session")
def ssh_hosts(docker_client, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Three real sshd hosts for this worker, and a known_hosts file that trusts them."""
    from tests.harness.ssh_hosts import client_key, start_hosts

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    hosts = start_hosts(docker_client, f"rt-{os.getpid()}-{worker}", 3)
    known = tmp_path_factory.mktemp("ssh") / "known_hosts"
    known.write_text("".join(h.host_key_line() + "\n" for h in hosts))
    yield SSHFleet(hosts, known, client_key())
    for h in hosts:
        h.container.remove(force=True)


@dataclass
class SSHFleet:
    hosts: list  # type: ignore[type-arg]
    known_hosts: Path
    key: Path

    def inventory(self, user: str = "root", become: bool = False, known_hosts: Path | None = None,
                  extra: str = "") -> str:
        lines = ["inventory:", "  hosts:"]
        for i, h in enumerate(self.hosts):
            lines.append(f"    h{i}: {{address: 127.0.0.1, port: {h.port}, user: {user}, key_file: {self.key}, "
                         f"become: {str(become).lower()}, vars: {{index: {i}}}}}")
        lines += ["  groups:", "    all_hosts: [" + ", ".join(f"h{i}" for i in range(len(self.hosts))) + "]",
                  f"  known_hosts: {known_hosts or self.known_hosts}"]
        return "\n".join(lines) + "\n" + extra


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.harness.moto import MotoServer

    server = MotoServer(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def own_moto(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A moto server of the test module's own, for tests that make thousands of objects or leave a whole
    estate behind (paging, lost answers): the session's server stays small for the tests that list it."""
    from tests.harness.moto import MotoServer

    server = MotoServer(tmp_path_factory.mktemp("own-moto"))
    yield server
    server.stop()


@pytest.fixture
def acli(cli: Cli, moto: Any, monkeypatch: pytest.MonkeyPatch, named_stack: str) -> Cli:
    """The command against the moto server, under this test's own stack name; the environment is set for
    in-process boto3 checks too."""
    cli.env.update(moto.env)
    for key, value in moto.env.items():
        monkeypatch.setenv(key, value)
    return cli
