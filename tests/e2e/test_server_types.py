"""The server types a real host needs, on real sshd hosts: for each, the plan shows the change, apply
makes it, a second apply changes nothing (no mtime moves), drift made behind reconcile's back is shown
and repaired, and removal undoes what it should. Downloads come from an HTTP server on 127.0.0.1 (the
controller fetches them); hostname, sysctl and mount run on a host with the capabilities they need."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, SSHFleet, write

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBzL8t3PqZ9fdq9k2t6bW3q3JqzQy0c2fF2Zp8u6g2Lx ops@example"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3Qga2V5IGZvciByZWNvbmNpbGUgdGVzdHMgb25seQ ci@example"


@pytest.fixture
def scli(cli: Cli) -> Cli:
    cli.env["HOME"] = str(cli.cwd)
    return cli


def converge(scli: Cli) -> None:
    scli("apply", "--auto-approve", "spec", check=0)
    again = scli("apply", "--auto-approve", "spec", check=0)
    assert "No changes." in again.out and "complete after" not in again.out, again.out


def mtimes(host: Any, *paths: str) -> str:
    return str(host.exec("stat -c '%n %Y.%y' " + " ".join(f"'{p}'" for p in paths))[1])


def test_blocks_keys_and_time_zone(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    h = ssh_hosts.hosts[0]
    conf = f"/etc/{uid}.conf"
    h.exec(f"printf 'first\\nlast\\n' > {conf}; useradd -m {uid}; mkdir -p /home/{uid}/.ssh; "
           f"chmod 0755 /home/{uid}/.ssh; echo '{KEY_B}' > /home/{uid}/.ssh/authorized_keys")
    body = ssh_hosts.inventory() + f"""
resources:
  - {{type: block_in_file, name: hosts, on: h0, path: {conf}, block: "10.0.0.1 a\\n10.0.0.2 b\\n", insertafter: "^first"}}
  - {{type: authorized_key, name: ops, on: h0, user: {uid}, key: "{KEY_A}"}}
  - {{type: timezone, name: tz, on: h0, timezone: Europe/Paris}}
"""
    write(spec_dir / "site.yaml", body)
    plan = scli("plan", "spec", check=0).out
    assert "+ block_in_file.hosts" in plan and "+ authorized_key.ops" in plan and "~ timezone.tz" in plan, plan
    converge(scli)
    assert h.exec(f"cat {conf}")[1] == ("first\n# BEGIN reconcile hosts\n10.0.0.1 a\n10.0.0.2 b\n"
                                        "# END reconcile hosts\nlast\n")
    keys = h.exec(f"cat /home/{uid}/.ssh/authorized_keys")[1]
    assert keys == f"{KEY_B}\n{KEY_A}\n"  # added to what was there
    assert h.exec(f"stat -c '%a %U' /home/{uid}/.ssh/authorized_keys")[1].strip() == f"600 {uid}"
    assert h.exec(f"stat -c '%a %U' /home/{uid}/.ssh")[1].strip() == f"700 {uid}"  # an existing 0755 .ssh too
    assert h.exec("readlink /etc/localtime; cat /etc/timezone")[1] == "/usr/share/zoneinfo/Europe/Paris\nEurope/Paris\n"
    before = mtimes(h, conf, f"/home/{uid}/.ssh/authorized_keys", "/etc/timezone")
    scli("apply", "--auto-approve", "spec", check=0)
    assert mtimes(h, conf, f"/home/{uid}/.ssh/authorized_keys", "/etc/timezone") == before

    # drift behind reconcile's back: shown, then repaired
    h.exec(f"sed -i 's/10.0.0.2 b/10.9.9.9 x/' {conf}; sed -i '$d' /home/{uid}/.ssh/authorized_keys; "
           "ln -sf /usr/share/zoneinfo/UTC /etc/localtime")
    plan = scli("plan", "spec", check=0).out
    assert "~ block_in_file.hosts" in plan and "+ authorized_key.ops" in plan and "UTC" in plan, plan
    converge(scli)
    assert "10.0.0.2 b" in h.exec(f"cat {conf}")[1] and KEY_A in h.exec(f"cat /home/{uid}/.ssh/authorized_keys")[1]

    # options asked for a key already there are applied to it (as Ansible's authorized_key)
    write(spec_dir / "site.yaml", body.replace(f'key: "{KEY_A}"', f'key: \'from="10.0.0.0/8" {KEY_A}\''))
    plan = scli("plan", "spec", check=0).out
    assert "~ authorized_key.ops" in plan and 'from=\\"10.0.0.0/8\\"' in plan, plan
    converge(scli)
    assert h.exec(f"cat /home/{uid}/.ssh/authorized_keys")[1] == f'{KEY_B}\nfrom="10.0.0.0/8" {KEY_A}\n'

    # exclusive keys; then removal takes the block and the key out, leaves the rest and the zone
    write(spec_dir / "site.yaml", body.replace(f'key: "{KEY_A}"', f'key: "{KEY_A}", exclusive: true'))
    plan = scli("plan", "spec", check=0).out
    assert "key to remove: ssh-ed25519 …VzdHMgb25seQ ci@example" in plan, plan  # named: a person can tell which
    converge(scli)
    assert h.exec(f"cat /home/{uid}/.ssh/authorized_keys")[1] == f"{KEY_A}\n"
    write(spec_dir / "site.yaml", ssh_hosts.inventory() + "resources: []\n")
    scli("apply", "--auto-approve", "spec", check=0)
    assert h.exec(f"cat {conf}")[1] == "first\nlast\n"
    assert h.exec(f"cat /home/{uid}/.ssh/authorized_keys")[1] == ""
    assert h.exec("cat /etc/timezone")[1] == "Europe/Paris\n"


@pytest.fixture
def downloads(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving tmp_path/www."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


def tarball(files: dict[str, str]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return data.getvalue()


def test_copy_downloads_and_archives(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str,
                                     downloads: tuple[str, Path]) -> None:
    h = ssh_hosts.hosts[1]
    url, www = downloads
    tree = spec_dir / "files/app"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin/run").write_text("#!/bin/sh\necho run\n")
    (tree / "bin/run").chmod(0o750)
    (tree / "README").write_text("read me\n")
    (www / "tool").write_bytes(b"tool v1\n")
    (www / "app-1.tar.gz").write_bytes(tarball({"app-1/VERSION": "1\n", "app-1/bin/app": "app one\n"}))
    tool_sum = "sha256:" + hashlib.sha256(b"tool v1\n").hexdigest()
    (spec_dir / "files/data.tar.gz").write_bytes(tarball({"data/x": "x\n"}))
    body = ssh_hosts.inventory() + f"""
