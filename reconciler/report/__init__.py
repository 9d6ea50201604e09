"""The report: everything a user reads. Plans as text, markdown and JSON; apply progress and prompts
(`ApplyView`, an `ApplyHooks`); drift formats, HTML pages and graph pictures; notifications.

May import: the model, the spec, the registry and the engine's values (outcomes, drift classes). Never: the CLI.
Nothing below it imports it."""
