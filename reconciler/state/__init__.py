"""The state: what reconcile manages and last applied, behind one `StateStore` Protocol (`interface`):
a local SQLite file (`store`, sealed by `sealed_store`), or an S3 object (`s3`, with its journal and runs
beside it); `backend` opens, locks, lists versions, restores and lists workspaces; `operations` holds
what the state commands do; `planfile` reads and writes saved plans.

May import: the model, the errors, the key sources and the AWS error reading. Never: the engine, the
report or the CLI."""
