"""`reconcile graph --format svg|png [--plan]`: pictures drawn by Graphviz, clustered by target."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from reconciler.report.graph_picture import COLOURS
from tests.conftest import Cli, write

SVG = "{http://www.w3.org/2000/svg}"


def test_svg_names_every_node_and_colours_the_plan(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write(spec_dir / "site.yaml", f"""
        name: pictures
        resources:
          - {{type: directory, name: d, path: "{out}"}}
          - {{type: file, name: a, path: "${{directory.d.path}}/a", content: "x"}}
          - {{type: file, name: b, path: "${{directory.d.path}}/b", content: "x"}}
        """)
    cli("apply", "--auto-approve", "spec", check=0)
    (out / "a").write_text("changed by hand")
    cli("graph", "spec", "--format", "svg", "--plan", "--output", str(tmp_path / "g.svg"), check=0)
    root = ET.parse(tmp_path / "g.svg").getroot()
    titles = {t.text for t in root.iter(f"{SVG}title")}
    assert {"directory.d", "file.a", "file.b", "directory.d->file.a"} <= titles
    assert any("server: local" in (t.text or "") for t in root.iter(f"{SVG}text"))  # the target's cluster
    node_a = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "node"
                  and g.findtext(f"{SVG}title") == "file.a")
    assert any(p.get("fill") == COLOURS["update"] for p in node_a.iter(f"{SVG}path"))
    assert not (out / "a").read_text() == "x"  # drawing the plan changed nothing

    cli("graph", "spec", "--format", "png", "--output", str(tmp_path / "g.png"), check=0)
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dot = cli("graph", "spec", check=0).out
    assert '"directory.d" -> "file.a";' in dot


def test_without_graphviz_the_error_says_what_to_install(cli: Cli, spec_dir: Path) -> None:
    write(spec_dir / "site.yaml", "resources:\n  - {type: directory, name: d, path: /tmp/nowhere-graph}\n")
    cli.env["PATH"] = "/nonexistent"
    run = cli("graph", "spec", "--format", "svg", check=1)
    assert run.err.startswith("Error: drawing the graph needs Graphviz's `dot` program: install graphviz")
