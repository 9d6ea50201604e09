"""Template files (`template: templates/app.conf.j2`): read only from inside the spec's directory tree
(or a directory the spec allows with `template_paths:`), only regular files, of bounded size, as UTF-8."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, TemplateNotFound

from reconciler.spec.render import Renderer, TemplateFailure

MAX_TEMPLATE_BYTES = 8 * 1024 * 1024
MAX_TREE_FILES = 2000  # a copied tree
MAX_TREE_BYTES = 256 * 1024 * 1024


class TemplateFileError(Exception):
    """A template file that may not or cannot be read, or a value a module's prepare() refuses; the message
    says which and why, `attribute` where (else the resource's line, or its template/src)."""

    def __init__(self, message: str, attribute: str | None = None):
        super().__init__(message)
        self.attribute = attribute


@dataclass(frozen=True)
class TemplateFiles:
    roots: tuple[Path, ...]  # resolved directories templates may come from
    reads: set[str] = field(default_factory=set, compare=False, hash=False)  # every path resolved (what is read)

    @classmethod
    def for_spec(cls, base_dir: str, allowed: Sequence[str] = (), reads: set[str] | None = None) -> TemplateFiles:
        base = Path(base_dir)
        roots = [base] + [(base / os.path.expanduser(a)) for a in allowed]
        return cls(tuple(Path(os.path.realpath(r)) for r in roots), reads if reads is not None else set())

    def resolve(self, written: str, relative_to: Path, what: str = "template") -> Path:
        """The real path of a file the spec names, refused outside the allowed directories."""
        path = Path(os.path.realpath(relative_to / os.path.expanduser(written)))
        if not any(path == root or root in path.parents for root in self.roots):
            raise TemplateFileError(
                f"{what} {written!r} is outside the spec's directory ({path}); files are read only from "
                "the spec's tree, or from directories listed under `template_paths:`")
        self.reads.add(str(path))
        return path

    def read(self, written: str, relative_to: Path) -> str:
        path = self.resolve(written, relative_to)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise TemplateFileError(f"cannot read template {written!r}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise TemplateFileError(f"template {written!r} is not a regular file")
            if info.st_size > MAX_TEMPLATE_BYTES:
                raise TemplateFileError(f"template {written!r} is {info.st_size} bytes; the limit is "
                                        f"{MAX_TEMPLATE_BYTES}")
            data = fh.read(MAX_TEMPLATE_BYTES + 1)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TemplateFileError(f"template {written!r} is not UTF-8 text (byte {exc.start}); binary files "
                                    "are not templates") from None


class ConfinedLoader(BaseLoader):
    """Jinja's loader for `{% include %}`, `{% import %}` and `{% extends %}`: names are looked up beside the
    spec and in its templates/ directory, confined like `template:` files (the spec's tree and
    `template_paths:`), regular files only, size-capped; every file read is recorded."""

    def __init__(self, files: TemplateFiles, base_dir: Path):
        self.files = files
        self.search = (base_dir, base_dir / "templates")

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:
        for directory in self.search:
            try:
                path = self.files.resolve(template, directory)
            except TemplateFileError as exc:
                raise TemplateNotFound(f"{template}: {exc}") from None
            if path.is_file():
                return self.files.read(template, directory), str(path), lambda: True
        raise TemplateNotFound(f"{template} (looked beside the spec and in its templates/ directory)")


@dataclass(frozen=True)
class LoadContext:
    """What a module's prepare() may use while the spec is loaded: template files, rendered with the
    resource's own context (vars, host, env…)."""

    files: TemplateFiles
    renderer: Renderer
    context: Mapping[str, Any]
    spec_file_dir: Path

    @staticmethod
    def fail(message: str, attribute: str | None = None) -> Exception:
        """The error a module's prepare() raises for a problem to report at the attribute's line (else the
        resource's)."""
        return TemplateFileError(message, attribute)

    def local_tree(self, written: str, limit: int = MAX_TREE_FILES) -> list[LocalFile]:
        """The files and empty directories of a local file or directory the spec names (`copy: src`),
        relative to the spec file and confined like templates. A symlink inside is followed, as Ansible's
        `copy` does (`local_follow`), and must stay inside the allowed directories; a link back into its own
        tree is refused. At most `limit` files and MAX_TREE_BYTES in all."""
        root = self.files.resolve(written, self.spec_file_dir, "src")
        if not root.exists():
            raise TemplateFileError(f"src {written!r} does not exist ({root})")
        if root.is_file():
            return [LocalFile("", root, _mode(root), root.stat().st_size, _digest(root))]
        if not root.is_dir():
            raise TemplateFileError(f"src {written!r} is neither a regular file nor a directory")
        out: list[LocalFile] = []
        total = 0
        for base, dirs, names in os.walk(root, followlinks=True):
            here = Path(base)
            real_here = Path(os.path.realpath(here))
            for name in sorted(dirs):
                linked = here / name
                if linked.is_symlink():
                    real = self._linked(written, root, linked)
                    if real == real_here or real in real_here.parents:
                        raise TemplateFileError(f"src {written!r}: the link {linked.relative_to(root)} points back "
                                                "into its own tree")
            dirs.sort()
            if not dirs and not names:
                out.append(LocalFile(_relative(here, root), here, _mode(here), 0, "", directory=True))
            for name in sorted(names):
                path = here / name
                if path.is_symlink():
                    self._linked(written, root, path)
                if not path.is_file():
                    continue  # a socket or a FIFO: nothing to copy
                size = path.stat().st_size
                total += size
                if len(out) >= limit or total > MAX_TREE_BYTES:
                    raise TemplateFileError(f"src {written!r} holds more than {limit} files or "
                                            f"{MAX_TREE_BYTES >> 20} MiB: copy a smaller tree (or an archive)")
                out.append(LocalFile(str(path.relative_to(root)), path, _mode(path), size, _digest(path)))
        return out

    def _linked(self, written: str, root: Path, link: Path) -> Path:
        """Where a symlink of a copied tree leads: confined like the tree, and never dangling."""
        shown = link.relative_to(root)
        if not link.exists():
            raise TemplateFileError(f"src {written!r}: the link {shown} points to nothing ({os.readlink(link)})")
        try:
            return self.files.resolve(str(link), link.parent, "src")
        except TemplateFileError:
            raise TemplateFileError(f"src {written!r}: the link {shown} leads outside the spec's directory "
                                    f"({os.path.realpath(link)}); copy what it points to into the tree") from None

    def render_file(self, written: str) -> str:
        """The rendered content of a template file named relative to the resource's spec file."""
        text = self.files.read(written, self.spec_file_dir)
        try:
            return self.renderer.render_text(text, self.context)
        except TemplateFailure as exc:
            line = f" line {exc.lineno}" if exc.lineno else ""
            raise TemplateFileError(f"template error in {written}{line}: {exc}") from None


@dataclass(frozen=True)
class LocalFile:
    """A file of a local tree to copy: where it goes (relative to the destination; "" for a lone file)."""

    relative: str
    path: Path
    mode: str  # "0644"
    size: int
    sha256: str
    directory: bool = False  # an empty directory, made as it is


def _mode(path: Path) -> str:
    return format(stat.S_IMODE(path.stat().st_mode), "04o")


def _digest(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _relative(path: Path, root: Path) -> str:
    return "" if path == root else str(path.relative_to(root))
