"""What `reconcile --version` prints: the package version, and the git commit when run from a checkout.

Read without importing the engine or asking git to run: a checkout's HEAD is two small files."""

from __future__ import annotations

from pathlib import Path

from reconciler import __version__


def checkout_commit(root: Path) -> str | None:
    """The commit `root` (a git work tree) has checked out, or None when it is no checkout (an install)."""
    git = root / ".git"
    try:
        if git.is_file():  # a worktree or submodule: "gitdir: PATH"
            pointer = git.read_text().strip()
            if not pointer.startswith("gitdir:"):
                return None
            git = (root / pointer.partition(":")[2].strip()).resolve()
        if not git.is_dir():
            return None
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head[:12] or None
        ref = head.partition(":")[2].strip()
        for base in (git, _common_dir(git)):
            loose = base / ref
            if loose.is_file():
                return loose.read_text().strip()[:12] or None
            packed = base / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    sha, _, name = line.partition(" ")
                    if name == ref:
                        return sha[:12]
    except OSError:
        return None
    return None


def _common_dir(git: Path) -> Path:
    common = git / "commondir"
    return (git / common.read_text().strip()).resolve() if common.is_file() else git


def version_text() -> str:
    commit = checkout_commit(Path(__file__).resolve().parent.parent)
    return f"reconcile {__version__}" + (f" (commit {commit})" if commit else "")
