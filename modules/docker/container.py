"""`docker.container`: a container, observed from ONE list call per engine.

The list API shows state, image id, ports, mounts, networks and labels, but not the settings fixed at
creation (command, entrypoint, env, user, working_dir, healthcheck). Those cannot change without
recreating the container, so reconcile records them in the `reconcile.config` label when it creates
one and reads them back from there. Restart policy, memory and cpus can be changed in place (and
behind our back, with `docker update`), so a container that sets any of them costs one inspect.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import Discovers
from reconciler.diagnostics import LintFinding
from reconciler.errors import ModuleError
from reconciler.model import Action, AttrDiff, Change, Observed, Resource
from reconciler.module import Module
from reconciler.targets.docker import DockerEngine

from .common import (
    labelled,
    labels_for,
    labels_match,
    object_name,
    observe_objects,
    parse_bytes,
    unpinned_image,
    user_labels,
)
from .container_settings import (
    argv_of,
    as_text,
    env_digest,
    healthcheck_config,
    network_aliases,
    port_bindings,
    restart_mode,
    volume_binds,
)

CONFIG_LABEL = "reconcile.config"
CREATION_SETTINGS = ("image", "command", "entrypoint", "env", "user", "working_dir", "healthcheck", "ports")
IN_PLACE = ("restart_policy", "memory", "cpus")
CPU_PERIOD = 100_000
START_WAIT = 2.0  # seconds a started container is watched for an immediate exit


class ContainerModule(Module[DockerEngine], Discovers):
    type_name = "docker.container"
    family = "docker"
    computed = frozenset({"id", "image_id", "container_name"})
    requires_replace = frozenset(CREATION_SETTINGS + ("volumes", "networks", "labels", "managed", "image_id"))
    not_compared = frozenset({"adopt", "wait", "wait_timeout", "stop_timeout", "start_wait"})
    absent_states = frozenset({"absent"})
    default_state = "running"

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"container_name": object_name(resource, "container_name")}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        out: dict[str, Any] = {"image": r.get("image"), "state": self.state_of(r), "managed": True,
                               "container_name": object_name(r, "container_name")}
        if r.get("command") is not None:
            out["command"] = argv_of(r.get("command"))
        if r.get("entrypoint") is not None:
            out["entrypoint"] = argv_of(r.get("entrypoint"))
        if r.get("env") is not None:
            env = {str(k): as_text(v) for k, v in r.get("env").items()}
            out["env"] = env_digest(env) if "env" in self.secret_attributes(r) else env
        for key in ("user", "working_dir"):
            if r.get(key) is not None:
                out[key] = str(r.get(key))
        if r.get("ports") is not None:
            out["ports"] = port_bindings(r.get("ports"))
        if r.get("volumes") is not None:
            out["volumes"] = volume_binds(r.get("volumes"))
        if r.get("networks") is not None:
            out["networks"] = network_aliases(r.get("networks"))
        if r.get("labels") is not None:
            out["labels"] = {str(k): str(v) for k, v in r.get("labels").items()}
        if r.get("healthcheck") is not None:
            out["healthcheck"] = healthcheck_config(r.get("healthcheck"))
        if r.get("restart_policy") is not None:
            out["restart_policy"] = restart_mode(str(r.get("restart_policy")))
        if r.get("memory") is not None:
            out["memory"] = parse_bytes(r.get("memory"))
        if r.get("cpus") is not None:
            out["cpus"] = float(r.get("cpus"))
        return out

    def equal(self, name: str, desired: Any, observed: Any) -> bool:
        if name == "labels":
            return labels_match(desired, observed)
        if name == "networks":  # the spec's networks, each with at least the spec's aliases
            have = observed or {}
            return set(desired) == set(have) and all(set(a) <= set(have[n]) for n, a in desired.items())
        return bool(desired == observed)

    def lint(self, resource: Resource) -> list[LintFinding]:
        return unpinned_image(resource)

    def physical_key(self, resource: Resource) -> str | None:
        return f"container {object_name(resource, 'container_name')}"

    # -- observe ------------------------------------------------------------------------------
    def discover(self, engine: DockerEngine) -> dict[str, dict[str, Any]]:
        return labelled(engine, engine.containers())

    def observe(self, engine: DockerEngine, resources: Sequence[Resource]) -> Mapping[str, Any]:
        def build(r: Resource, container: dict[str, Any], adopted: bool) -> Observed:
            attrs = self._from_list(container, adopted)
            attrs["image_id_now"] = engine.image_id(str(r.get("image")))
            if any(r.get(k) is not None for k in IN_PLACE):  # not in the list: one inspect for these
                attrs |= self._in_place_settings(engine.api.inspect_container(container["Id"]))
            return Observed(attrs, identity={"id": container["Id"]})

        return observe_objects(engine, resources, engine.containers(),
                               lambda c: [n.lstrip("/") for n in c.get("Names") or []], "container_name", build)

    @staticmethod
    def _from_list(c: Mapping[str, Any], adopted: bool) -> dict[str, Any]:
        labels = c.get("Labels") or {}
        config = json.loads(labels.get(CONFIG_LABEL, "{}"))
        running = c.get("State") in ("running", "restarting", "paused")
        ports = [f"{p.get('IP') or '0.0.0.0'}:{p['PublicPort']}:{p['PrivatePort']}/{p.get('Type', 'tcp')}"
                 for p in c.get("Ports") or [] if p.get("PublicPort") and ":" not in (p.get("IP") or "")]
        volumes = []
        for m in c.get("Mounts") or []:
            source = m.get("Name") if m.get("Type") == "volume" else m.get("Source")
            volumes.append(f"{source}:{m['Destination']}" + ("" if m.get("RW", True) else ":ro"))
        # the list shows which networks, not the aliases: those were recorded at creation
        aliases = config.get("networks") or {}
        networks = {name: sorted(set(n.get("Aliases") or aliases.get(name) or []))
                    for name, n in ((c.get("NetworkSettings") or {}).get("Networks") or {}).items()}
        return {
            "id": c["Id"], "container_name": (c.get("Names") or ["/"])[0].lstrip("/"),
            "state": "running" if running else "stopped", "managed": not adopted,
            "image": config.get("image", c.get("Image")), "image_id": c.get("ImageID"),
            **{k: config.get(k) for k in ("command", "entrypoint", "env", "user", "working_dir", "healthcheck")},
            "ports": sorted(set(ports)) if running else config.get("ports", []),
            "volumes": sorted(volumes), "networks": networks, "labels": user_labels(labels),
        }

    @staticmethod
    def _in_place_settings(inspected: Mapping[str, Any]) -> dict[str, Any]:
        host = inspected.get("HostConfig") or {}
        policy = host.get("RestartPolicy") or {}
        name = policy.get("Name") or "no"
        if name == "on-failure" and policy.get("MaximumRetryCount"):
            name = f"on-failure:{policy['MaximumRetryCount']}"
        quota, period = host.get("CpuQuota") or 0, host.get("CpuPeriod") or CPU_PERIOD
        return {"restart_policy": name, "memory": host.get("Memory") or 0,
                "cpus": round(quota / period, 3) if quota > 0 else 0.0}

    def refine_change(self, change: Change, resource: Resource, observed: Observed | None) -> Change:
        if observed is None or change.action not in (Action.NOOP, Action.UPDATE):
            return change
        then, now = observed.attributes.get("image_id"), observed.attributes.get("image_id_now")
        if then and now and then != now:  # the tag now points at another image
            moved = AttrDiff("image_id", then, now, forces_replace=True)
            return Change(change.address, change.type, Action.REPLACE, change.diffs + (moved,),
                          resource=resource, observed=observed)
        return change

    # -- apply --------------------------------------------------------------------------------
    def apply(self, engine: DockerEngine, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        want = self.desired(r)
        if change.action is Action.CREATE:
            later = bool(self._shared_host_ports(want, change))
            ident = self._create(engine, r, want, self._coexisting_name(r, change), start=not later)
            if later:  # made and checked now, started once the old one has let go of its ports (after_replace)
                return self._made(r, want, ident)
        else:
            ident = str((change.observed.identity if change.observed else {})["id"])
            self._update(engine, ident, r, want, {d.name for d in change.diffs})
        self._check_started(engine, r, want, ident, change.action is Action.CREATE or "state" in
                            {d.name for d in change.diffs})
        return self._made(r, want, ident)

    @staticmethod
    def _made(r: Resource, want: Mapping[str, Any], ident: str) -> Observed:
        return Observed({**want, "id": ident, "container_name": object_name(r, "container_name")},
                        identity={"id": ident})

    def _check_started(self, engine: DockerEngine, r: Resource, want: Mapping[str, Any], ident: str,
                       started: bool) -> None:
        if want["state"] == "running" and r.get("wait") == "healthy":
            self._wait_healthy(engine, ident, float(r.get("wait_timeout") or 60))
        elif want["state"] == "running" and started:
            self._stays_up(engine, ident, float(r.get("start_wait", START_WAIT)))

    @staticmethod
    def _shared_host_ports(want: Mapping[str, Any], change: Change) -> set[str]:
        """With create_before_destroy, the host ports the old container (still running) publishes that the new
        one wants too: the new one cannot bind them before the old one is gone."""
        if change.replacing is None or want["state"] != "running":
            return set()
        def bound(ports: Any) -> set[str]:
            return {p.rsplit(":", 1)[0] + "/" + p.rsplit("/", 1)[-1] for p in ports or []}
        return bound(want.get("ports")) & bound(change.replacing.attributes.get("ports"))

    @staticmethod
    def _coexisting_name(r: Resource, change: Change) -> str | None:
        """With create_before_destroy the old container still exists: the new one takes a temporary name
        when the two would clash, and is renamed once the old one is gone (after_replace)."""
        old = change.replacing.attributes.get("container_name") if change.replacing is not None else None
        name = object_name(r, "container_name")
        return f"{name}-reconcile-new" if old == name else None

    def prepare_replace(self, engine: DockerEngine, change: Change) -> None:
        """Pull the new image before the old container is touched: a bad tag fails with it still running."""
        assert change.resource is not None
        self._ensure_image(engine, str(change.resource.get("image")))

    def after_replace(self, engine: DockerEngine, change: Change, new: Observed) -> Observed:
        """The old container is gone: the new one takes its name and, when they publish the same host ports
        (where ports do not allow the two to run side by side), is started now."""
        r = change.resource
        assert r is not None
        ident = str(new.identity["id"])
        if self._coexisting_name(r, change):
            engine.api.rename(ident, object_name(r, "container_name"))
        want = self.desired(r)
        if self._shared_host_ports(want, change):
            engine.api.start(ident)
            self._check_started(engine, r, want, ident, True)
        return new

    @staticmethod
    def _ensure_image(engine: DockerEngine, image: str) -> None:
        if engine.image_id(image) is None:
            repo, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
            if "@" in image:
                repo, tag = image, ""
            engine.api.pull(repo, tag=tag or None)

    def _create(self, engine: DockerEngine, r: Resource, want: Mapping[str, Any], temporary_name: str | None = None,
                start: bool = True) -> str:
        api = engine.api
        image = str(r.get("image"))
        self._ensure_image(engine, image)
        config = {k: want.get(k) for k in CREATION_SETTINGS + ("networks",) if k in want}
        port_bindings, exposed = {}, []
        for port in want.get("ports", []):
            address, proto = port.rsplit("/", 1)
            ip, host, cont = address.split(":")
            port_bindings[f"{cont}/{proto}"] = (ip, int(host))
            exposed.append((int(cont), proto))
        policy = want.get("restart_policy")
        host_config = api.create_host_config(
            port_bindings=port_bindings or None, binds=want.get("volumes") or None,
            restart_policy=self._policy(policy) if policy else None,
            mem_limit=want.get("memory"), memswap_limit=-1 if want.get("memory") else None,
            cpu_period=CPU_PERIOD if want.get("cpus") else None,
            cpu_quota=int(want["cpus"] * CPU_PERIOD) if want.get("cpus") else None,
        )
        networks = list(want.get("networks", {}).items())
        networking = None
        if networks:
            first, aliases = networks[0]
            networking = api.create_networking_config({first: api.create_endpoint_config(aliases=aliases or None)})
        env = {str(k): as_text(v) for k, v in (r.get("env") or {}).items()}
        created = api.create_container(
            image=image, command=want.get("command"), entrypoint=want.get("entrypoint"),
            environment=env or None, user=want.get("user"), working_dir=want.get("working_dir"),
            labels=labels_for(engine, r, {CONFIG_LABEL: json.dumps(config, sort_keys=True)}),
            healthcheck=want.get("healthcheck"), host_config=host_config, networking_config=networking,
            name=temporary_name or object_name(r, "container_name"), ports=exposed or None,
            stop_timeout=int(r.get("stop_timeout")) if r.get("stop_timeout") is not None else None,
        )
        ident = str(created["Id"])
        try:
            for name, aliases in networks[1:]:
                api.connect_container_to_network(ident, name, aliases=aliases or None)
            if want["state"] == "running" and start:
                api.start(ident)
        except Exception:
            api.remove_container(ident, force=True)  # nothing half-made stays behind
            raise
        return ident

    @staticmethod
    def _policy(value: str) -> dict[str, Any]:
        name, _, count = value.partition(":")
        return {"Name": "" if name == "no" else name, "MaximumRetryCount": int(count or 0)}

    def _update(self, engine: DockerEngine, ident: str, r: Resource, want: Mapping[str, Any],
                changed: set[str]) -> None:
        api = engine.api
        if "container_name" in changed:  # a container can be renamed in place
            api.rename(ident, want["container_name"])
        if changed & set(IN_PLACE):
            api.update_container(
                ident,
                restart_policy=self._policy(want["restart_policy"]) if "restart_policy" in changed else None,
                mem_limit=want.get("memory") if "memory" in changed else None,
                memswap_limit=-1 if "memory" in changed else None,
                cpu_period=CPU_PERIOD if "cpus" in changed else None,
                cpu_quota=int(want["cpus"] * CPU_PERIOD) if "cpus" in changed else None,
            )
        if "state" in changed:
            if want["state"] == "running":
                api.start(ident)
            else:
                api.stop(ident, timeout=int(r.get("stop_timeout") or 10))

    @staticmethod
    def _stays_up(engine: DockerEngine, ident: str, seconds: float) -> None:
        """A container that exits right after starting is a failure, reported with its exit code and the
        end of its log (not "Creation complete" followed by a plan that restarts it forever)."""
        deadline = time.monotonic() + seconds
        while True:
            state = engine.api.inspect_container(ident).get("State") or {}
            if not state.get("Running") and not state.get("Restarting"):
                tail = engine.api.logs(ident, tail=5).decode(errors="replace").strip()
                shown = " | ".join(tail.splitlines()[-5:])
                raise ModuleError(f"the container exited with code {state.get('ExitCode')} right after it "
                                  f"started" + (f"; its last log lines: {shown}" if shown else ""))
            if time.monotonic() >= deadline:
                return
            time.sleep(0.2)

    @staticmethod
    def _wait_healthy(engine: DockerEngine, ident: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        status = "unknown"
        while time.monotonic() < deadline:
            health = (engine.api.inspect_container(ident).get("State") or {}).get("Health") or {}
            status = health.get("Status", "none")
            if status == "healthy":
                return
            if status == "none":
                raise ModuleError("wait: healthy needs a healthcheck (in the spec or the image)")
            time.sleep(0.25)
        raise ModuleError(f"container not healthy after {timeout:.0f}s (last status: {status})", retryable=False)

    def delete(self, engine: DockerEngine, resource: Resource, observed: Observed) -> None:
        ident = str(observed.identity.get("id") or observed.attributes["id"])
        engine.api.stop(ident, timeout=int(resource.get("stop_timeout") or 10))
        engine.api.remove_container(ident, v=False, force=True)
