"""`file`: a regular file's content (inline or a Jinja2 template), mode, owner and group."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks, Deferrable, ShowsText
from reconciler.errors import ModuleError
from reconciler.model import Action, Change, Observed, Resource, Unobservable
from reconciler.module import Module, NotConvertible, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import Read, StatRead

from .ansible import OWNERSHIP_KEYS, PATH_KEYS, ownership, path_of
from .paths import content_digest, desired_ownership, observed_ownership, wrong_kind

TEXT_DIFF_LIMIT = 64 * 1024


class FileModule(Module[Target], AnsibleTasks, ShowsText, Deferrable):
    type_name = "file"
    ansible_modules = ("file", "copy", "template")

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        if module == "file":
            state = args.get("state", "file")
            if state not in ("file", "touch", "absent"):
                return None  # a directory or a link: another type's
            taken = ansible_args(module, args, (*PATH_KEYS, "state", *OWNERSHIP_KEYS))
            if state == "absent":
                return {"path": path_of(taken), "state": "absent"}
            return {"path": path_of(taken), **ownership(taken)}
        if module == "copy" and "content" not in args:
            raise NotConvertible("copy with src: a file of the controller (give it as content or template)")
        keys = ("dest", "content", *OWNERSHIP_KEYS) if module == "copy" else ("src", "dest", *OWNERSHIP_KEYS)
        taken = ansible_args(module, args, keys)
        body = {"content": taken["content"]} if module == "copy" else {"template": taken["src"]}
        return {"path": taken["dest"], **body, **ownership(taken)}

    computed = frozenset({"sha256", "size"})
    volatile = frozenset({"sha256", "size"})
    not_compared = frozenset({"state", "template", "path"})
    digest_attributes = frozenset({"content"})

    def physical_key(self, resource: Resource) -> str | None:
        return f"path {resource.get('path')}"

    def path(self, resource: Resource) -> str | None:
        value = resource.get("path")
        return value if isinstance(value, str) else None

    def prepare(self, attributes: dict[str, Any], load: Any) -> dict[str, Any]:
        """`template:` names a Jinja2 file beside the spec; its rendering becomes the content."""
        template = attributes.get("template")
        if isinstance(template, str) and "content" not in attributes:
            return {**attributes, "content": load.render_file(template)}
        return attributes

    def text_diffs(self, target: Target, changes: Sequence[Change], context: int = 3) -> Mapping[str, str]:
        """The content on the host against the spec's: a unified diff for text up to 64 KiB (the old
        contents read in one batch), else sizes and digests."""
        shown: dict[str, tuple[str, bytes]] = {}  # address -> (path, the new content)
        out: dict[str, str] = {}
        for change in changes:
            r = change.resource
            new = r.get("content") if r is not None else None
            if r is None or not isinstance(new, str) or "content" in self.secret_attributes(r):
                continue
            if change.action is not Action.CREATE and not any(d.name == "content" for d in change.diffs):
                continue
            data, old_size = new.encode(), self._observed_size(change)
            if len(data) > TEXT_DIFF_LIMIT or old_size > TEXT_DIFF_LIMIT:
                out[change.address] = self._summary(change, data, "too large to show")
            else:
                shown[change.address] = (str(r.get("path")), data)
        old = target.read_many([path for path, _ in shown.values()]) if any(
            c.address in shown and c.observed is not None for c in changes) else {}
        for change in changes:
            if change.address not in shown:
                continue
            path, data = shown[change.address]
            before = (old.get(path) or b"") if change.observed is not None else b""
            try:
                old_text, new_text = before.decode("utf-8"), data.decode("utf-8")
            except UnicodeDecodeError:
                out[change.address] = self._summary(change, data, "binary")
                continue
            out[change.address] = "".join(difflib.unified_diff(
                old_text.splitlines(True), new_text.splitlines(True),
                f"{path} (on {target.name})" if change.observed is not None else "/dev/null",
                f"{path} (the spec)", n=max(0, context)))
        return out

    @staticmethod
    def _observed_size(change: Change) -> int:
        size = change.observed.attributes.get("size") if change.observed is not None else 0
        return size if isinstance(size, int) else 0

    def _summary(self, change: Change, data: bytes, why: str) -> str:
        before = "(none)"
        if change.observed is not None:
            digest = str(change.observed.attributes.get("sha256") or "")[:12]
            before = f"{self._observed_size(change)} bytes (sha256:{digest})"
        return f"content ({why}): {before} -> {len(data)} bytes ({content_digest(data)[:19]})\n"

    def secret_attributes(self, resource: Resource) -> frozenset[str]:
        secret = super().secret_attributes(resource)
        return secret | {"sha256"} if "content" in secret else secret  # the digest of a secret is secret too

    def desired(self, resource: Resource) -> dict[str, Any]:
        out = desired_ownership(resource)
        if resource.get("content") is not None:
            out["content"] = content_digest(resource.get("content"))
        return out

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [StatRead(tuple(str(r.get("path")) for r in resources), hash_files=True)]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | Unobservable | None]:
        stats = target.stat_many([r.get("path") for r in resources], hash_files=True)
        out: dict[str, Observed | Unobservable | None] = {}
        for r in resources:
            st = stats[r.get("path")]
            if st is None:
                out[r.address] = None
                continue
            if st.kind != "file":
                out[r.address] = Unobservable(wrong_kind(r.get("path"), st.kind, "file"))
                continue
            attrs = observed_ownership(st, r) | {"path": r.get("path"), "kind": st.kind, "size": st.size}
            attrs["content"] = "sha256:" + st.sha256 if st.sha256 else f"({st.kind})"
            attrs["sha256"] = st.sha256
            out[r.address] = Observed(attrs)
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        path, content = r.get("path"), r.get("content")
        observed = change.observed
        if observed is not None and observed.attributes.get("kind") not in (None, "file"):
            raise ModuleError(f"{path} exists and is a {observed.attributes['kind']}, not a file")
        want = self.desired(r)
        rewrite = change.action is Action.CREATE or any(d.name == "content" for d in change.diffs)
        if rewrite:
            data = (content or "").encode()
            target.write_file(path, data, mode=want.get("mode"), owner=r.get("owner"), group=r.get("group"))
            digest = content_digest(data)
        else:
            changed = {d.name for d in change.diffs}
            target.set_attributes(
                path,
                mode=want.get("mode") if "mode" in changed else None,
                owner=r.get("owner") if "owner" in changed else None,
                group=r.get("group") if "group" in changed else None,
            )
            digest = (observed.attributes if observed else {}).get("content", "")
        attrs = {**(observed.attributes if observed else {}), **want, "path": path, "kind": "file"}
        attrs["content"] = digest
        attrs["sha256"] = digest.removeprefix("sha256:")
        return Observed(attrs)

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        """Only what reconcile wrote goes: a file removed from the spec (its recorded content is a digest) is
        removed while it still holds that content; one changed since is released, with a warning."""
        written = resource.get("content")
        expect = written[7:] if isinstance(written, str) and written.startswith("sha256:") else None
        target.remove(resource.get("path"), expect_sha256=expect)
