"""The `reconcile` group: the command table. Each command module adds its commands to it."""

from __future__ import annotations

import click

from reconciler.cli.options import common_options, print_version


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@common_options
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=lambda ctx, _, value: print_version(ctx, value),
              help="Show the version (and the commit, in a checkout) and exit.")
def cli() -> None:
    """Declarative state for servers, containers and AWS: validate, plan, apply."""
