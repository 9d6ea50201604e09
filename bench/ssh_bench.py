"""SSH benchmark: the same desired state (30 resources per host: directories, files, lines, a package,
a user) converged by reconcile, ansible-core and pyinfra on the same SSH test hosts, side by side.

ansible-core and pyinfra are installed from PyPI into their own virtual environments under the
work directory (RECONCILE_BENCH_DIR, default /var/tmp/reconcile-bench). Each tool works under its
own paths, so each one's first run really creates everything. Usage: python bench/ssh_bench.py [5 20]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402

from tests.harness.docker_engine import engine_url, stop_if_started  # noqa: E402
from tests.harness.ssh_hosts import SSHHost, client_key, start_hosts  # noqa: E402

WORK = Path(os.environ.get("RECONCILE_BENCH_DIR", "/var/tmp/reconcile-bench"))
DIRS, FILES, LINES = 8, 12, 8  # + 1 package + 1 user = 30 resources per host


def venv(name: str, package: str) -> Path:
    path = WORK / f"{package}-venv"
    if not (path / "bin" / name).exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(path / "bin/pip"), "install", "-q", package], check=True)
    return path / "bin"


def reconcile_spec(hosts: list[SSHHost], known: Path, key: Path) -> str:
    lines = ["inventory:", "  hosts:"]
    lines += [f"    h{i}: {{address: 127.0.0.1, port: {h.port}, user: root, key_file: {key}}}" for i, h in enumerate(hosts)]
    lines += ["  groups:", "    fleet: [" + ", ".join(f"h{i}" for i in range(len(hosts))) + "]", f"  known_hosts: {known}",
              "resources:"]
    for d in range(DIRS):
        lines.append(f"  - {{type: directory, name: d{d}, on: fleet, path: /srv/reconcile/d{d}}}")
    for f in range(FILES):
        lines.append(f"  - {{type: file, name: f{f}, on: fleet, path: /srv/reconcile/d{f % DIRS}/f{f}.conf, "
                     f"content: \"file {f} on {{{{ host.name }}}}\\n\", depends_on: [directory.d{f % DIRS}]}}")
    for k in range(LINES):
        lines.append(f"  - {{type: line_in_file, name: l{k}, on: fleet, path: /srv/reconcile/lines.conf, "
                     f"line: \"key{k}=value{k}\", create: true}}")
    lines.append("  - {type: package, name: cron, on: fleet}")
    lines.append("  - {type: user, name: reconcileuser, on: fleet}")
    return "\n".join(lines) + "\n"


def ansible_files(hosts: list[SSHHost], known: Path, key: Path, workdir: Path) -> None:
    (workdir / "hosts.ini").write_text("[fleet]\n" + "".join(
        f"h{i} ansible_host=127.0.0.1 ansible_port={h.port} ansible_user=root ansible_ssh_private_key_file={key}\n"
        for i, h in enumerate(hosts)))
    (workdir / "ansible.cfg").write_text(textwrap.dedent(f"""
        [defaults]
        inventory = hosts.ini
        forks = 20
        host_key_checking = True
        interpreter_python = /usr/bin/python3
        [ssh_connection]
        pipelining = True
        ssh_args = -o UserKnownHostsFile={known} -o ControlMaster=auto -o ControlPersist=60s
    """))
    (workdir / "site.yml").write_text(textwrap.dedent(f"""
        - hosts: fleet
          gather_facts: false
          tasks:
            - file: {{path: "/srv/ansible/d{{{{ item }}}}", state: directory}}
              loop: "{{{{ range({DIRS}) | list }}}}"
            - copy: {{dest: "/srv/ansible/d{{{{ item % {DIRS} }}}}/f{{{{ item }}}}.conf", content: "file {{{{ item }}}} on {{{{ inventory_hostname }}}}\\n"}}
              loop: "{{{{ range({FILES}) | list }}}}"
            - lineinfile: {{path: /srv/ansible/lines.conf, line: "key{{{{ item }}}}=value{{{{ item }}}}", create: true}}
              loop: "{{{{ range({LINES}) | list }}}}"
            - apt: {{name: cron, state: present}}
            - user: {{name: ansibleuser}}
    """))


def pyinfra_files(hosts: list[SSHHost], known: Path, key: Path, workdir: Path) -> None:
    (workdir / "inventory.py").write_text("fleet = [\n" + "".join(
        f"    ('h{i}', {{'ssh_hostname': '127.0.0.1', 'ssh_port': {h.port}, 'ssh_user': 'root', "
        f"'ssh_key': '{key}', 'ssh_known_hosts_file': '{known}', 'ssh_strict_host_key_checking': 'yes'}}),\n"
        for i, h in enumerate(hosts)) + "]\n")
    (workdir / "deploy.py").write_text(textwrap.dedent(f"""
        from io import StringIO
        from pyinfra import host
        from pyinfra.operations import apt, files, server
        for d in range({DIRS}):
            files.directory(name=f"dir {{d}}", path=f"/srv/pyinfra/d{{d}}")
        for f in range({FILES}):
            files.put(name=f"file {{f}}", src=StringIO(f"file {{f}} on {{host.name}}\\n"),
                      dest=f"/srv/pyinfra/d{{f % {DIRS}}}/f{{f}}.conf")
        for k in range({LINES}):
            files.line(name=f"line {{k}}", path="/srv/pyinfra/lines.conf", line=f"key{{k}}=value{{k}}")
        apt.packages(name="cron", packages=["cron"])
        server.user(name="user", user="pyinfrauser")
    """))


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def prepare(hosts: list[SSHHost], prefix: str) -> Path:
    """A work directory with the same desired state for the three tools: spec/, site.yml, deploy.py."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=WORK))
    known = workdir / "known_hosts"
    known.write_text("".join(h.host_key_line() + "\n" for h in hosts))
    key = client_key()
    (workdir / "spec").mkdir()
    (workdir / "spec/site.yaml").write_text(reconcile_spec(hosts, known, key))
    ansible_files(hosts, known, key, workdir)
    pyinfra_files(hosts, known, key, workdir)
    for h in hosts:  # the pyinfra line file must exist (files.line does not create it)
        h.exec("mkdir -p /srv/pyinfra && touch /srv/pyinfra/lines.conf")
    return workdir


