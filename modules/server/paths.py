"""Helpers shared by the modules that manage paths (file, directory, symlink)."""

from __future__ import annotations

import hashlib
import posixpath
import urllib.parse
from typing import Any

from reconciler.model import UNKNOWN, Resource
from reconciler.targets.base import PathStat

OWNERSHIP = ("mode", "owner", "group")


def content_digest(content: Any) -> Any:
    if content is UNKNOWN:
        return UNKNOWN
    data = content.encode() if isinstance(content, str) else content
    return "sha256:" + hashlib.sha256(data).hexdigest()


def normal_mode(mode: Any) -> Any:
    return mode if mode is None or mode is UNKNOWN else format(int(str(mode), 8), "04o")


KIND_NAMES = {"file": "a regular file", "directory": "a directory", "link": "a symbolic link", "other": "a special file"}


def wrong_kind(path: str, found: str, wanted: str) -> str:
    return (f"{path} is {KIND_NAMES.get(found, found)}, not {KIND_NAMES[wanted]}: remove it or point the "
            "resource at another path")


def written_paths(resource: Resource) -> list[str]:
    """The paths a server resource writes, as its attributes name them: `path`; a `dest` (a `dest` ending in /
    with a `url`: the URL's file inside it); and the files of a copied tree (`manifest`)."""
    path, dest = resource.get("path"), resource.get("dest")
    out = [str(path)] if isinstance(path, str) and path else []
    if isinstance(dest, str) and dest:
        url = resource.get("url")
        if dest.endswith("/") and isinstance(url, str):
            name = posixpath.basename(urllib.parse.urlsplit(url).path)
            out.append(posixpath.join(dest, name) if name else dest.rstrip("/"))
        elif isinstance(resource.get("manifest"), dict) and any(resource.get("manifest")):
            out += [posixpath.join(dest, rel) for rel in resource.get("manifest") if rel]  # a tree: its files
        else:
            out.append(dest)
    return out


def under(path: str, directory: str) -> bool:
    return path.startswith(directory.rstrip("/") + "/")


def desired_ownership(resource: Resource) -> dict[str, Any]:
    out = {k: resource.get(k) for k in OWNERSHIP if resource.get(k) is not None}
    if "mode" in out:
        out["mode"] = normal_mode(out["mode"])
    return out


def observed_ownership(stat: PathStat, resource: Resource) -> dict[str, Any]:
    """mode/owner/group as the spec writes them: an owner given as a number is compared as a number."""
    owner = str(stat.uid) if str(resource.get("owner", "")).isdigit() else stat.owner
    group = str(stat.gid) if str(resource.get("group", "")).isdigit() else stat.group
    return {"mode": stat.mode, "owner": owner, "group": group}
