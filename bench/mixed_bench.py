"""Mixed-types benchmark: 30 resources per host of 14 kinds, the types a real web host needs (directories,
files, lines, marked blocks, symlinks, a copied tree, an authorized key, the time zone, cron jobs, a
group, a user, a package, a running service, a command guarded by `creates`), converged by reconcile,
ansible-core (forks 50, pipelining, ControlPersist) and pyinfra on the same 5 and 20 SSH hosts, side by
side, with the measurements of fleet_bench.py (wall, controller CPU, peak RSS, sockets, round trips).

Each tool uses the equivalents its core ships: ansible-core has no authorized_key or timezone module
(they are in collections), so its play uses lineinfile and file/copy for them; pyinfra's
server.user_authorized_keys and files.link/put.

Usage: python bench/mixed_bench.py [5 20]   FLEET_REPEATS=2   FLEET_TOOLS=reconcile,ansible,pyinfra
"""

from __future__ import annotations

import os
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import docker  # noqa: E402
from fleet_bench import PARALLELISM, REPEATS, TOOLS, measured, print_rows  # noqa: E402
from ssh_bench import WORK, venv  # noqa: E402

from tests.harness.docker_engine import engine_url, stop_if_started  # noqa: E402
from tests.harness.ssh_hosts import SSHHost, client_key, start_hosts  # noqa: E402

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBzL8t3PqZ9fdq9k2t6bW3q3JqzQy0c2fF2Zp8u6g2Lx ops@example"
DIRS, FILES, LINES = 3, 8, 4  # + 2 blocks, 2 links, 1 tree, 1 key, 1 zone, 2 cron, group, user, package,
# service, command, file with mode = 30


def reconcile_spec(hosts: list[SSHHost], known: Path, key: Path) -> str:
    lines = ["inventory:", "  hosts:"]
    lines += [f"    h{i}: {{address: 127.0.0.1, port: {h.port}, user: root, key_file: {key}}}" for i, h in enumerate(hosts)]
    lines += ["  groups:", "    fleet: [" + ", ".join(f"h{i}" for i in range(len(hosts))) + "]", f"  known_hosts: {known}",
              "resources:"]
    base = "/srv/reconcile"
    for d in range(DIRS):
        lines.append(f"  - {{type: directory, name: d{d}, on: fleet, path: {base}/d{d}}}")
    for f in range(FILES):
        lines.append(f"  - {{type: file, name: f{f}, on: fleet, path: {base}/d{f % DIRS}/f{f}.conf, "
                     f"content: \"file {f} on {{{{ host.name }}}}\\n\", depends_on: [directory.d{f % DIRS}]}}")
    lines.append(f"  - {{type: file, name: secret, on: fleet, path: {base}/secret.conf, content: \"s\\n\", mode: \"0600\"}}")
    for k in range(LINES):
        lines.append(f"  - {{type: line_in_file, name: l{k}, on: fleet, path: {base}/lines.conf, "
                     f"line: \"key{k}=value{k}\", create: true}}")
    for b in range(2):
        lines.append(f"  - {{type: block_in_file, name: b{b}, on: fleet, path: {base}/hosts{b}, create: true, "
                     f"block: \"10.0.0.1{b} web{b}\\n10.0.0.2{b} db{b}\\n\"}}")
    for s in range(2):
        lines.append(f"  - {{type: symlink, name: s{s}, on: fleet, path: {base}/current{s}, target: {base}/d{s}}}")
    lines.append(f"  - {{type: copy, name: tree, on: fleet, src: tree, dest: {base}/tree}}")
    lines.append(f"  - {{type: authorized_key, name: ops, on: fleet, user: root, key: \"{KEY}\"}}")
    lines.append("  - {type: timezone, name: zone, on: fleet, timezone: Europe/Paris}")
    for c in range(2):
        lines.append(f"  - {{type: cron, name: c{c}, on: fleet, minute: \"{c}\", job: \"/bin/true reconcile {c}\"}}")
    lines.append("  - {type: group, name: reconcilers, on: fleet}")
    lines.append("  - {type: user, name: reconcileuser, on: fleet}")
    lines.append("  - {type: package, name: cron, on: fleet}")
    lines.append("  - {type: service, name: cron, on: fleet, state: running}")
    lines.append(f"  - {{type: command, name: init, on: fleet, command: \"mkdir -p {base} && touch {base}/initialised\", "
                 f"creates: {base}/initialised}}")
    return "\n".join(lines) + "\n"


