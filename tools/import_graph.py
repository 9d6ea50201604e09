"""The picture in docs/architecture.md, drawn from the code's own import graph: `make docs` (or
`python -m tools.import_graph`) writes docs/architecture.dot (its source) and docs/architecture.svg (by
Graphviz's `dot`). One box per room (a package of reconciler, a top-level module, the module families), one
arrow per room that imports another; a test checks the committed source is the one the code gives today.

grimp (import-linter's graph) reads the imports, TYPE_CHECKING ones included."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PACKAGES = ("reconciler", "reconcile_modules")
# rooms drawn on their own; the other top-level modules of reconciler are the shared values and helpers
STAGES = ("cli", "report", "engine", "spec", "state", "policy", "migrate", "targets", "watch", "spectest")
SHARED = "values and contract\n(model, diagnostics, inventory, module, capabilities, errors…)"
ENTRY = "entry points\n(reconciler, reconciler.__main__)"
REGISTRY = "registry\n(types and families, by entry point)"


def room(module: str) -> str:
    """The box a module is drawn in."""
    parts = module.split(".")
    if parts[0] == "reconcile_modules":
        return f"modules/{parts[1]}" if len(parts) > 1 else "modules"
    if len(parts) > 1 and parts[1] in STAGES:
        return f"reconciler/{parts[1]}"
    if module in ("reconciler", "reconciler.__main__"):
        return ENTRY
    if module == "reconciler.registry":
        return REGISTRY
    return SHARED


def edges() -> set[tuple[str, str]]:
    """(importer's room, imported room) for every import between two rooms."""
    import grimp

    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    out = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            a, b = room(importer), room(imported)
            if a != b and b != "modules":
                out.add((a, b))
    return out


def dot_source() -> str:
    """The picture's Graphviz source, in a stable order."""
    found = edges()
    rooms = sorted({r for edge in found for r in edge})
    lines = ["digraph reconcile {", '  rankdir=TB; node [shape=box, fontname="Helvetica", fontsize=11];',
             '  edge [color="#555555", arrowsize=0.6];']
    lines += [f'  "{r}";' for r in rooms]
    lines += [f'  "{a}" -> "{b}";' for a, b in sorted(found)]
    return "\n".join(lines) + "\n}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DOCS, help="where architecture.dot and .svg go")
    out = parser.parse_args().out
    source = dot_source()
    (out / "architecture.dot").write_text(source)
    dot = shutil.which("dot")
    if dot is None:
        raise SystemExit("Error: Graphviz's `dot` is not installed (apt-get install graphviz); the .dot is written")
    svg = subprocess.run([dot, "-Tsvg"], input=source, capture_output=True, text=True, check=True).stdout
    (out / "architecture.svg").write_text(svg)
    print(f"wrote {out / 'architecture.dot'} and {out / 'architecture.svg'}")


if __name__ == "__main__":
    main()
