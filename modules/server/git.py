"""`git`: a checkout of a repository at a branch, tag or commit (Ansible's git module).

Observation (in the host's one round trip) reads the checkout's commit, origin and local changes, and
asks the repository which commit `version` names now (`git ls-remote`; a full commit id needs no
asking). A checkout at another commit is fetched (at `depth` when given) and checked out; local changes
in the way are an error unless `force: true`. A `key_file` on the host is used as the deploy key. The
commit is reported as `commit` for references (`${git.app.commit}`). Removing the resource leaves the
checkout (it may hold work)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks
from reconciler.errors import ModuleError
from reconciler.model import Action, AttrDiff, Change, Observed, Resource, Unobservable
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import Read, command_read

from .ansible import flag

SHA = re.compile(r"^[0-9a-f]{40}$")
# Prints the checkout's state: HEAD <sha>|none, ORIGIN <url>, DIRTY 0|1, then WANT <sha>|none
QUERY = r"""
dest="$1"; repo="$2"; version="$3"
if [ -e "$dest/.git" ]; then
  echo "HEAD $(git -C "$dest" rev-parse HEAD 2>/dev/null || echo none)"
  echo "ORIGIN $(git -C "$dest" config --get remote.origin.url)"
  if [ -n "$(git -C "$dest" status --porcelain --untracked-files=no 2>/dev/null)" ]; then echo "DIRTY 1"; else echo "DIRTY 0"; fi
else echo "HEAD none"; fi
case "$version" in
  [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]*) [ ${#version} -eq 40 ] && { echo "WANT $version"; exit 0; } ;;
esac
# a branch first; an annotated tag peels to its commit (^{}), never to the tag object
w=$(git ls-remote -- "$repo" "refs/heads/$version" "refs/tags/$version^{}" "refs/tags/$version" "$version" 2>/dev/null \
  | awk -v v="$version" '$2=="refs/heads/"v {b=$1} $2=="refs/tags/"v"^{}" {p=$1} $2=="refs/tags/"v {t=$1} $2==v {o=$1}
                         END {print (b != "" ? b : (p != "" ? p : (t != "" ? t : o)))}')
echo "WANT ${w:-none}"
"""


def version_of(resource: Resource) -> str:
    return str(resource.get("version") or "HEAD")


def ssh_env(resource: Resource) -> dict[str, str]:
    key = resource.get("key_file")
    if not key:
        return {}
    return {"GIT_SSH_COMMAND": f"ssh -i {shlex.quote(str(key))} -o IdentitiesOnly=yes -o BatchMode=yes"}


class GitModule(Module[Target], AnsibleTasks):
    type_name = "git"
    ansible_modules = ("git",)
    prunable = False  # a checkout may hold work: removing the resource leaves it

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        taken = ansible_args(module, args, ("repo", "dest", "version", "depth", "key_file", "force"))
        out: dict[str, Any] = {k: taken[k] for k in ("repo", "dest", "version", "depth", "key_file") if k in taken}
        if "force" in taken:
            out["force"] = flag(taken["force"])
        return out

    computed = frozenset({"commit"})
    volatile = frozenset({"commit"})
    not_compared = frozenset({"state", "repo", "dest", "version", "depth", "key_file", "force"})

    def path(self, resource: Resource) -> str | None:
        value = resource.get("dest")
        return value if isinstance(value, str) else None

    def physical_key(self, resource: Resource) -> str | None:
        return f"path {resource.get('dest')}"

    def _query(self, r: Resource) -> tuple[list[str], dict[str, str]]:
        return ["sh", "-c", QUERY, "sh", str(r.get("dest")), str(r.get("repo")), version_of(r)], ssh_env(r)

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [command_read(*self._query(r)) for r in resources]

    def _state(self, target: Target, r: Resource) -> dict[str, str]:
        argv, env = self._query(r)
        lines = target.run(argv, env=env or None).check().stdout.decode().splitlines()
        return dict(line.split(" ", 1) for line in lines if " " in line)

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | Unobservable | None]:
        out: dict[str, Observed | Unobservable | None] = {}
        for r in resources:
            state = self._state(target, r)
            if state.get("WANT", "none") == "none":
                out[r.address] = Unobservable(f"{r.get('repo')} has no branch, tag or commit {version_of(r)!r} (or "
                                              f"cannot be reached from {target.name})")
                continue
            if state.get("HEAD", "none") == "none":
                out[r.address] = None
                continue
            want = state["WANT"]
            attrs = {"checkout": state["HEAD"] if state.get("DIRTY") != "1" else f"{state['HEAD']} (with local changes)",
                     "origin": state.get("ORIGIN", ""), "commit": state["HEAD"]}
            out[r.address] = Observed(attrs, identity={"want": want})
        return out

    def desired(self, resource: Resource) -> dict[str, Any]:
        return {"origin": str(resource.get("repo"))}

    def refine_change(self, change: Change, resource: Resource, observed: Observed | None) -> Change:
        if observed is None:
            return change
        want = observed.identity.get("want")
        if observed.attributes.get("checkout") != want:
            move = AttrDiff("checkout", observed.attributes.get("checkout"), want)
            return Change(change.address, change.type, Action.UPDATE, change.diffs + (move,),
                          reason=f"{version_of(resource)} is {str(want)[:12]}", resource=resource, observed=observed)
        return change

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        dest, repo, env = str(r.get("dest")), str(r.get("repo")), ssh_env(r) or None
        depth = ["--depth", str(r.get("depth"))] if r.get("depth") else []
        state = self._state(target, r)
        if state.get("HEAD", "none") == "none":
            target.run(["git", "clone", "--no-checkout", *depth, "--", repo, dest], env=env, timeout=1800).check()
        else:
            if state.get("DIRTY") == "1" and not r.get("force"):
                raise ModuleError(f"{dest} on {target.name} has local changes; commit or discard them, or set force: true")
            if state.get("ORIGIN") != repo:
                target.run(["git", "-C", dest, "remote", "set-url", "origin", repo]).check()
        want = self._state(target, r)["WANT"]
        target.run(["git", "-C", dest, "fetch", "-q", *depth, "origin", want], env=env, timeout=1800).check()
        target.run(["git", "-C", dest, "checkout", "-q", "--force", "--detach", want]).check()
        return Observed({"checkout": want, "origin": repo, "commit": want}, identity={"want": want})

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        return None