resources:
  - {{type: copy, name: app, on: h1, src: files/app, dest: /opt/{uid}/app}}
  - {{type: get_url, name: tool, on: h1, url: "{url}/tool", dest: /opt/{uid}/tool, checksum: "{tool_sum}", mode: "0755"}}
  - {{type: archive, name: release, on: h1, src: "{url}/app-1.tar.gz", dest: /opt/{uid}/releases,
     creates: /opt/{uid}/releases/app-1/VERSION}}
  - {{type: archive, name: data, on: h1, src: files/data.tar.gz, dest: /opt/{uid}/data}}
  - {{type: directory, name: bin, on: h1, path: /opt/{uid}/bin}}
  - {{type: get_url, name: into_dir, on: h1, url: "{url}/tool", dest: /opt/{uid}/bin/, depends_on: [directory.bin]}}
"""
    write(spec_dir / "site.yaml", body)
    plan = scli("plan", "spec", check=0).out
    assert "files to send (2): README, bin/run" in plan, plan
    converge(scli)
    assert h.exec(f"cat /opt/{uid}/app/bin/run; stat -c %a /opt/{uid}/app/bin/run")[1] == "#!/bin/sh\necho run\n750\n"
    assert h.exec(f"cat /opt/{uid}/tool; stat -c %a /opt/{uid}/tool")[1] == "tool v1\n755\n"
    assert h.exec(f"cat /opt/{uid}/releases/app-1/bin/app /opt/{uid}/data/data/x")[1] == "app one\nx\n"
    assert h.exec(f"cat /opt/{uid}/bin/tool")[1] == "tool v1\n"  # dest a directory: the URL's file name in it
    watched = [f"/opt/{uid}/app/README", f"/opt/{uid}/tool", f"/opt/{uid}/releases/app-1/VERSION"]
    before = mtimes(h, *watched)
    scli("apply", "--auto-approve", "spec", check=0)
    assert mtimes(h, *watched) == before

    # one local file changes: only it is sent; drift on the download and a deleted marker are repaired
    (tree / "README").write_text("read me again\n")
    h.exec(f"echo tampered > /opt/{uid}/tool; rm /opt/{uid}/data/.reconcile-archive-data")
    readme_time = mtimes(h, f"/opt/{uid}/app/bin/run")
    plan = scli("plan", "spec", check=0).out
    assert "files to send (1): README" in plan and "~ get_url.tool" in plan and "+ archive.data" in plan, plan
    converge(scli)
    assert h.exec(f"cat /opt/{uid}/app/README /opt/{uid}/tool")[1] == "read me again\ntool v1\n"
    assert mtimes(h, f"/opt/{uid}/app/bin/run") == readme_time  # an unchanged file is not rewritten

    # a download whose checksum is wrong writes nothing
    (www / "tool").write_bytes(b"tool v2\n")
    h.exec(f"rm /opt/{uid}/tool")
    failed = scli("apply", "--auto-approve", "spec")
    assert failed.rc == 1 and "not the" in failed.out and "nothing was written" in failed.out, failed.out
    assert h.exec(f"test -e /opt/{uid}/tool")[0] != 0

    (www / "tool").write_bytes(b"tool v1\n")
    write(spec_dir / "site.yaml", ssh_hosts.inventory() + "resources: []\n")
    scli("apply", "--auto-approve", "spec", check=0)
    assert h.exec(f"ls /opt/{uid}/app; test -e /opt/{uid}/tool")[1].strip() == "bin"  # copied files went
    assert h.exec(f"cat /opt/{uid}/releases/app-1/VERSION")[1] == "1\n"  # unpacked files stay


def test_systemd_units_reload_once(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    """The host pretends to run systemd: a systemctl that logs its calls (the containers run no init)."""
    h = ssh_hosts.hosts[2]
    log = f"/tmp/{uid}-systemctl"
    h.exec(f"mkdir -p /run/systemd/system /etc/systemd/system; printf '#!/bin/sh\\necho \"$*\" >> {log}\\n"
           f"[ \"$1\" = is-enabled ] && grep -q \"^enable -- $3\\$\" {log} && echo enabled\\nexit 0\\n' "
           "> /usr/local/bin/systemctl; chmod +x /usr/local/bin/systemctl")
    try:
        unit = "[Service]\\nExecStart=/bin/true\\n"
        body = ssh_hosts.inventory() + f"""
