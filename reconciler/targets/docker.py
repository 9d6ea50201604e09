"""A Docker engine target: one docker SDK client per engine per run, and the list calls modules share.

Observation is one filtered list per engine and object kind; the lists are memoised for the
run's observation phase and dropped after anything changes the engine.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from reconciler.errors import ReconcileError
from reconciler.model import Spec

LABEL_ADDRESS = "reconcile.address"
LABEL_STACK = "reconcile.stack"  # the stack identity (spec name/workspace) of the run that created it


class DockerEngine:
    def __init__(self, name: str, stack: str, base_url: str | None = None, timeout: float = 60,
                 tls: bool = False):
        import docker  # imported only when a spec has Docker resources

        self.name = name
        self.stack = stack
        try:
            if base_url is None:
                self.client = docker.from_env(timeout=int(timeout))
            else:
                self.client = docker.DockerClient(base_url=base_url, timeout=int(timeout), tls=tls or None)
            self.api = self.client.api
            self.calls = 0
            self._count_lock = threading.Lock()
            self.api.hooks["response"].append(self._count)
            self.api.ping()
        except Exception as exc:  # docker.errors.DockerException and connection errors
            raise ReconcileError(f"docker engine {name} unreachable: {exc}") from exc
        self._lists: dict[str, Any] = {}
        self._list_lock = threading.Lock()

    def _count(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        with self._count_lock:
            self.calls += 1
        return response

    def _listed(self, key: str, fetch: Any) -> Any:
        with self._list_lock:
            if key not in self._lists:
                self._lists[key] = fetch()
            return self._lists[key]

    def containers(self) -> list[dict[str, Any]]:
        """Every container on the engine (one call); modules split labelled from foreign ones."""
        return self._listed("containers", lambda: self.api.containers(all=True))

    def images(self) -> list[dict[str, Any]]:
        return self._listed("images", lambda: self.api.images())

    def networks(self) -> list[dict[str, Any]]:
        return self._listed("networks", lambda: self.api.networks())

    def volumes(self) -> list[dict[str, Any]]:
        return self._listed("volumes", lambda: self.api.volumes().get("Volumes") or [])

    def changed(self) -> None:
        """Forget the memoised lists: something on the engine changed."""
        with self._list_lock:
            self._lists.clear()

    def image_id(self, reference: str) -> str | None:
        """The local image id a reference (repo:tag, repo@digest or id) resolves to, from the list."""
        wanted = normalize_reference(reference)
        for image in self.images():
            names = [normalize_reference(t) for t in (image.get("RepoTags") or [])]
            names += [d for d in (image.get("RepoDigests") or [])]
            if wanted in names or image["Id"] == reference or image["Id"].removeprefix("sha256:") == reference:
                return str(image["Id"])
        return None

    def labels(self, address: str) -> dict[str, str]:
        return {LABEL_ADDRESS: address, LABEL_STACK: self.stack}

    def close(self) -> None:
        self.client.close()


def normalize_reference(reference: str) -> str:
    """`busybox` -> `busybox:latest`; digests and explicit tags are left alone."""
    if "@" in reference:
        return reference
    last = reference.rsplit("/", 1)[-1]
    return reference if ":" in last else reference + ":latest"


def owner_of(labels: Mapping[str, str] | None) -> str | None:
    return (labels or {}).get(LABEL_ADDRESS)


def stack_of(labels: Mapping[str, str] | None) -> str | None:
    return (labels or {}).get(LABEL_STACK)


def docker_target(spec: Spec, name: str) -> DockerEngine:
    engines = (spec.settings.get("docker") or {}).get("engines") or {}
    stack = str(spec.stack)
    if name == "local" and name not in engines:
        return DockerEngine(name, stack)
    if name not in engines:
        raise ReconcileError(f"docker engine {name} is not defined under docker.engines in the spec "
                             "(resources removed from the spec are deleted on the engine they were on)")
    cfg = engines[name]
    base_url = str(cfg["base_url"])
    if base_url.startswith("ssh://"):
        base_url = _ssh_url(spec, base_url)
    return DockerEngine(name, stack, base_url, float(cfg.get("timeout", 60)), bool(cfg.get("tls", False)))


def _ssh_url(spec: Spec, base_url: str) -> str:
    """ssh://user@web1 where web1 is an inventory host becomes ssh://user@ADDRESS:PORT."""
    rest = base_url[len("ssh://"):]
    user, _, host = rest.rpartition("@")
    entry = spec.inventory.hosts.get(host)
    if entry is None:
        return base_url
    user = user or entry.user or "root"
    return f"ssh://{user}@{entry.address}:{entry.port}"
