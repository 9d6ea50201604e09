from pathlib import Path

import pytest

from reconciler.errors import SpecError
from reconciler.spec.load import load_spec
from tests.conftest import write


def test_every_node_keeps_file_line_and_column(tmp_path: Path) -> None:
    spec = write(tmp_path / "site.yaml", """
        vars:
          a: 1
        resources:
          - type: file
            name: x
            path: /tmp/x
    """)
    doc = load_spec(spec)
    assert doc.data["resources"][0]["path"] == "/tmp/x"
    loc = doc.locations[("resources", 0, "path")]
    assert (Path(loc.file).name, loc.line, loc.col) == ("site.yaml", 6, 5)
    assert doc.locate(("resources", 0, "path", "deeper")).line == 6


def test_directory_is_merged_with_global_resource_indices(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "vars: {x: 1}\nresources:\n  - {type: file, name: a, path: /a}\n")
    write(tmp_path / "b.yml", "vars: {y: 2}\nresources:\n  - {type: file, name: b, path: /b}\n")
    write(tmp_path / "sub" / "c.yaml", "inputs: {port: {type: integer}}\n")  # a component: not part of the spec
    write(tmp_path / ".hidden.yaml", "resources: [{type: nope, name: c}]\n")
    doc = load_spec(tmp_path)
    assert [r["name"] for r in doc.data["resources"]] == ["a", "b"]
    assert doc.data["vars"] == {"x": 1, "y": 2}
    assert doc.locations[("resources", 1)].file.endswith("b.yml")
    assert "inputs" not in doc.data


def test_conflicting_definitions_across_files_are_errors(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "vars: {x: 1}\n")
    write(tmp_path / "b.yaml", "vars: {x: 2}\n")
    with pytest.raises(SpecError) as exc:
        load_spec(tmp_path)
    assert "vars.x is defined twice" in str(exc.value)
    assert "b.yaml:1" in str(exc.value)


def test_syntax_error_points_at_the_line(tmp_path: Path) -> None:
    spec = write(tmp_path / "bad.yaml", "resources:\n  - type: file\n    name: [unclosed\n")
    with pytest.raises(SpecError) as exc:
        load_spec(spec)
    assert "bad.yaml:4" in str(exc.value) or "bad.yaml:3" in str(exc.value)
    assert "YAML syntax error" in str(exc.value)


def test_duplicate_keys_in_a_mapping_are_errors(tmp_path: Path) -> None:
    spec = write(tmp_path / "dup.yaml", "vars:\n  a: 1\n  a: 2\n")
    with pytest.raises(SpecError) as exc:
        load_spec(spec)
    assert "dup.yaml:3:3" in str(exc.value)
