"""A Docker engine target: one docker SDK client per engine per run, and the list calls modules share.

Observation is one filtered list per engine and object kind; the lists are memoised for the
run's observation phase and dropped after anything changes the engine.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.errors import ReconcileError
from reconciler.inventory import Host
from reconciler.model import Spec

LABEL_ADDRESS = "reconcile.address"
LABEL_STACK = "reconcile.stack"  # the stack identity (spec name/workspace) of the run that created it

log = logging.getLogger(__name__)


class DockerEngine:
    def __init__(self, name: str, stack: str, base_url: str | None = None, timeout: float = 60,
                 tls: bool = False, client_factory: Any = None):
        import docker  # imported only when a spec has Docker resources

        self.name = name
        self.stack = stack
        try:
            if client_factory is not None:
                self.client = client_factory()
            elif base_url is None:
                self.client = docker.from_env(timeout=int(timeout))
            else:
                self.client = docker.DockerClient(base_url=base_url, timeout=int(timeout), tls=tls or None)
            self.api = NamedAPI(self.client.api, name, on_change=self.changed)
            self.calls = 0
            self._count_lock = threading.Lock()
            self.client.api.hooks["response"].append(self._count)
            self.client.api.ping()
        except Exception as exc:  # noqa: BLE001 - docker.errors.DockerException and connection errors alike
            raise ReconcileError(f"docker engine {name} unreachable: {engine_reason(exc)}") from None
        self._lists: dict[str, list[dict[str, Any]]] = {}
        self._list_lock = threading.Lock()

    def _count(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        request = getattr(response, "request", None)
        log.debug("docker %s: %s %s -> %s", self.name, getattr(request, "method", "?"),
                  str(getattr(request, "path_url", "?")).split("?")[0], getattr(response, "status_code", "?"))
        with self._count_lock:
            self.calls += 1
        return response

    def _listed(self, key: str, fetch: Any) -> list[dict[str, Any]]:
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
        """Forget the memoised lists: something on the engine changed. Called by every mutating call made
        through `api` (modules need not): a failed one too, as it may have changed something."""
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


def engine_reason(exc: BaseException) -> str:
    """What went wrong, in the engine's own words when it gave any, else the connection's."""
    if isinstance(exc, ReconcileError):
        return str(exc)
    explanation = getattr(exc, "explanation", None)
    if explanation:
        return str(explanation.decode() if isinstance(explanation, bytes) else explanation)
    text = str(exc)
    if "Connection refused" in text or "No such file or directory" in text or "ConnectionError" in type(exc).__name__:
        return "cannot connect (is dockerd running? is the address right?)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# APIClient methods that only read: every other call may change what the engine's lists hold
READS = frozenset({"containers", "images", "networks", "volumes", "inspect_container", "inspect_image",
                   "inspect_network", "inspect_volume", "inspect_distribution", "ping", "version", "info", "logs",
                   "df", "exec_inspect", "top", "stats", "events", "get_archive", "diff", "history", "search"})


class NamedAPI:
    """The docker SDK's APIClient, whose every failure names the engine (`docker engine web1: …`) and whose
    every mutating call tells the engine to forget its memoised lists (`on_change`), once the call, or the
    stream it returns (a build, a pull), is over."""

    def __init__(self, api: Any, engine: str, on_change: Any = None):
        self._api = api
        self._engine = engine
        self._on_change = on_change or (lambda: None)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._api, name)
        if not callable(value):
            return value
        mutating = name not in READS

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = value(*args, **kwargs)
            except ReconcileError:
                raise
            except Exception as exc:  # noqa: BLE001 - every SDK and transport error, named
                from reconciler.errors import ModuleError

                raise ModuleError(f"docker engine {self._engine}: {engine_reason(exc)}") from exc
            finally:
                if mutating:
                    self._on_change()
            if mutating and isinstance(result, Iterator):
                return self._then_forget(result)
            return result
        return call

    def _then_forget(self, stream: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from stream
        finally:
            self._on_change()


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
    if name in engines:
        cfg = engines[name]
    elif name in spec.inventory.hosts:  # a host of the inventory: its engine, reached over its SSH settings
        cfg = {"base_url": f"ssh://{name}", **(spec.settings.get("docker") or {}).get("hosts", {})}
    else:
        raise ReconcileError(f"docker engine {name} is neither defined under docker.engines nor an inventory host "
                             "(resources removed from the spec are deleted on the engine they were on)")
    base_url = str(cfg["base_url"])
    timeout = float(cfg.get("timeout", 60))
    if base_url.startswith("ssh://"):
        return DockerEngine(name, stack, client_factory=lambda: ssh_client(spec, name, base_url, timeout))
    return DockerEngine(name, stack, base_url, timeout, bool(cfg.get("tls", False)))


def ssh_host_for(spec: Spec, base_url: str) -> Host:
    """The host an `ssh://[user@]host[:port]` engine lives on: an inventory host by that name brings its
    address, port, user, key, jump hosts and timeouts; any other is taken as written."""
    from urllib.parse import urlparse

    parsed = urlparse(base_url)
    name = parsed.hostname or ""
    entry = spec.inventory.hosts.get(name)
    if entry is not None:
        return dataclasses.replace(entry, user=parsed.username or entry.user, port=parsed.port or entry.port)
    return Host(name=name, address=name, port=parsed.port or 22, user=parsed.username)


def ssh_client(spec: Spec, name: str, base_url: str, timeout: float) -> Any:
    """A docker SDK client speaking to `docker system dial-stdio` on the host, through reconcile's own SSH
    connection: the inventory host's key, port and jump hosts, and the same host-key rules as every SSH
    target (known_hosts of the spec, strict or accept-new)."""
    import docker
    from docker.transport.basehttpadapter import BaseHTTPAdapter
    from docker.transport.sshconn import RecentlyUsedContainer, SSHConnectionPool, SSHHTTPAdapter

    from reconciler.targets.ssh import SSHTarget

    target = SSHTarget(ssh_host_for(spec, base_url), spec.inventory)

    class Adapter(SSHHTTPAdapter):  # type: ignore[misc]  # the SDK's adapter, on a paramiko client that is already connected
        def __init__(self) -> None:
            self.ssh_client = target.client
            self.ssh_host = target.address
            self.timeout = int(timeout)
            self.max_pool_size = target.max_sessions
            self.pools = RecentlyUsedContainer(10, dispose_func=lambda p: p.close())
            BaseHTTPAdapter.__init__(self)

        def get_connection(self, url: str, proxies: Any = None) -> Any:
            """One pool for the engine, whatever the URL (the SDK keeps one per URL, each holding a session
            open, and sshd refuses the 11th), at most MaxSessions - 1 sessions, waiting for a free one."""
            with self.pools.lock:
                pool = self.pools.get("engine")
                if pool is None:
                    if target.transport is None or not target.transport.is_active():
                        self._connect()
                    pool = SSHConnectionPool(ssh_client=self.ssh_client, timeout=self.timeout,
                                             maxsize=max(1, self.max_pool_size - 1), host=self.ssh_host)
                    pool.block = True
                    self.pools["engine"] = pool
            return pool

        def _connect(self) -> None:
            target._reconnect(target.transport)
            self.ssh_client = target.client

        def close(self) -> None:
            BaseHTTPAdapter.close(self)
            target.close()

    api = docker.APIClient(base_url="http://localhost:1", version="1.41", timeout=int(timeout))
    adapter = Adapter()
    api.mount("http+docker://ssh", adapter)
    api._custom_adapter = adapter
    api.base_url = "http+docker://ssh"
    api._version = api._retrieve_server_version()
    client = docker.DockerClient.__new__(docker.DockerClient)
    client.api = api
    return client