def run_size(client: docker.DockerClient, n: int, ansible_bin: Path, pyinfra_bin: Path) -> dict[str, float]:
    hosts = start_hosts(client, f"bench-ssh-{n}", n)
    try:
        workdir = prepare(hosts, f"ssh-bench-{n}-")
        rec = [sys.executable, "-m", "reconciler"]
        env = {"PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
        out = {"hosts": n}
        out["reconcile_first"] = timed(rec + ["apply", "--auto-approve", "--parallelism", "20", "spec"], workdir, env)
        out["reconcile_plan"] = min(timed(rec + ["plan", "--parallelism", "20", "spec"], workdir, env) for _ in range(3))
        out["reconcile_nochange"] = min(timed(rec + ["apply", "--auto-approve", "--parallelism", "20", "spec"],
                                              workdir, env) for _ in range(3))
        aenv = {"ANSIBLE_CONFIG": str(workdir / "ansible.cfg")}
        out["ansible_first"] = timed([str(ansible_bin / "ansible-playbook"), "site.yml"], workdir, aenv)
        out["ansible_nochange"] = min(timed([str(ansible_bin / "ansible-playbook"), "site.yml"], workdir, aenv)
                                      for _ in range(2))
        pcmd = [str(pyinfra_bin / "pyinfra"), "-y", "--parallel", "20", "inventory.py", "deploy.py"]
        out["pyinfra_first"] = timed(pcmd, workdir)
        out["pyinfra_nochange"] = min(timed(pcmd, workdir) for _ in range(2))
        return out
    finally:
        for h in hosts:
            h.container.remove(force=True)


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [5, 20]
    WORK.mkdir(parents=True, exist_ok=True)
    ansible_bin = venv("ansible-playbook", "ansible-core")
    pyinfra_bin = venv("pyinfra", "pyinfra")
    run_dir = Path(tempfile.mkdtemp(prefix="reconcile-bench-run-"))
    client = docker.DockerClient(base_url=engine_url(run_dir), timeout=300)
    try:
        rows = [run_size(client, n, ansible_bin, pyinfra_bin) for n in sizes]
    finally:
        client.close()
        stop_if_started(run_dir)
    print("30 resources per host; seconds (min of repeats for no-change runs)")
    print(f"{'hosts':>5} | {'reconcile first':>15} {'no-change plan':>14} {'no-change apply':>15} | "
          f"{'ansible first':>13} {'no-change':>9} | {'pyinfra first':>13} {'no-change':>9} | "
          f"{'vs ansible: first':>17} {'no-change':>9} | {'vs pyinfra: no-change':>21}")
    for r in rows:
        print(f"{r['hosts']:>5} | {r['reconcile_first']:>15.2f} {r['reconcile_plan']:>14.2f} "
              f"{r['reconcile_nochange']:>15.2f} | {r['ansible_first']:>13.2f} {r['ansible_nochange']:>9.2f} | "
              f"{r['pyinfra_first']:>13.2f} {r['pyinfra_nochange']:>9.2f} | "
              f"{r['ansible_first'] / r['reconcile_first']:>16.1f}x {r['ansible_nochange'] / r['reconcile_nochange']:>8.1f}x | "
              f"{r['pyinfra_nochange'] / r['reconcile_nochange']:>20.1f}x")


if __name__ == "__main__":
    main()