resources:
  - {{type: systemd_unit, name: {uid}a, on: h2, content: "{unit}", enabled: true}}
  - {{type: systemd_unit, name: {uid}b, on: h2, content: "{unit}"}}
  - {{type: systemd_unit, name: {uid}c, on: h2, unit: {uid}c.timer, content: "[Timer]\\nOnCalendar=daily\\n"}}
"""
        write(spec_dir / "site.yaml", body)
        converge(scli)
        calls = h.exec(f"cat {log}")[1].splitlines()
        assert calls.count("daemon-reload") == 1 and f"enable -- {uid}a.service" in calls, calls
        assert h.exec(f"cat /etc/systemd/system/{uid}c.timer")[1] == "[Timer]\nOnCalendar=daily\n"

        h.exec(f"echo '# edited' >> /etc/systemd/system/{uid}b.service; : > {log}")  # drift
        assert f"~ systemd_unit.{uid}b" in scli("plan", "spec", check=0).out
        converge(scli)
        assert h.exec(f"cat {log}")[1].splitlines().count("daemon-reload") == 1

        write(spec_dir / "site.yaml", ssh_hosts.inventory() + "resources: []\n")
        scli("apply", "--auto-approve", "spec", check=0)
        assert h.exec(f"ls /etc/systemd/system | grep -c {uid}")[1].strip() == "0"
    finally:
        h.exec(f"rm -rf /usr/local/bin/systemctl /run/systemd {log}")


@pytest.fixture(scope="module")
def capable(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path, Path]]:
    """A host allowed to set its name, its network namespace's sysctls and to mount (its own namespaces)."""
    from tests.harness.ssh_hosts import client_key, start_hosts

    (host,) = start_hosts(docker_client, f"capable-{os.getpid()}", 1, cap_add=["SYS_ADMIN", "NET_ADMIN"],
                          security_opt=["apparmor=unconfined"], sysctls={"net.ipv4.ip_forward": "0"})
    host.exec("mount -o remount,rw /proc/sys")  # docker mounts it read-only; the container's own netns keys are safe
    known = tmp_path_factory.mktemp("capable") / "known_hosts"
    known.write_text(host.host_key_line() + "\n")
    yield host, known, client_key()
    host.container.remove(force=True)


