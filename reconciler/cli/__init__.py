"""The `reconcile` command: parse options, drive a Session, print through report/. No engine logic here.

Every problem reaches the user as `file:line:col: error: …` or one line `Error: …` and exit 1; an
unexpected failure (a bug) says where its traceback went instead of printing it, unless --debug.

- `root`: the command group; `options`: what every command takes and the helpers they share;
- one module per command group: `run` (plan, show, apply, destroy), `drift`, `state` (state …, history,
  output, force-unlock), `workspace`, `spec_tools` (validate, vars, graph, inventory, test), `reference`
  (types, docs, schema, completion), `hosts` (trust); `migrate` lives in reconciler.migrate.commands;
- `main`: the entry point and the mapping of every failure to a message and an exit code.

May import every other room; nothing imports it.
"""

from reconciler.cli.main import main
from reconciler.cli.root import cli

__all__ = ["cli", "main"]
