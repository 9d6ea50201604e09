"""types, docs, schema and completion: what reconcile knows, printed."""

from __future__ import annotations

import json
from pathlib import Path

import click

from reconciler.cli.options import COMPLETE_VAR, EXIT_OK, common_options
from reconciler.cli.root import cli
from reconciler.errors import ReconcileError


@cli.group("schema")
@common_options
def schema_group() -> None:
    """JSON Schemas for editors and CI."""


@schema_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@common_options
def schema_export(directory: str) -> int:
    """Write reconcile.schema.json (the spec with every resource type composed in) and the per-type schemas."""
    from reconciler.registry import Registry
    from reconciler.spec.schema_export import export

    try:
        written = export(Registry.installed(), Path(directory))
    except OSError as exc:
        raise ReconcileError(f"cannot write the schemas to {directory}: {exc.strerror}") from None
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"\nIn a spec file, for editor validation and completion:\n"
               f"# yaml-language-server: $schema={Path(written[0]).absolute()}")
    return EXIT_OK


@cli.command("types")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@common_options
def types_cmd(as_json: bool) -> int:
    """List the installed resource types, their family and the package that provides each."""
    from reconciler.registry import Registry

    registry = Registry.installed()
    rows = []
    for name in registry.types:
        entry = registry.entry(name)
        summary = str(registry.schema(name).get("description", "")).split("\n")[0].split(". ")[0].rstrip(".")
        rows.append({"type": name, "family": registry.module_class(name).family, "origin": entry.origin,
                     "class": entry.reference, "description": summary})
    for name, why in sorted(registry.broken.items()):  # reported, and left out of everything else
        if not name.startswith("family:"):
            entry = registry.entry(name)
            rows.append({"type": name, "family": "?", "origin": entry.origin, "class": entry.reference,
                         "description": f"cannot be loaded: {why}"})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return EXIT_OK
    width = max(len(r["type"]) for r in rows)
    fam = max(len(r["family"]) for r in rows)
    origin = max(len(r["origin"]) for r in rows)
    for r in rows:
        click.echo(f"{r['type']:<{width}}  {r['family']:<{fam}}  {r['origin']:<{origin}}  {r['description']}".rstrip())
    return EXIT_OK


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@common_options
def completion_cmd(shell: str) -> int:
    """Print the shell completion script: e.g. `eval "$(reconcile completion bash)"` in ~/.bashrc."""
    from click.shell_completion import get_completion_class

    completion = get_completion_class(shell)
    assert completion is not None
    click.echo(completion(cli, {}, "reconcile", COMPLETE_VAR).source())
    return EXIT_OK


@cli.command("docs")
@click.argument("type_name", required=False, metavar="[TYPE]")
@click.option("--write", "write_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Write a Markdown page per built-in type (and an index) into DIR instead.")
@common_options
def docs_cmd(type_name: str | None, write_dir: str | None) -> int:
    """Document the resource types: list them, or show one (attributes and an example), like ansible-doc."""
    import dataclasses

    from reconciler.registry import Registry
    from reconciler.report.module_docs import (
        data_doc,
        doc_of,
        render_index,
        render_text,
        type_doc,
        write_pages,
    )

    registry = Registry.installed()
    if write_dir:
        try:
            written = write_pages(registry, Path(write_dir))
        except OSError as exc:
            raise ReconcileError(f"cannot write the pages to {write_dir}: {exc.strerror}") from None
        click.echo(f"wrote {len(written)} pages to {write_dir}")
    elif type_name:
        click.echo(render_text(doc_of(registry, type_name)), nl=False)
    else:
        click.echo(render_index([*(type_doc(registry, t) for t in registry.types),
                                 *(dataclasses.replace(data_doc(registry, t), family=f"data {data_doc(registry, t).family}")
                                   for t in registry.data_types)]), nl=False)
    return EXIT_OK