def test_hostname_sysctl_and_mount(scli: Cli, spec_dir: Path, capable: Any, uid: str) -> None:
    host, known, key = capable
    inventory = f"""
inventory:
  hosts:
    box: {{address: 127.0.0.1, port: {host.port}, user: root, key_file: {key}}}
  known_hosts: {known}
"""
    body = inventory + f"""
resources:
  - {{type: hostname, name: name, on: box, hostname: web-{uid}}}
  - {{type: sysctl, name: forward, on: box, key: net.ipv4.ip_forward, value: 1}}
  - {{type: mount, name: cache, on: box, path: /srv/{uid} cache, src: tmpfs, fstype: tmpfs, opts: "size=8m"}}
"""
    write(spec_dir / "site.yaml", body)
    plan = scli("plan", "spec", check=0).out
    assert "~ hostname.name" in plan and "+ sysctl.forward" in plan and "+ mount.cache" in plan, plan
    converge(scli)
    assert host.exec("hostname; cat /etc/hostname")[1] == f"web-{uid}\nweb-{uid}\n"
    assert host.exec("cat /proc/sys/net/ipv4/ip_forward /etc/sysctl.d/99-reconcile.conf")[1] == \
        "1\nnet.ipv4.ip_forward = 1\n"
    mounted = host.exec(f"grep ' /srv/{uid}\\\\040cache ' /proc/mounts")[1]
    assert mounted.startswith("tmpfs ") and "size=8192k" in mounted, mounted
    assert f"tmpfs /srv/{uid}\\040cache tmpfs size=8m 0 0" in host.exec("cat /etc/fstab")[1]

    # drift on all three
    host.exec(f"hostname other; sysctl -qw net.ipv4.ip_forward=0; umount '/srv/{uid} cache'")
    plan = scli("plan", "spec", check=0).out
    assert "~ hostname.name" in plan and "~ sysctl.forward" in plan and "~ mount.cache" in plan, plan
    converge(scli)
    assert host.exec("hostname")[1].strip() == f"web-{uid}"
    assert host.exec("cat /proc/sys/net/ipv4/ip_forward")[1].strip() == "1"
    assert host.exec(f"mountpoint -q '/srv/{uid} cache'")[0] == 0

    # new options are a remount; removal unmounts and takes the fstab and sysctl.d lines out
    write(spec_dir / "site.yaml", body.replace("size=8m", "size=16m"))
    converge(scli)
    assert "size=16384k" in host.exec(f"grep ' /srv/{uid}\\\\040cache ' /proc/mounts")[1]
    write(spec_dir / "site.yaml", inventory + "resources: []\n")
    scli("apply", "--auto-approve", "spec", check=0)
    assert host.exec(f"mountpoint -q '/srv/{uid} cache'")[0] != 0 and uid not in host.exec("cat /etc/fstab")[1]
    assert "ip_forward" not in host.exec("cat /etc/sysctl.d/99-reconcile.conf")[1]
    assert json.dumps(host.exec("hostname")[1].strip()) == json.dumps(f"web-{uid}")  # a name is never "removed"


def wheel(directory: Path, version: str) -> None:
    """A minimal pure-Python wheel of `demo-pkg` (so pip installs offline, from a directory)."""
    import base64
    import zipfile

    files = {"demo_pkg/__init__.py": f"VERSION = {version!r}\n",
             f"demo_pkg-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: demo-pkg\nVersion: {version}\n",
             f"demo_pkg-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                                    "Tag: py3-none-any\n"}
    record = "".join(f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).decode().rstrip('=')},"
                     f"{len(text.encode())}\n" for name, text in files.items())
    files[f"demo_pkg-{version}.dist-info/RECORD"] = record + f"demo_pkg-{version}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(directory / f"demo_pkg-{version}-py3-none-any.whl", "w") as whl:
        for name, text in files.items():
            whl.writestr(name, text)


