"""`moved:` and `removed:` cover a resource's instances (for_each, count, hosts): naming a resource covers all
of them, naming an instance only that one; a key is renamed with `moved: {from: 'file.g[a]', to: 'file.g[b]'}`;
an address that names nothing is an error at its line, and changes nothing. On real local files."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli, write


def spec(spec_dir: Path, out: Path, body: str) -> None:
    write(spec_dir / "site.yaml", f"name: moves\n{body.replace('OUT', str(out))}")


FOR_EACH = """resources:
  - type: file
    name: g
    for_each: {a: one, b: two, c: three}
    path: "OUT/{{ each.value }}"
    content: "{{ each.value }}\\n"
"""


def inodes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_ino for p in sorted(out.iterdir())}


def test_removed_covers_every_instance_of_a_resource(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    spec(spec_dir, out, FOR_EACH)
    cli("apply", "--auto-approve", "spec", check=0)
    spec(spec_dir, out, "resources: []\nremoved:\n  - {address: file.g, destroy: false}\n")
    plan = cli("plan", "spec", check=0).out
    assert plan.count("removed: destroy: false") == 3 and "to destroy" not in plan.replace("0 to destroy", ""), plan
    cli("apply", "--auto-approve", "spec", check=0)
    assert sorted(p.name for p in out.iterdir()) == ["one", "three", "two"]
    assert cli("state", "list", "--spec", "spec", check=0).out.strip() == ""
    assert "No changes." in cli("plan", "--detailed-exitcode", "spec", check=0).out  # the entry stays valid


def test_removed_names_one_instance(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    spec(spec_dir, out, FOR_EACH)
    cli("apply", "--auto-approve", "spec", check=0)
    spec(spec_dir, out, "resources: []\nremoved:\n  - {address: 'file.g[\"a\"]', destroy: false}\n")
    cli("apply", "--auto-approve", "spec", check=0)
    assert sorted(p.name for p in out.iterdir()) == ["one"]  # a forgotten, b and c destroyed


def test_moved_covers_every_instance_and_renames_keys(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    spec(spec_dir, out, FOR_EACH)
    cli("apply", "--auto-approve", "spec", check=0)
    before = inodes(out)

    spec(spec_dir, out, FOR_EACH.replace("name: g", "name: h") + "moved:\n  - {from: file.g, to: file.h}\n")
    plan = cli("plan", "spec", check=0).out
    for key in "abc":
        assert f"# file.g[{key}] has moved to file.h[{key}]" in plan, plan
    assert "0 to add, 0 to change, 0 to destroy" in plan, plan
    cli("apply", "--auto-approve", "spec", check=0)
    assert cli("state", "list", "--spec", "spec", check=0).out.split() == ["file.h[a]", "file.h[b]", "file.h[c]"]
    assert inodes(out) == before

    renamed = FOR_EACH.replace("name: g", "name: h").replace("{a: one,", "{first: one,")
    spec(spec_dir, out, renamed + "moved:\n  - {from: file.g, to: file.h}\n  - {from: 'file.h[a]', to: 'file.h[first]'}\n")
    plan = cli("plan", "spec", check=0).out
    assert "# file.h[a] has moved to file.h[first]" in plan and "0 to add, 0 to change, 0 to destroy" in plan, plan
    cli("apply", "--auto-approve", "spec", check=0)
    assert "file.h[first]" in cli("state", "list", "--spec", "spec", check=0).out.split()
    assert inodes(out) == before
    assert "No changes." in cli("plan", "spec", check=0).out


def test_an_address_that_names_nothing_is_an_error_at_its_line(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    spec(spec_dir, out, FOR_EACH)
    cli("apply", "--auto-approve", "spec", check=0)
    for entry in ("removed:\n  - {address: file.gg, destroy: false}\n", "moved:\n  - {from: file.gh, to: file.h}\n"):
        body = "resources: []\n" if entry.startswith("removed") else FOR_EACH.replace("name: g", "name: h")
        spec(spec_dir, out, body + entry)
        lines = (spec_dir / "site.yaml").read_text().splitlines()
        at = next(i for i, text in enumerate(lines, 1) if text.startswith(("removed:", "moved:"))) + 1
        for command in (["plan", "spec"], ["apply", "--auto-approve", "spec"]):
            run = cli(*command, check=1)
            assert f"spec/site.yaml:{at}:" in run.text and "names nothing in the state" in run.text, run.text
            assert "did you mean file.g?" in run.text, run.text
        assert sorted(p.name for p in out.iterdir()) == ["one", "three", "two"]
    assert cli("state", "list", "--spec", "spec", check=0).out.split() == ["file.g[a]", "file.g[b]", "file.g[c]"]
