"""`docker.image`: an image pulled from a registry or built from a context directory.

Observed from one image list per engine. `pull: always` asks the registry for the tag's current
digest (one distribution call per such image) and pulls when it moved. A `build:` image carries
the hash of its context in a label and is rebuilt when the context's content changes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.capabilities import Discovers
from reconciler.diagnostics import LintFinding
from reconciler.errors import ModuleError
from reconciler.model import Action, AttrDiff, Change, Observed, Resource
from reconciler.module import Module
from reconciler.targets.docker import DockerEngine, normalize_reference

from .common import LABEL_ADDRESS, LABEL_STACK, labelled, labels_for, unpinned_image

CONTEXT_LABEL = "reconcile.context-hash"


def context_hash(context: str, dockerfile: str | None) -> str:
    """sha256 over every file's relative path, mode and content under the build context."""
    digest = hashlib.sha256()
    root = Path(context)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            digest.update(f"{rel}\0{path.stat().st_mode & 0o777:o}\0".encode())
            digest.update(path.read_bytes())
    digest.update(f"dockerfile={dockerfile or 'Dockerfile'}".encode())
    return "sha256:" + digest.hexdigest()


def split_reference(reference: str) -> tuple[str, str | None]:
    """repo:tag -> (repo, tag); repo@sha256:x -> (repo@sha256:x, None) for the pull API."""
    if "@" in reference:
        return reference, None
    full = normalize_reference(reference)
    repo, _, tag = full.rpartition(":")
    return repo, tag


class ImageModule(Module[DockerEngine], Discovers):
    type_name = "docker.image"
    name_attribute = "image"
    family = "docker"
    sensitive = frozenset({"auth"})
    computed = frozenset({"id", "digest"})
    volatile = frozenset({"id", "digest"})
    not_compared = frozenset({"state", "build", "pull", "auth", "image"})

    def reference(self, resource: Resource) -> str:
        return str(resource.get("image") or resource.name)

    def desired(self, resource: Resource) -> dict[str, Any]:
        out: dict[str, Any] = {"present": True}
        build = resource.get("build")
        if build:
            out["context_hash"] = context_hash(self._context(resource), build.get("dockerfile"))
        return out

    @staticmethod
    def _context(resource: Resource) -> str:
        build = resource.get("build") or {}
        context = str(build["context"])
        if not os.path.isabs(context) and resource.location:
            context = str(Path(resource.location.file).parent / context)
        return context

    def lint(self, resource: Resource) -> list[LintFinding]:
        return unpinned_image(resource)

    def physical_key(self, resource: Resource) -> str | None:
        return f"image {normalize_reference(self.reference(resource))}"

    def discover(self, engine: DockerEngine) -> dict[str, dict[str, Any]]:
        return labelled(engine, engine.images())

    def observe(self, engine: DockerEngine, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        out: dict[str, Observed | None] = {}
        for r in resources:
            ref = self.reference(r)
            ident = engine.image_id(ref)
            if ident is None:
                out[r.address] = None
                continue
            image = next(i for i in engine.images() if i["Id"] == ident)
            repo = split_reference(ref)[0].split("@")[0]
            digests = [d for d in image.get("RepoDigests") or [] if d.split("@")[0] == repo]
            attrs: dict[str, Any] = {"present": True, "id": ident, "digest": digests[0].split("@")[1] if digests else None,
                                     "context_hash": (image.get("Labels") or {}).get(CONTEXT_LABEL)}
            if r.get("pull") == "always" and not r.get("build") and "@" not in ref:
                attrs["registry_digest"] = self._registry_digest(engine, ref, r)
            labels = image.get("Labels") or {}
            ours = labels.get(LABEL_ADDRESS) == r.address and labels.get(LABEL_STACK) == engine.stack
            out[r.address] = Observed(attrs, identity={"id": ident}, ours=ours)
        return out

    @staticmethod
    def _registry_digest(engine: DockerEngine, ref: str, r: Resource) -> str | None:
        try:
            return str(engine.api.inspect_distribution(ref, auth_config=r.get("auth"))["Descriptor"]["digest"])
        except Exception as exc:
            raise ModuleError(f"cannot ask the registry for {ref}: {exc}", retryable=True) from exc

    def refine_change(self, change: Change, resource: Resource, observed: Observed | None) -> Change:
        if observed is None or change.action is not Action.NOOP:
            return change
        local, remote = observed.attributes.get("digest"), observed.attributes.get("registry_digest")
        if remote and local != remote:
            return Change(change.address, change.type, Action.UPDATE, (AttrDiff("digest", local, remote),),
                          reason="the registry has a new image for the tag", resource=resource, observed=observed)
        return change

    def apply(self, engine: DockerEngine, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        ref = self.reference(r)
        if r.get("build"):
            self._build(engine, r, ref)
        else:
            repo, tag = split_reference(ref)
            engine.api.pull(repo, tag=tag, auth_config=r.get("auth"))
        ident = engine.image_id(ref)
        if ident is None:
            raise ModuleError(f"{ref} is not on the engine after {'building' if r.get('build') else 'pulling'} it")
        return Observed({**self.desired(r), "id": ident}, identity={"id": ident})

    def _build(self, engine: DockerEngine, r: Resource, ref: str) -> None:
        build = r.get("build")
        context = self._context(r)
        labels = labels_for(engine, r, {CONTEXT_LABEL: context_hash(context, build.get("dockerfile"))})
        labels.pop("reconcile.config", None)
        for chunk in engine.api.build(path=context, dockerfile=build.get("dockerfile"), tag=ref, labels=labels,
                                      buildargs={str(k): str(v) for k, v in (build.get("args") or {}).items()} or None,
                                      rm=True, decode=True):
            if "error" in chunk:
                raise ModuleError(f"build of {ref} failed: {chunk['error'].strip()}")

    def delete(self, engine: DockerEngine, resource: Resource, observed: Observed) -> None:
        engine.api.remove_image(self.reference(resource))
