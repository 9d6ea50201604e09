"""The entry point: runs the command table and maps every failure to one message and an exit code."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from reconciler.cli import drift, hosts, reference, run, spec_tools, state, watch, workspace  # noqa: F401 - each adds its commands
from reconciler.cli.options import COMPLETE_VAR, EXIT_ERROR, EXIT_OK, common_options, log
from reconciler.cli.root import cli
from reconciler.diagnostics import Diagnostic
from reconciler.errors import ReconcileError, SpecError
from reconciler.logs import configure_logging
from reconciler.secrets import Redactor


def _add_migrate() -> None:
    from reconciler.migrate.commands import migrate_group

    for command in [migrate_group, *migrate_group.commands.values()]:
        common_options(command)  # every command takes the global options
    cli.add_command(migrate_group)


_add_migrate()


# -- entry point -----------------------------------------------------------------------------------
def tune_gc() -> None:
    """A spec of 10,000 resources allocates millions of small acyclic objects; the default
    collector thresholds make that quadratic. Collect rarely, and never scan the imports."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def main(argv: Sequence[str] | None = None) -> None:
    instruction = os.environ.get(COMPLETE_VAR)
    if instruction:  # the shell asks for completions (see `reconcile completion`)
        from click.shell_completion import shell_complete

        sys.exit(shell_complete(cli, {}, "reconcile", COMPLETE_VAR, instruction))
    tune_gc()
    args = list(argv) if argv is not None else sys.argv[1:]
    context_settings: dict[str, Any] = {}
    try:
        configure_logging(0, None, False, lambda: context_settings.get("redactor") or Redactor())
        with cli.make_context("reconcile", list(args), obj=context_settings) as ctx:
            rc = cli.invoke(ctx)
    except SpecError as exc:
        for d in exc.diagnostics:
            _event_error(context_settings, _mask(d.message, context_settings), d)
        click.echo("\n".join(_mask(str(d), context_settings) for d in exc.diagnostics), err=True)
        sys.exit(EXIT_ERROR)
    except ReconcileError as exc:
        _event_error(context_settings, _mask(str(exc), context_settings))
        click.echo(f"Error: {_mask(str(exc), context_settings)}", err=True)
        sys.exit(EXIT_ERROR)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_ERROR)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_ERROR if exc.exit_code == 2 else exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except BrokenPipeError:  # `reconcile types | head`: the reader left; end quietly, as a pipe's writer does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except Exception as exc:  # noqa: BLE001 - a bug: its traceback goes to the log, never in the user's face
        log.critical("internal error", exc_info=exc)
        where = context_settings.get("log_file")
        hint = "(run again with --debug to see the traceback" + (f"; it is in {where})" if where else ")")
        if context_settings.get("debug"):
            import traceback

            traceback.print_exc()
        click.echo(f"Error: internal error: {_mask(f'{type(exc).__name__}: {exc}', context_settings)} {hint}",
                   err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(rc if isinstance(rc, int) else EXIT_OK)


def _event_error(context: dict[str, Any], message: str, diagnostic: Diagnostic | None = None) -> None:
    """In --json/--json-stream mode, the error that stopped the command is an event on stdout too."""
    events = context.get("events")
    if events is None:
        return
    where = diagnostic.location if diagnostic is not None else None
    events.error(message, {"file": str(where.file), "line": where.line, "column": where.col} if where else None)


def _mask(text: str, context: dict[str, Any]) -> str:
    redactor = context.get("redactor")
    return redactor.redact(text) if redactor is not None else text
