"""The documentation stands on its own: every command and option is in docs/cli.md, every YAML example in
docs/ validates, and every link of the README and docs/ leads to a file of the repository."""

from __future__ import annotations

import re
from pathlib import Path

import click

from tests.conftest import Cli

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = ROOT / "docs"
FILE_MARK = re.compile(r"<!-- file: (?P<path>[^ ]+) -->\s*$")
NOT_A_SPEC = "<!-- not a spec"


FILE_LINE = re.compile(r"^# (?P<path>[\w./-]+\.ya?ml)\s*$")


def split_files(text: str) -> dict[str, str]:
    """A block holding several files, each after a `# path/name.yaml` line (the README's component layout);
    else the block is spec.yaml."""
    files: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        marked = FILE_LINE.match(line)
        if marked:
            current = marked["path"]
            files[current] = []
        elif current is not None:
            files[current].append(line)
    if not files:
        return {"spec.yaml": text}
    return {name: "\n".join(lines) + "\n" for name, lines in files.items()}


def examples() -> list[tuple[str, dict[str, str]]]:
    """(where, {file name: text}) for each YAML example of the README and docs/: a ```yaml block, with the blocks
    marked `<!-- file: PATH -->` just before it written beside it (a component, an inventory…)."""
    out: list[tuple[str, dict[str, str]]] = []
    for page in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        lines = page.read_text().splitlines()
        pending: dict[str, str] = {}
        i = 0
        while i < len(lines):
            if lines[i].strip() == "```yaml":
                start = i
                end = lines.index("```", i + 1)
                text = "\n".join(lines[i + 1:end]) + "\n"
                before = lines[start - 1] if start else ""
                marked = FILE_MARK.match(before.strip())
                if marked:
                    pending[marked["path"]] = text
                elif not before.startswith(NOT_A_SPEC):
                    out.append((f"{page.relative_to(ROOT)}:{start + 1}", {**pending, **split_files(text)}))
                    pending = {}
                i = end
            i += 1
    return out


def test_every_yaml_example_in_docs_validates(cli: Cli, tmp_path: Path) -> None:
    found = examples()
    assert len(found) >= 30
    dirs = []
    for n, (where, files) in enumerate(found):
        base = tmp_path / f"example{n}"
        for name, text in files.items():
            (base / name).parent.mkdir(parents=True, exist_ok=True)
            (base / name).write_text(text)
        template = base / "templates/config.yml.j2"  # the demo's template, which the README's first example names
        template.parent.mkdir(parents=True, exist_ok=True)
        template.write_text((ROOT / "specs/examples/local/templates/config.yml.j2").read_text())
        code = base / "functions/report/main.py"  # the code the aws.lambda_function example names
        code.parent.mkdir(parents=True, exist_ok=True)
        code.write_text("def handler(event, context):\n    return None\n")
        dirs.append((where, base / "spec.yaml" if "spec.yaml" in files else base))  # a directory: its own files
    run = cli("validate", *[str(spec) for _, spec in dirs])
    failed = [where for where, spec in dirs if f"{spec}: ok" not in run.out]
    assert not failed and run.rc == 0, (failed, run.text[-3000:])


def test_every_command_and_option_is_in_the_cli_reference() -> None:
    from reconciler.cli import cli

    text = (DOCS / "cli.md").read_text()
    missing = []

    def walk(command: click.Command, path: list[str]) -> None:
        if len(path) > 1 and f"`{' '.join(path)}`" not in text:
            missing.append(" ".join(path))
        for param in command.params:
            if isinstance(param, click.Option):
                missing.extend(f"{' '.join(path)} {o}" for o in param.opts + param.secondary_opts
                               if f"`{o}`" not in text)
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, path + [name])

    walk(cli, ["reconcile"])
    assert not missing, missing
    assert "## Exit codes" in text


def test_the_readme_and_docs_link_only_to_files_of_the_repository() -> None:
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    broken = []
    for page in pages:
        text = page.read_text()
        assert "../shared" not in text and "DESIGN.md" not in text, page
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"^[a-z]+://", target) or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken
    readme = (ROOT / "README.md").read_text()
    for page in ("docs/language.md", "docs/cli.md", "docs/getting-started/README.md"):
        assert f"]({page})" in readme, page
