"""Host facts (`host.facts` in templates): what a server is, gathered in one command per host.

Facts are read only when a spec's templates use them, once per host per run, over the connection that
observation then reuses. Their names follow Ansible's where it has one, so `when:` lines read the same:

    os_family  distribution  distribution_version  distribution_major_version  architecture  kernel
    system  processor_count  memtotal_mb  hostname  fqdn  default_ipv4
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

log = logging.getLogger(__name__)

# One POSIX sh script: /etc/os-release read in a subshell, everything else from coreutils or /proc.
SCRIPT = r"""
( . /etc/os-release 2>/dev/null; echo "id=${ID:-}"; echo "id_like=${ID_LIKE:-}"; echo "version_id=${VERSION_ID:-}" )
echo "system=$(uname -s)"
echo "architecture=$(uname -m)"
echo "kernel=$(uname -r)"
echo "processor_count=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 0)"
echo "mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null)"
echo "hostname=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
echo "fqdn=$(hostname -f 2>/dev/null || hostname 2>/dev/null)"
ip4=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
[ -n "$ip4" ] || ip4=$(hostname -i 2>/dev/null | tr ' ' '\n' | grep -m1 '^[0-9][0-9.]*$')
echo "default_ipv4=${ip4:-}"
"""

FACT_NAMES = ("os_family", "distribution", "distribution_version", "distribution_major_version", "architecture",
              "kernel", "system", "processor_count", "memtotal_mb", "hostname", "fqdn", "default_ipv4")
_DISTRIBUTIONS = {"debian": "Debian", "ubuntu": "Ubuntu", "alpine": "Alpine", "centos": "CentOS", "rhel": "RedHat",
                  "fedora": "Fedora", "rocky": "Rocky", "almalinux": "AlmaLinux", "arch": "Archlinux",
                  "amzn": "Amazon", "opensuse-leap": "openSUSE Leap", "sles": "SLES", "raspbian": "Debian"}
_FAMILIES = {"debian": "Debian", "ubuntu": "Debian", "raspbian": "Debian", "rhel": "RedHat", "fedora": "RedHat",
             "centos": "RedHat", "rocky": "RedHat", "almalinux": "RedHat", "amzn": "RedHat", "alpine": "Alpine",
             "arch": "Archlinux", "suse": "Suse", "opensuse": "Suse", "sles": "Suse"}


class FactsUnavailable(Exception):
    """The facts of a host could not be read (it did not answer, or the command failed)."""


class _Runs(Protocol):
    def run(self, argv: list[str], *, idempotent: bool = ..., shown: str | None = ...) -> Any: ...


def placeholder_facts(target: str) -> dict[str, Any]:
    """What `host.facts` holds while a spec is validated without contacting its hosts: every name is
    there (a misspelt one is still an error), with stand-in values."""
    numbers = {"processor_count": 1, "memtotal_mb": 1024}
    return {name: numbers.get(name, f"<{name} of {target}>") for name in FACT_NAMES}


def parse_facts(text: str) -> dict[str, Any]:
    raw = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    ident = raw.get("id", "").strip().lower()
    likes = raw.get("id_like", "").lower().split()
    family = next((_FAMILIES[k] for k in [ident, *likes] if k in _FAMILIES), ident.capitalize() or "Unknown")
    version = raw.get("version_id", "").strip()
    try:
        mem_mb = int(raw.get("mem_kb", "0") or 0) // 1024
    except ValueError:
        mem_mb = 0
    try:
        cpus = int(raw.get("processor_count", "0") or 0)
    except ValueError:
        cpus = 0
    return {
        "os_family": family,
        "distribution": _DISTRIBUTIONS.get(ident, ident.capitalize() or "Unknown"),
        "distribution_version": version,
        "distribution_major_version": version.split(".")[0] if version else "",
        "architecture": raw.get("architecture", "").strip(),
        "kernel": raw.get("kernel", "").strip(),
        "system": raw.get("system", "").strip(),
        "processor_count": cpus,
        "memtotal_mb": mem_mb,
        "hostname": raw.get("hostname", "").strip(),
        "fqdn": raw.get("fqdn", "").strip(),
        "default_ipv4": raw.get("default_ipv4", "").strip(),
    }


def read_facts(target: _Runs) -> dict[str, Any]:
    result = target.run(["sh", "-c", SCRIPT], idempotent=True, shown="gather host facts")
    if result.rc != 0:
        raise FactsUnavailable(result.stderr.decode(errors="replace").strip()[-500:] or f"exit {result.rc}")
    return parse_facts(result.stdout.decode(errors="replace"))


def gather_facts(targets: Mapping[str, Any], parallelism: int) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The facts of every target (name -> facts), in parallel, one command each; and why each that failed
    failed. `targets` maps names to server targets, or to a callable that makes one (it may fail)."""
    facts: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}

    def one(name: str) -> None:
        try:
            target = targets[name]
            facts[name] = read_facts(target() if callable(target) else target)
        except Exception as exc:  # noqa: BLE001 - per-host isolation: the caller reports each host's reason
            log.debug("facts of %s", name, exc_info=True)
            failed[name] = str(exc) or type(exc).__name__

    if targets:
        with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(targets))),
                                thread_name_prefix="facts") as pool:
            list(pool.map(one, sorted(targets)))
    return facts, failed
