"""data docker.image: an image already on an engine, by reference (repo:tag, repo@digest or id)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.model import Resource, Unobservable
from reconciler.module import DataSource
from reconciler.targets.docker import DockerEngine


class ImageData(DataSource[DockerEngine]):
    type_name = "docker.image"
    family = "docker"
    provides = frozenset({"id", "repo_tags", "repo_digests", "created"})

    def read(self, engine: DockerEngine, queries: Sequence[Resource]) -> Mapping[str, Mapping[str, Any] | Unobservable]:
        out: dict[str, Mapping[str, Any] | Unobservable] = {}
        for q in queries:
            ident = engine.image_id(str(q.get("image")))
            image = next((i for i in engine.images() if i["Id"] == ident), None) if ident else None
            if image is None:
                out[q.address] = Unobservable(f"no image {q.get('image')} on docker engine {engine.name}")
                continue
            out[q.address] = {"id": image["Id"], "repo_tags": list(image.get("RepoTags") or []),
                              "repo_digests": list(image.get("RepoDigests") or []), "created": image.get("Created")}
        return out
