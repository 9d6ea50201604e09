"""`docker.volume`: a named volume. Settings are fixed at creation; destroying one that holds data
needs `lifecycle.prevent_destroy: false` written in the spec, or `--allow-data-loss`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import Discovers
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module
from reconciler.targets.docker import DockerEngine

from .common import labelled, labels_for, labels_match, object_name, observe_objects, user_labels


class VolumeModule(Module[DockerEngine], Discovers):
    type_name = "docker.volume"
    name_attribute = "volume_name"
    family = "docker"
    computed = frozenset({"volume_name", "mountpoint"})
    requires_replace = frozenset({"driver", "driver_opts", "labels", "managed", "volume_name"})
    not_compared = frozenset({"state", "adopt"})

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"volume_name": object_name(resource, "volume_name")}

    def desired(self, resource: Resource) -> dict[str, Any]:
        out: dict[str, Any] = {"driver": resource.get("driver") or "local", "managed": True,
                               "volume_name": object_name(resource, "volume_name")}
        if resource.get("driver_opts") is not None:
            out["driver_opts"] = {str(k): str(v) for k, v in resource.get("driver_opts").items()}
        if resource.get("labels") is not None:
            out["labels"] = {str(k): str(v) for k, v in resource.get("labels").items()}
        return out

    def equal(self, name: str, desired: Any, observed: Any) -> bool:
        return labels_match(desired, observed) if name == "labels" else bool(desired == observed)

    def discover(self, engine: DockerEngine) -> dict[str, dict[str, Any]]:
        return labelled(engine, engine.volumes(), name_key="Name")

    def observe(self, engine: DockerEngine, resources: Sequence[Resource]) -> Mapping[str, Any]:
        def build(r: Resource, vol: dict[str, Any], adopted: bool) -> Observed:
            return Observed({
                "volume_name": vol["Name"], "driver": vol.get("Driver"), "managed": not adopted,
                "driver_opts": vol.get("Options") or {}, "labels": user_labels(vol.get("Labels")),
                "mountpoint": vol.get("Mountpoint"),
            }, identity={"name": vol["Name"]})

        return observe_objects(engine, resources, engine.volumes(), lambda v: [v["Name"]], "volume_name", build,
                               id_key="Name")

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"name": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"volume {object_name(resource, 'volume_name')}"

    def destroy_hazard(self, engine: DockerEngine, change: Change, going: Sequence[Change] = ()) -> str | None:
        name = (change.observed.identity if change.observed else {}).get("name")
        if not name:
            return None
        usage = {v["Name"]: (v.get("UsageData") or {}).get("Size", -1) for v in engine.api.df().get("Volumes") or []}
        size = usage.get(name, -1)
        if size == 0:
            return None
        return f"volume {name} holds {size} bytes of data" if size > 0 else f"volume {name} may hold data"

    def apply(self, engine: DockerEngine, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        want = self.desired(r)
        created = engine.api.create_volume(object_name(r, "volume_name"), driver=want["driver"],
                                           driver_opts=want.get("driver_opts"), labels=labels_for(engine, r))
        return Observed({**want, "volume_name": created["Name"], "mountpoint": created.get("Mountpoint")},
                        identity={"name": created["Name"]})

    def delete(self, engine: DockerEngine, resource: Resource, observed: Observed) -> None:
        engine.api.remove_volume(str(observed.identity.get("name") or observed.attributes["volume_name"]))
