"""The spec: files to a validated spec and its dependency graph. `load` reads YAML with every value's
location; `build` orchestrates rendering (`render`, sandboxed Jinja2), expansion (`expansion`,
`for_each`/`count`/`when`, components), schema checks (`schema_checks`) and placement; `graph` builds the
dependency graph; `validate` returns the two.

May import: the model, the registry and the module contract. Never: the state, the engine or the report."""
