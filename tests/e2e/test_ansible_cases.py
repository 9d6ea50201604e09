"""Ansible's own integration cases as data (tests/ansible_cases/cases.yaml): every case runs with
ansible-playbook on one fresh sshd host and with reconcile on its twin, from the same starting files, and
the two hosts must end byte for byte the same (content, line endings, modes, owners, listings). Both runs
are then repeated: Ansible reports nothing changed, and reconcile's plan says "No changes"."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Cli, write

CASES = yaml.safe_load((Path(__file__).parent.parent / "ansible_cases" / "cases.yaml").read_text())
BASE = "/tmp/ansible-cases"


def where(case: dict[str, Any]) -> str:
    return f"{BASE}/{case['case']}"


def filled(value: Any, case: dict[str, Any]) -> Any:
    """DIR and CASE replaced, through lists and maps."""
    if isinstance(value, str):
        return value.replace("DIR", where(case)).replace("CASE", case["case"])
    if isinstance(value, list):
        return [filled(v, case) for v in value]
    if isinstance(value, dict):
        return {k: filled(v, case) for k, v in value.items()}
    return value


def local_files(root: Path, case: dict[str, Any]) -> None:
    """The case's files beside the playbook and the spec (one directory holds both)."""
    base = root / "files" / case["case"]
    for name, text in (case.get("files") or {}).items():
        if text is None:
            (base / name).mkdir(parents=True, exist_ok=True)
        else:
            write(base / name, text)
    for name, target in (case.get("links") or {}).items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, base / name)
    for name, members in (case.get("archive") or {}).items():
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w:gz") as tar:
            for member, text in members.items():
                info = tarfile.TarInfo(member)
                info.size, info.mode, info.mtime = len(text.encode()), 0o644, 1_700_000_000
                tar.addfile(info, io.BytesIO(text.encode()))
        base.mkdir(parents=True, exist_ok=True)
        (base / name).write_bytes(data.getvalue())


def end_state(host: Any, case: dict[str, Any]) -> dict[str, str]:
    out = {}
    for relative in case.get("compare") or []:
        path = f"{where(case)}/{relative}"
        out[relative] = host.exec(
            f"cd {path} 2>/dev/null && find . -printf '%p %y %m %u %g\\n' | sort && "
            f"find . -type f -exec sha256sum {{}} + | sort || "
            f"(stat -c '%F %a %U %G' {path} && base64 -w0 {path})")[1]
    for command in filled(case.get("commands") or [], case):
        out[command] = host.exec(command)[1]
    return out


def spec_text(hosts_line: str, known: str) -> str:
    resources = []
    for case in CASES:
        for i, resource in enumerate(filled(case["reconcile"], case)):
            resources.append({"name": f"{case['case'][:40]}_{i}", **resource, "on": "web1"})
    return yaml.safe_dump({"inventory": {"hosts": {"web1": yaml.safe_load(hosts_line)}}, "resources": resources},
                          sort_keys=False, width=1000) + known


def playbook() -> str:
    tasks = [{"name": f"{case['case']} {i}", **task} for case in CASES for i, task in enumerate(filled(case["ansible"],
                                                                                                        case))]
    return yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": tasks}], sort_keys=False, width=1000)


@pytest.fixture
def twins(docker_client: Any, uid: str) -> Any:
    from tests.harness.ssh_hosts import start_hosts

    hosts = start_hosts(docker_client, f"cases-{uid}", 2, cap_add=["SYS_ADMIN"],  # hostname sets the kernel's
                        security_opt=["apparmor=unconfined"])
    yield hosts
    for h in hosts:
        h.container.remove(force=True)


def test_ansible_integration_cases_end_the_same_with_reconcile(cli: Cli, tmp_path: Path, twins: Any) -> None:
    from tests.harness.ssh_hosts import client_key

    ours, theirs = twins
    key = client_key()
    root = tmp_path / "cases"
    for case in CASES:
        local_files(root, case)

    def set_up(host: Any, own: str) -> list[tuple[str, str]]:
        """Every case's starting point on one host; what failed, with its output."""
        failed = []
        for case in CASES:
            setup = filled(case.get(own) or case.get("setup") or "true", case)
            rc, text = host.exec(f"mkdir -p {where(case)} && {setup}")
            if rc != 0:
                failed.append((case["case"], text))
        return failed

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:  # the twins are set up side by side (git comes from Debian on both)
        problems = list(pool.map(lambda pair: set_up(*pair), ((ours, "setup_reconcile"), (theirs, "setup"))))
    assert problems == [[], []], problems

    cli.env["HOME"] = str(tmp_path)
    write(tmp_path / ".ssh/known_hosts", "".join(h.host_key_line() + "\n" for h in twins))
    hosts_line = f"{{address: 127.0.0.1, port: {ours.port}, user: root, key_file: '{key}'}}"
    write(root / "site.yaml", spec_text(hosts_line, ""))
    cli("apply", "--auto-approve", str(root / "site.yaml"), check=0)
    again = cli("plan", str(root / "site.yaml"), check=0)
    assert "No changes." in again.out, again.out

    write(root / "play.yml", playbook())
    write(root / "theirs.ini", f"web1 ansible_host=127.0.0.1 ansible_port={theirs.port} ansible_user=root "
                               f"ansible_ssh_private_key_file={key}\n")
    ansible = Path(sys.executable).parent / "ansible-playbook"
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_SSH_ARGS": f"-o UserKnownHostsFile={tmp_path / 'ansible_known_hosts'} -o ControlMaster=auto "
                               f"-o ControlPersist=60s", "ANSIBLE_PIPELINING": "True",  # as Ansible users run it
           "ANSIBLE_SSH_CONTROL_PATH_DIR": str(tmp_path / "cp"),
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"), "ANSIBLE_REMOTE_TEMP": "/tmp/.ansible-tmp"}
    command = [str(ansible if ansible.exists() else shutil.which("ansible-playbook")), "-i", str(root / "theirs.ini"),
               str(root / "play.yml")]
    for _ in (1, 2):
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    assert "changed=0" in done.stdout, done.stdout[-3000:]  # Ansible's second run: idempotent too

    differ = []
    for case in CASES:
        by_reconcile, by_ansible = end_state(ours, case), end_state(theirs, case)
        differ += [(case["case"], item, by_reconcile[item], by_ansible[item])
                   for item in by_ansible if by_reconcile[item] != by_ansible[item]]
    assert not differ, "\n\n".join(f"{c} {i}:\nreconcile: {r!r}\nansible:   {a!r}" for c, i, r, a in differ)
