"""`apt_repository`: an APT source (deb822 `.sources`, or a one-line `.list`) and the key that signs it.

The key comes from a file beside the spec or a URL (downloaded by the controller) and is checked
against `fingerprint` before anything is written (no gpg needed: modules/server/openpgp.py); it goes to
/etc/apt/keyrings/NAME.gpg (or .asc) and the source names it in `signed-by`, so it vouches for this
repository only. On the host the key is compared by fingerprint, the source by its text. `apt-get
update` runs once after the repositories of a host changed (all those ready together), never
otherwise. Observed in the host's one round trip."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks, BatchApply, ShowsText
from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module, NotConvertible, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import ContentRead, Read

from .download import fetch
from .openpgp import fingerprints, normal_fingerprint, only_key, primary_fingerprints
from .package import apt
from .paths import content_digest

SOURCES, KEYRINGS = "/etc/apt/sources.list.d", "/etc/apt/keyrings"


def listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else str(value).split() if value else []


def key_path(resource: Resource) -> str | None:
    key = resource.get("key")
    if isinstance(key, Mapping):
        if key.get("fingerprint"):  # only the pinned key is installed, as a binary keyring
            return f"{KEYRINGS}/{resource.name}.gpg"
        armored = key["armored"] if "armored" in key else str(key.get("url", "")).endswith(".asc")
        return f"{KEYRINGS}/{resource.name}.{'asc' if armored else 'gpg'}"
    return str(resource.get("signed_by")) if resource.get("signed_by") else None


def source_path(resource: Resource) -> str:
    suffix = "list" if resource.get("format") == "one_line" else "sources"
    return f"{SOURCES}/{resource.get('filename') or resource.name}.{suffix}"


def source_text(resource: Resource) -> str:
    types, uris = listed(resource.get("types") or ["deb"]), listed(resource.get("uris"))
    suites, components = listed(resource.get("suites")), listed(resource.get("components"))
    architectures, keyring = listed(resource.get("architectures")), key_path(resource)
    if resource.get("format") == "one_line":
        options = [f"arch={','.join(architectures)}"] if architectures else []
        options += [f"signed-by={keyring}"] if keyring else []
        head = f" [{' '.join(options)}]" if options else ""
        return "".join(f"{kind}{head} {uri} {suite} {' '.join(components)}".rstrip() + "\n"
                       for kind in types for uri in uris for suite in suites)
    lines = [f"Types: {' '.join(types)}", f"URIs: {' '.join(uris)}", f"Suites: {' '.join(suites)}"]
    if components:
        lines.append(f"Components: {' '.join(components)}")
    if architectures:
        lines.append(f"Architectures: {' '.join(architectures)}")
    if keyring:
        lines.append(f"Signed-By: {keyring}")
    return "\n".join(lines) + "\n"


class AptRepositoryModule(Module[Target], BatchApply, ShowsText, AnsibleTasks):
    type_name = "apt_repository"
    ansible_modules = ("apt_repository",)
    ansible_step = "source"

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        """Ansible's one-line source (`deb [signed-by=… arch=…] URI SUITE COMPONENT…`) in a .list file, as
        Ansible writes it (its file name from `filename`)."""
        taken = ansible_args(module, args, ("repo", "filename", "state", "update_cache"))
        line = str(taken.get("repo") or "")
        options: dict[str, str] = {}
        if "[" in line:
            head, _, rest = line.partition("[")
            inside, _, tail = rest.partition("]")
            options = dict(o.split("=", 1) for o in inside.split() if "=" in o)
            line = head + tail
        words = line.split()
        if len(words) < 3 or words[0] not in ("deb", "deb-src") or "{{" in line or set(options) - {"signed-by", "arch"}:
            raise NotConvertible(f"{module}: repo {taken.get('repo')!r} is not a one-line source reconcile reads "
                                 "(deb [signed-by=… arch=…] URI SUITE [COMPONENT…])")
        out: dict[str, Any] = {"types": [words[0]], "uris": [words[1]], "suites": [words[2]], "format": "one_line"}
        if words[3:]:
            out["components"] = words[3:]
        if "signed-by" in options:
            out["signed_by"] = options["signed-by"]
        if "arch" in options:
            out["architectures"] = options["arch"].split(",")
        if taken.get("filename"):
            out["filename"] = str(taken["filename"])
        if str(taken.get("state", "present")) == "absent":
            out["state"] = "absent"
        return out
    not_compared = frozenset({"state", "uris", "suites", "components", "types", "architectures", "format", "filename",
                              "signed_by"})

    def locate(self, resource: Resource) -> str | None:
        return f"source {source_path(resource)}"

    def prepare(self, attributes: dict[str, Any], load: Any) -> dict[str, Any]:
        """A key file beside the spec is read (confined to its tree) and its fingerprints taken at load."""
        key = attributes.get("key")
        if not isinstance(key, dict) or not isinstance(key.get("file"), str):
            return attributes
        (found,) = load.local_tree(key["file"], limit=1)
        data = found.path.read_bytes()
        try:
            prints = fingerprints(data)
        except ModuleError as exc:
            raise load.fail(f"key {key['file']!r}: {exc}") from None
        return {**attributes, "key": {**key, "path": str(found.path), "fingerprints": prints,
                                      "armored": b"-----BEGIN PGP" in data}}

    def desired(self, resource: Resource) -> dict[str, Any]:
        if self.state_of(resource) == "absent":
            return {}
        out: dict[str, Any] = {"source": content_digest(source_text(resource))}
        key = resource.get("key")
        if isinstance(key, Mapping):
            out["key"] = normal_fingerprint(str(key["fingerprint"])) if key.get("fingerprint") else \
                sorted(key.get("fingerprints") or [])[0]
        return out

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        paths = [source_path(r) for r in resources] + [p for r in resources if (p := key_path(r))]
        return [ContentRead(tuple(dict.fromkeys(paths)))]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        paths = [source_path(r) for r in resources] + [p for r in resources if (p := key_path(r))]
        found = target.read_many(list(dict.fromkeys(paths)))
        out: dict[str, Observed | None] = {}
        for r in resources:
            text = found.get(source_path(r))
            if text is None:
                out[r.address] = None
                continue
            attrs: dict[str, Any] = {"source": content_digest(text),
                                     "source_text": text.decode(errors="replace")}
            if isinstance(r.get("key"), Mapping):
                keyring = found.get(str(key_path(r)))
                want = self.desired(r).get("key")
                try:
                    prints = fingerprints(keyring) if keyring else []
                    keys = len(primary_fingerprints(keyring)) if keyring else 0
                except ModuleError:
                    prints, keys = [], 0
                if want in prints and keys > 1 and r.get("key", {}).get("fingerprint"):
                    attrs["key"] = f"{want} and {keys - 1} other key(s)"  # only the pinned one may be trusted
                else:
                    attrs["key"] = want if want in prints else (prints[0] if prints else None)
            out[r.address] = Observed(attrs)
        return out

    def text_diffs(self, target: Target, changes: Sequence[Change], context: int = 3) -> Mapping[str, str]:
        out = {}
        for change in changes:
            if change.resource is None or not any(d.name == "source" for d in change.diffs):
                continue
            old = str(change.observed.attributes.get("source_text", "")) if change.observed is not None else ""
            path = source_path(change.resource)
            out[change.address] = "".join(difflib.unified_diff(
                old.splitlines(True), source_text(change.resource).splitlines(True),
                f"{path} (on {target.name})" if change.observed is not None else "/dev/null", f"{path} (the spec)",
                n=max(0, context)))
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        return self.apply_many(target, [change])[change.address]

    def apply_many(self, target: Target, changes: Sequence[Change]) -> Mapping[str, Observed]:
        """Keys and sources written, then one `apt-get update`; when that fails, every file this apply wrote is
        put back as it was (a broken source never stays behind to pass as converged), and it fails."""
        before: dict[str, bytes | None] = {}
        for change in changes:
            r = change.resource
            assert r is not None
            changed = {d.name for d in change.diffs} if change.observed is not None else {"source", "key"}
            key = r.get("key")
            writes = []
            if isinstance(key, Mapping) and "key" in changed:
                writes.append((str(key_path(r)), self._key_bytes(key)))
            if "source" in changed:
                writes.append((source_path(r), source_text(r).encode()))
            for path, _ in writes:
                before.setdefault(path, target.read_many([path]).get(path))
            if any(path == key_path(r) for path, _ in writes):
                target.make_directory(KEYRINGS, mode="0755")
            for path, data in writes:
                target.write_file(path, data, mode="0644", owner="root", group="root")
        updated = target.run(apt("update", "-q"), timeout=900)  # once for every repository written here
        if not updated.ok:
            for path, old in before.items():
                if old is None:
                    target.remove(path)
                else:
                    target.write_file(path, old, mode="0644", owner="root", group="root")
            said = (updated.stderr or updated.stdout).decode(errors="replace").strip().splitlines()[-3:]
            raise ModuleError(f"apt-get update failed with the new source(s), which were taken back out: "
                              f"{' / '.join(said)}")
        return {c.address: Observed(self.desired(c.resource)) for c in changes if c.resource is not None}

    @staticmethod
    def _key_bytes(key: Mapping[str, Any]) -> bytes:
        """The key, read or downloaded now and checked against the fingerprint: nothing is written otherwise."""
        if key.get("url"):
            data = fetch(str(key["url"]))
        else:
            try:
                with open(str(key["path"]), "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                raise ModuleError(f"cannot read {key.get('file')}: {exc.strerror or exc}") from None
        found = fingerprints(data)
        want = normal_fingerprint(str(key["fingerprint"])) if key.get("fingerprint") else None
        if want is not None and want not in found:
            raise ModuleError(f"the key {key.get('url') or key.get('file')} has fingerprint {', '.join(found)}, not "
                              f"{want}: nothing was written")
        return only_key(data, want) if want is not None else data

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        target.remove(source_path(resource))
        if isinstance(resource.get("key"), Mapping):
            target.remove(str(key_path(resource)))
        target.run(apt("update", "-q"), timeout=900).check()