def ansible_files(hosts: list[SSHHost], known: Path, key: Path, workdir: Path) -> None:
    (workdir / "hosts.ini").write_text("[fleet]\n" + "".join(
        f"h{i} ansible_host=127.0.0.1 ansible_port={h.port} ansible_user=root ansible_ssh_private_key_file={key}\n"
        for i, h in enumerate(hosts)))
    (workdir / "ansible.cfg").write_text(textwrap.dedent(f"""
        [defaults]
        inventory = hosts.ini
        forks = {PARALLELISM}
        host_key_checking = True
        interpreter_python = /usr/bin/python3
        [ssh_connection]
        pipelining = True
        ssh_args = -o UserKnownHostsFile={known} -o ControlMaster=auto -o ControlPersist=60s
    """))
    base = "/srv/ansible"
    (workdir / "site.yml").write_text(textwrap.dedent(f"""
        - hosts: fleet
          gather_facts: false
          tasks:
            - file: {{path: "{base}/d{{{{ item }}}}", state: directory}}
              loop: "{{{{ range({DIRS}) | list }}}}"
            - copy: {{dest: "{base}/d{{{{ item % {DIRS} }}}}/f{{{{ item }}}}.conf", content: "file {{{{ item }}}} on {{{{ inventory_hostname }}}}\\n"}}
              loop: "{{{{ range({FILES}) | list }}}}"
            - copy: {{dest: "{base}/secret.conf", content: "s\\n", mode: "0600"}}
            - lineinfile: {{path: "{base}/lines.conf", line: "key{{{{ item }}}}=value{{{{ item }}}}", create: true}}
              loop: "{{{{ range({LINES}) | list }}}}"
            - blockinfile: {{path: "{base}/hosts{{{{ item }}}}", create: true, block: "10.0.0.1{{{{ item }}}} web{{{{ item }}}}\\n10.0.0.2{{{{ item }}}} db{{{{ item }}}}"}}
              loop: [0, 1]
            - file: {{path: "{base}/current{{{{ item }}}}", src: "{base}/d{{{{ item }}}}", state: link}}
              loop: [0, 1]
            - copy: {{src: tree/, dest: "{base}/tree/"}}
            - lineinfile: {{path: /root/.ssh/authorized_keys, line: "{KEY}", create: true, mode: "0600"}}
            - file: {{path: /etc/localtime, src: /usr/share/zoneinfo/Europe/Paris, state: link, force: true}}
            - copy: {{dest: /etc/timezone, content: "Europe/Paris\\n"}}
            - cron: {{name: "ansible {{{{ item }}}}", minute: "{{{{ item }}}}", job: "/bin/true ansible {{{{ item }}}}"}}
              loop: [0, 1]
            - group: {{name: ansiblers}}
            - user: {{name: ansibleuser}}
            - apt: {{name: cron, state: present}}
            - service: {{name: cron, state: started}}
            - shell: {{cmd: "mkdir -p {base} && touch {base}/initialised", creates: "{base}/initialised"}}
    """))