def test_pip_in_a_virtualenv_and_a_git_checkout(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    h = ssh_hosts.hosts[0]
    wheels = spec_dir / "wheels"
    wheels.mkdir()
    wheel(wheels, "1.0")
    wheel(wheels, "2.0")
    repo = f"/srv/{uid}/repo.git"
    body = ssh_hosts.inventory() + f"""
resources:
  - {{type: package, name: tools, on: h0, names: [git, python3-venv]}}
  - {{type: copy, name: wheels, on: h0, src: wheels, dest: /opt/{uid}/wheels}}
  - type: pip
    name: demo
    on: h0
    packages: [demo-pkg]
    version: "VERSION"
    virtualenv: /opt/{uid}/venv
    find_links: /opt/{uid}/wheels
    no_index: true
    depends_on: [package.tools, copy.wheels]
  - {{type: git, name: app, on: h0, repo: {repo}, dest: /opt/{uid}/app, version: GITVERSION, depends_on: [package.tools]}}
  - {{type: file, name: deployed, on: h0, path: /opt/{uid}/deployed, content: "${{git.app.commit}}\\n"}}
"""

    def spec(version: str = "1.0", git_version: str = "v1") -> None:
        write(spec_dir / "site.yaml", body.replace("GITVERSION", git_version).replace("VERSION", version))

    # the repository: first the package (git) has to be there, so the spec applies in two steps
    write(spec_dir / "site.yaml", ssh_hosts.inventory() + """
resources:
  - {type: package, name: tools, on: h0, names: [git, python3-venv]}
""")
    scli("apply", "--auto-approve", "spec", check=0)
    h.exec(f"set -e; git init -q --bare {repo}; git clone -q {repo} /tmp/{uid}-work; cd /tmp/{uid}-work; "
           "git config user.email t@example; git config user.name t; echo one > app.txt; git add app.txt; "
           "git commit -qm one; git tag v1; echo two > app.txt; git commit -qam two; git tag v2; "
           "echo three > app.txt; git commit -qam three; git tag -a -m 'release 3' v3; "
           "git push -q origin HEAD:main v1 v2 v3")
    v1 = h.exec(f"git -C /tmp/{uid}-work rev-parse v1")[1].strip()
    v2 = h.exec(f"git -C /tmp/{uid}-work rev-parse v2")[1].strip()

    spec()
    plan = scli("plan", "spec", check=0).out
    assert "+ pip.demo" in plan and "+ git.app" in plan, plan
    converge(scli)
    assert h.exec(f"/opt/{uid}/venv/bin/python -c 'import demo_pkg; print(demo_pkg.VERSION)'")[1] == "1.0\n"
    assert h.exec(f"cat /opt/{uid}/app/app.txt /opt/{uid}/deployed")[1] == f"one\n{v1}\n"

    spec("2.0", "v2")  # new versions: an upgrade in place, a checkout of the new tag
    plan = scli("plan", "spec", check=0).out
    assert "~ pip.demo" in plan and f"v2 is {v2[:12]}" in plan, plan
    converge(scli)
    assert h.exec(f"/opt/{uid}/venv/bin/python -c 'import demo_pkg; print(demo_pkg.VERSION)'")[1] == "2.0\n"
    assert h.exec(f"cat /opt/{uid}/app/app.txt /opt/{uid}/deployed")[1] == f"two\n{v2}\n"

    # drift: the package removed by hand, a tracked file edited in the checkout
    h.exec(f"/opt/{uid}/venv/bin/python -m pip uninstall -y -q demo-pkg; echo local > /opt/{uid}/app/app.txt")
    plan = scli("plan", "spec", check=0).out
    assert "+ pip.demo" in plan and "(with local changes)" in plan, plan
    refused = scli("apply", "--auto-approve", "spec")
    assert refused.rc == 1 and "has local changes" in refused.out, refused.out
    write(spec_dir / "site.yaml", (spec_dir / "site.yaml").read_text().replace("version: v2,", "version: v2, force: true,"))
    converge(scli)
    assert h.exec(f"cat /opt/{uid}/app/app.txt")[1] == "two\n"

    # an annotated tag names a tag object: the checkout is its commit, and the next plan has nothing to do
    v3 = h.exec(f"git -C /tmp/{uid}-work rev-parse 'v3^{{commit}}'")[1].strip()
    spec("2.0", "v3")
    converge(scli)
    assert h.exec(f"cat /opt/{uid}/app/app.txt /opt/{uid}/deployed")[1] == f"three\n{v3}\n"
    assert "No changes." in scli("plan", "spec", check=0).out

    write(spec_dir / "site.yaml", ssh_hosts.inventory() + "resources: []\n")  # pip uninstalls; the checkout stays
    scli("apply", "--auto-approve", "spec", check=0)
    assert h.exec(f"/opt/{uid}/venv/bin/python -c 'import demo_pkg'")[0] != 0
    assert h.exec(f"cat /opt/{uid}/app/app.txt")[1] == "three\n"


def file_of(host: Any, path: str) -> bytes:
    """A file's bytes, read from the container (binary-safe)."""
    stream, _ = host.container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile(tar.getmembers()[0])
        assert member is not None
        return member.read()


def test_apt_repository_with_a_checked_key(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    from reconcile_modules.server.openpgp import primary_fingerprints

    from tests.harness.ssh_hosts import debian_mirror

    h = ssh_hosts.hosts[2]
    key = file_of(h, "/usr/share/keyrings/debian-archive-keyring.gpg")  # every release's keys: one is pinned
    bookworm = primary_fingerprints(file_of(h, "/usr/share/keyrings/debian-archive-bookworm-automatic.gpg"))[0]
    (spec_dir / "keys").mkdir()
    (spec_dir / "keys/debian.gpg").write_bytes(key)
    name = f"u{uid}"
    body = ssh_hosts.inventory() + f"""
resources:
  - type: apt_repository
    name: {name}
    on: h2
    uris: {debian_mirror()}
    suites: [bookworm-updates]
    components: [main]
    key: {{file: keys/debian.gpg, fingerprint: "FINGERPRINT"}}
"""
    write(spec_dir / "site.yaml", body.replace("FINGERPRINT", bookworm))
    plan = scli("plan", "spec", check=0).out
    assert f"+ apt_repository.{name}" in plan and "+Suites: bookworm-updates" in plan, plan
    converge(scli)
    source = f"/etc/apt/sources.list.d/{name}.sources"
    assert h.exec(f"cat {source}")[1] == (f"Types: deb\nURIs: {debian_mirror()}\nSuites: bookworm-updates\n"
                                          f"Components: main\nSigned-By: /etc/apt/keyrings/{name}.gpg\n")
    lists = h.exec("ls /var/lib/apt/lists/ | grep bookworm-updates_InRelease")[1].strip()
    assert lists, "apt-get update did not fetch the new repository"
    fetched = mtimes(h, f"/var/lib/apt/lists/{lists}", source)
    scli("apply", "--auto-approve", "spec", check=0)
    assert mtimes(h, f"/var/lib/apt/lists/{lists}", source) == fetched  # no change: no write, no apt-get update

    h.exec(f"sed -i 's/^Components: main$/Components: main contrib/' {source}")  # drift, shown as a diff
    plan = scli("plan", "spec", check=0).out
    assert "-Components: main contrib" in plan and "+Components: main" in plan, plan
    converge(scli)
    assert "Components: main\n" in h.exec(f"cat {source}")[1]

    write(spec_dir / "site.yaml", body.replace("FINGERPRINT", "0" * 40).replace(name, name + "x"))
    refused = scli("apply", "--auto-approve", "spec")
    assert refused.rc == 1 and "not 0000000000" in refused.out and "nothing was written" in refused.out, refused.out
    assert h.exec(f"test -e /etc/apt/sources.list.d/{name}x.sources || test -e /etc/apt/keyrings/{name}x.gpg")[0] != 0

    write(spec_dir / "site.yaml", ssh_hosts.inventory() + "resources: []\n")
    scli("apply", "--auto-approve", "spec", check=0)
    assert h.exec(f"test -e {source} || test -e /etc/apt/keyrings/{name}.gpg")[0] != 0


def test_user_groups_appended_leave_the_others(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    """`append: true` (Ansible's append: yes): the spec's groups are added and kept; the user's other groups
    are left as they are, and only a missing one of the spec's is drift."""
    h = ssh_hosts.hosts[1]
    user = f"a{uid[1:8]}"
    h.exec(f"groupadd -f {user}x && groupadd -f {user}y && useradd -G {user}x {user}")
    write(spec_dir / "site.yaml", ssh_hosts.inventory() + f"""
resources:
  - {{type: user, name: u, on: h1, username: {user}, groups: [{user}y], append: true}}
""")
    plan = scli("plan", "spec", check=0).out
    assert "~ user.u" in plan, plan
    converge(scli)
    groups = h.exec(f"id -nG {user}")[1].split()
    assert f"{user}x" in groups and f"{user}y" in groups  # added, the other kept
    h.exec(f"gpasswd -d {user} {user}y")  # drift: one of the spec's groups taken away
    assert "~ user.u" in scli("plan", "spec", check=0).out
    converge(scli)
    assert {f"{user}x", f"{user}y"} <= set(h.exec(f"id -nG {user}")[1].split())
