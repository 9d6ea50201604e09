"""trust: an SSH host's key, checked and recorded."""

from __future__ import annotations

import os
import sys

import click

from reconciler.cli.options import EXIT_OK, common_options, session_for
from reconciler.cli.root import cli
from reconciler.errors import ReconcileError


@cli.command("trust")
@click.argument("host")
@click.option("--spec", default=".", show_default=True, type=click.Path(), help="The spec whose inventory names HOST.")
@click.option("--known-hosts", type=click.Path(dir_okay=False),
              help="File to add the key to (default: the spec's known_hosts, else ~/.ssh/known_hosts).")
@click.option("--yes", is_flag=True, help="Add the key without asking.")
@common_options
def trust_cmd(host: str, spec: str, known_hosts: str | None, yes: bool) -> int:
    """Show a host's SSH key fingerprint and add it to known_hosts."""
    from reconciler.targets.host_keys import append_known_host, fetch_host_key, fingerprint, known_hosts_name

    validated = session_for(spec).validate(unset_env_ok=True)
    entry = validated.spec.inventory.hosts.get(host)
    if entry is None:
        raise ReconcileError(f"host {host} is not in the inventory of {spec}")
    key = fetch_host_key(entry.address, entry.port)
    name = known_hosts_name(entry.address, entry.port)
    click.echo(f"{host} ({name}) presents {key.get_name()} key {fingerprint(key)}")
    if not yes:
        if not sys.stdin.isatty():
            raise ReconcileError("not adding the key: confirm with --yes, or run on a terminal")
        if click.prompt("Trust this key? Only 'yes' will be accepted", default="", show_default=False) != "yes":
            raise ReconcileError("key not added")
    path = known_hosts or validated.spec.inventory.known_hosts or os.path.expanduser("~/.ssh/known_hosts")
    try:
        append_known_host(path, name, key)
    except OSError as exc:
        raise ReconcileError(f"cannot write {path}: {exc.strerror}") from None
    click.echo(f"Added {name} to {path}")
    return EXIT_OK
