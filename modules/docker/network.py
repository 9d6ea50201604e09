"""`docker.network`: a user-defined network. Its settings are fixed at creation: a change replaces it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import Discovers
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module
from reconciler.targets.docker import DockerEngine

from .common import labelled, labels_for, labels_match, object_name, observe_objects, user_labels


class NetworkModule(Module[DockerEngine], Discovers):
    type_name = "docker.network"
    name_attribute = "network_name"
    family = "docker"
    computed = frozenset({"id", "network_name"})
    requires_replace = frozenset({"driver", "subnet", "internal", "labels", "managed", "network_name"})
    not_compared = frozenset({"state", "adopt"})

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"network_name": object_name(resource, "network_name")}

    def desired(self, resource: Resource) -> dict[str, Any]:
        out: dict[str, Any] = {"driver": resource.get("driver") or "bridge", "managed": True,
                               "network_name": object_name(resource, "network_name"),
                               "internal": bool(resource.get("internal", False))}
        if resource.get("subnet"):
            out["subnet"] = resource.get("subnet")
        if resource.get("labels") is not None:
            out["labels"] = {str(k): str(v) for k, v in resource.get("labels").items()}
        return out

    def equal(self, name: str, desired: Any, observed: Any) -> bool:
        return labels_match(desired, observed) if name == "labels" else bool(desired == observed)

    def physical_key(self, resource: Resource) -> str | None:
        return f"network {object_name(resource, 'network_name')}"

    def discover(self, engine: DockerEngine) -> dict[str, dict[str, Any]]:
        return labelled(engine, engine.networks())

    def observe(self, engine: DockerEngine, resources: Sequence[Resource]) -> Mapping[str, Any]:
        def build(r: Resource, net: dict[str, Any], adopted: bool) -> Observed:
            pools = (net.get("IPAM") or {}).get("Config") or []
            return Observed({
                "id": net["Id"], "network_name": net["Name"], "driver": net.get("Driver"), "managed": not adopted,
                "internal": bool(net.get("Internal")), "subnet": pools[0].get("Subnet") if pools else None,
                "labels": user_labels(net.get("Labels")),
            }, identity={"id": net["Id"], "name": net["Name"]})

        return observe_objects(engine, resources, engine.networks(), lambda n: [n["Name"]], "network_name", build)

    def apply(self, engine: DockerEngine, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        want = self.desired(r)
        ipam = None
        if want.get("subnet"):
            from docker.types import IPAMConfig, IPAMPool

            ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=want["subnet"])])
        created = engine.api.create_network(object_name(r, "network_name"), driver=want["driver"],
                                            internal=want["internal"], labels=labels_for(engine, r), ipam=ipam)
        return Observed({**want, "id": created["Id"], "network_name": object_name(r, "network_name")},
                        identity={"id": created["Id"], "name": object_name(r, "network_name")})

    def delete(self, engine: DockerEngine, resource: Resource, observed: Observed) -> None:
        engine.api.remove_network(str(observed.identity.get("id") or observed.attributes["id"]))
