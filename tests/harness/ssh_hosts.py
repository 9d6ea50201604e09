"""Real SSH test hosts: containers running sshd, from a Debian image built here with debootstrap.

The image is built once per machine and cached by the hash of its recipe (about 50 s). Each host
publishes port 22 on 127.0.0.1 only; tests reach it as 127.0.0.1:PORT.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .docker_engine import CACHE, machine_lock

PACKAGES = "openssh-server,python3,sudo,procps,iproute2,cron,passwd"
RECIPE_VERSION = "3"
START = 'ssh-keygen -A >/dev/null && service cron start >/dev/null 2>&1; exec /usr/sbin/sshd -D -e'


def client_key() -> Path:
    """The harness's SSH key pair (made once per machine)."""
    key = CACHE / "id_ed25519"
    with machine_lock("sshkey"):
        if not key.exists():
            CACHE.mkdir(parents=True, exist_ok=True)
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def debian_mirror() -> str:
    for source in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if source.suffix in (".list", ".sources", "") and source.is_file():
            found = re.search(r"(?:URIs:|deb)\s+(\S*debian\.org/debian)\s", source.read_text())
            if found:
                return found.group(1)
    return "http://deb.debian.org/debian"


def image_tag() -> str:
    pub = Path(str(client_key()) + ".pub").read_text()
    recipe = f"{RECIPE_VERSION}|{PACKAGES}|{START}|{pub}"
    return f"reconcile-test/sshd:{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def ensure_image(client: Any) -> str:
    tag = image_tag()
    with machine_lock("ssh-image"):
        try:
            client.images.get(tag)
            return tag
        except Exception:
            pass
        if shutil.which("debootstrap") is None:
            raise RuntimeError("debootstrap is not installed: apt-get install debootstrap (.ci/run does)")
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            rootfs = Path(tmp) / "rootfs"
            subprocess.run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", str(rootfs),
                            debian_mirror()], check=True, stdout=subprocess.DEVNULL)
            _customise(rootfs)
            data = io.BytesIO()
            with tarfile.open(fileobj=data, mode="w") as tar:
                tar.add(rootfs, arcname=".")
            repo, version = tag.split(":")
            client.api.import_image_from_data(data.getvalue(), repository=repo, tag=version,
                                              changes=[f'CMD ["/bin/sh", "-c", "{START}"]'])
        return tag


def _customise(rootfs: Path) -> None:
    pub = Path(str(client_key()) + ".pub").read_text()
    ssh = rootfs / "root/.ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "authorized_keys").write_text(pub)
    (ssh / "authorized_keys").chmod(0o600)
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (rootfs / "run/sshd").mkdir(parents=True, exist_ok=True)
    # a non-root user who may sudo, for `become: true`
    subprocess.run(["chroot", str(rootfs), "useradd", "-m", "-s", "/bin/bash", "deploy"], check=True)
    home = rootfs / "home/deploy/.ssh"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    (home / "authorized_keys").write_text(pub)
    subprocess.run(["chroot", str(rootfs), "chown", "-R", "deploy:deploy", "/home/deploy/.ssh"], check=True)
    (rootfs / "etc/sudoers.d/deploy").write_text("deploy ALL=(ALL) NOPASSWD:ALL\n")
    (rootfs / "etc/sudoers.d/deploy").chmod(0o440)
    # apt inside the hosts: the same mirror, no recommends, quiet
    (rootfs / "etc/apt/apt.conf.d/99reconcile-tests").write_text('APT::Install-Recommends "false";\n')


@dataclass
class SSHHost:
    name: str
    port: int
    container: Any

    @property
    def internal_address(self) -> str:
        """The host's address on the engine's bridge network (reachable from the other test hosts)."""
        self.container.reload()
        return str(self.container.attrs["NetworkSettings"]["IPAddress"])

    def published(self, port: int) -> int:
        """The 127.0.0.1 port a container port given to start_hosts(publish=…) is reachable on."""
        self.container.reload()
        return int(self.container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"][0]["HostPort"])

    def exec(self, command: str) -> tuple[int, str]:
        rc, out = self.container.exec_run(["sh", "-c", command])
        return rc, out.decode(errors="replace")

    def host_key_line(self) -> str:
        """The host's ed25519 key as a known_hosts line for [127.0.0.1]:PORT."""
        deadline = time.time() + 20
        while True:
            rc, out = self.exec("cat /etc/ssh/ssh_host_ed25519_key.pub")
            if rc == 0 and out.strip():
                kind, key = out.split()[:2]
                return f"[127.0.0.1]:{self.port} {kind} {key}"
            if time.time() > deadline:
                raise RuntimeError(f"{self.name} has no host key")
            time.sleep(0.1)


def start_hosts(client: Any, prefix: str, count: int, sshd_options: str = "", publish: tuple[int, ...] = (),
                **run: Any) -> list[SSHHost]:
    """`count` hosts; `sshd_options` are appended to sshd_config (e.g. "MaxSessions 2"); `publish`: more
    container ports to publish on 127.0.0.1 (see SSHHost.published); `run` goes to `docker run`
    (e.g. tmpfs={"/small": "size=1m"})."""
    image = ensure_image(client)
    command = None
    if sshd_options:
        lines = "".join(f"echo '{o}' >> /etc/ssh/sshd_config; " for o in sshd_options.split(";") if o.strip())
        command = ["/bin/sh", "-c", lines + START]
    hosts = []
    for i in range(count):
        name = f"{prefix}-{i}"
        container = client.containers.run(image, command, name=name, detach=True,
                                          ports={"22/tcp": ("127.0.0.1", None),
                                                 **{f"{p}/tcp": ("127.0.0.1", None) for p in publish}},
                                          labels={"reconcile-test": "ssh-host"}, hostname=name, **run)
        hosts.append((name, container))
    out = []
    for name, container in hosts:
        container.reload()
        port = int(container.attrs["NetworkSettings"]["Ports"]["22/tcp"][0]["HostPort"])
        out.append(SSHHost(name, port, container))
    for host in out:
        _wait_for_ssh(host)
    return out


def _wait_for_ssh(host: SSHHost, timeout: float = 30) -> None:
    import socket

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", host.port), timeout=1) as s:
                if s.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{host.name} does not answer SSH on 127.0.0.1:{host.port}")