def pyinfra_files(hosts: list[SSHHost], known: Path, key: Path, workdir: Path) -> None:
    (workdir / "inventory.py").write_text("fleet = [\n" + "".join(
        f"    ('h{i}', {{'ssh_hostname': '127.0.0.1', 'ssh_port': {h.port}, 'ssh_user': 'root', "
        f"'ssh_key': '{key}', 'ssh_known_hosts_file': '{known}', 'ssh_strict_host_key_checking': 'yes'}}),\n"
        for i, h in enumerate(hosts)) + "]\n")
    base = "/srv/pyinfra"
    (workdir / "deploy.py").write_text(textwrap.dedent(f"""
        from io import StringIO
        from pyinfra import host
        from pyinfra.operations import apt, files, server
        for d in range({DIRS}):
            files.directory(name=f"dir {{d}}", path=f"{base}/d{{d}}")
        for f in range({FILES}):
            files.put(name=f"file {{f}}", src=StringIO(f"file {{f}} on {{host.name}}\\n"),
                      dest=f"{base}/d{{f % {DIRS}}}/f{{f}}.conf")
        files.put(name="secret", src=StringIO("s\\n"), dest="{base}/secret.conf", mode="600")
        for k in range({LINES}):
            files.line(name=f"line {{k}}", path="{base}/lines.conf", line=f"key{{k}}=value{{k}}")
        for b in range(2):
            files.block(name=f"block {{b}}", path=f"{base}/hosts{{b}}",
                        content=f"10.0.0.1{{b}} web{{b}}\\n10.0.0.2{{b}} db{{b}}")
        for s in range(2):
            files.link(name=f"link {{s}}", path=f"{base}/current{{s}}", target=f"{base}/d{{s}}")
        files.sync(name="tree", src="tree", dest="{base}/tree")
        server.user_authorized_keys(name="key", user="root", public_keys=["{KEY}"])
        files.link(name="zone", path="/etc/localtime", target="/usr/share/zoneinfo/Europe/Paris", force=True)
        files.put(name="zone name", src=StringIO("Europe/Paris\\n"), dest="/etc/timezone")
        for c in range(2):
            server.crontab(name=f"cron {{c}}", command=f"/bin/true pyinfra {{c}}", minute=c, cron_name=f"pyinfra {{c}}")
        server.group(name="group", group="pyinfras")
        server.user(name="user", user="pyinfrauser")
        apt.packages(name="cron", packages=["cron"])
        server.service(name="cron running", service="cron", running=True)
        files.file(name="initialised", path="{base}/initialised")
    """))


def prepare(hosts: list[SSHHost], prefix: str) -> Path:
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=WORK))
    known = workdir / "known_hosts"
    known.write_text("".join(h.host_key_line() + "\n" for h in hosts))
    key = client_key()
    for tree in (workdir / "tree", workdir / "spec/tree"):
        tree.mkdir(parents=True)
        for i in range(3):
            (tree / f"part{i}.conf").write_text(f"part {i}\n" * 20)
    (workdir / "spec/site.yaml").write_text(reconcile_spec(hosts, known, key))
    ansible_files(hosts, known, key, workdir)
    pyinfra_files(hosts, known, key, workdir)
    for h in hosts:  # the pyinfra line and block files must exist (files.line does not create them)
        h.exec("mkdir -p /srv/pyinfra && touch /srv/pyinfra/lines.conf /srv/pyinfra/hosts0 /srv/pyinfra/hosts1")
    return workdir


def run_size(client: docker.DockerClient, n: int, ansible_bin: Path, pyinfra_bin: Path) -> dict[str, dict[str, float]]:
    hosts = start_hosts(client, f"bench-mixed-{os.getpid()}-{n}", n)
    try:
        workdir = prepare(hosts, f"mixed-bench-{n}-")
        rec = [sys.executable, "-m", "reconciler", "-v", "apply", "--auto-approve", "--parallelism", str(PARALLELISM),
               "spec"]
        env = {"PYTHONPATH": str(ROOT), "NO_COLOR": "1", "HOME": str(workdir)}
        runs = {"reconcile": (rec, env), "ansible": ([str(ansible_bin / "ansible-playbook"), "site.yml"],
                                                     {"ANSIBLE_CONFIG": str(workdir / "ansible.cfg")}),
                "pyinfra": ([str(pyinfra_bin / "pyinfra"), "-y", "--parallel", str(PARALLELISM), "inventory.py",
                             "deploy.py"], None)}
        out: dict[str, dict[str, float]] = {}
        for tool, (argv, tool_env) in runs.items():
            if tool not in TOOLS:
                continue
            out[f"{tool} first"] = measured(argv, workdir, tool_env)
            out[f"{tool} no-change"] = min((measured(argv, workdir, tool_env) for _ in range(REPEATS)),
                                           key=lambda m: m["wall"])
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
    rows = {}
    try:
        for n in sizes:
            rows[n] = run_size(client, n, ansible_bin, pyinfra_bin)
            print_rows({n: rows[n]}, header=n == sizes[0])
    finally:
        client.close()
        stop_if_started(run_dir)
    for n in sorted(rows):
        r = rows[n]
        ours = r["reconcile no-change"]["wall"]
        peers = [f"{r[f'{p} no-change']['wall'] / ours:.1f}x faster than {p}" for p in ("pyinfra", "ansible")
                 if f"{p} no-change" in r]
        print(f"{n:>4} hosts x 30 mixed resources, no-change converge: " + ", ".join(peers))


if __name__ == "__main__":
    main()
