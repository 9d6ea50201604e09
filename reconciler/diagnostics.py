"""Where things were written and what is wrong with them: source locations, the spec's merged document,
and the diagnostics every stage reports against them. Imports nothing of reconcile."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class LintFinding:
    """A `validate --strict` finding a module reports on one of its resources, at one of its keys."""

    message: str
    at: tuple[str | int, ...] = ()  # the key (and sub-keys) within the resource entry


class Location(NamedTuple):
    """Where a value was written: file, 1-based line and column. A tuple: specs have 100,000s of them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    """An error (or warning) found in a spec, pointing at its source."""

    message: str
    location: Location | None = None
    json_path: JsonPath = ()
    severity: str = "error"

    @property
    def path_text(self) -> str:
        out = "$"
        for part in self.json_path:
            out += f"[{part}]" if isinstance(part, int) else f".{part}"
        return out

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        at = f" (at {self.path_text})" if self.json_path else ""
        return f"{where}{self.severity}: {self.message}{at}"


@dataclass(frozen=True)
class SourceDocument:
    """The merged, position-annotated content of a spec file or directory."""

    root: str  # the path the user gave (file or directory), absolute
    base_dir: str  # directory relative paths in the spec are resolved against
    files: tuple[str, ...]
    data: Mapping[str, Any]
    locations: Mapping[JsonPath, Location]
    texts: Mapping[JsonPath, str] = field(default_factory=dict)  # as written, for scalars YAML made non-strings

    def locate(self, path: JsonPath) -> Location | None:
        """The location of `path`, or of its nearest ancestor that has one."""
        for cut in range(len(path), -1, -1):
            loc = self.locations.get(path[:cut])
            if loc is not None:
                return loc
        return None
