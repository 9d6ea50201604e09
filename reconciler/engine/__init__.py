"""The engine: a run from a validated spec to a recorded state. `session` drives it; `plan` observes in
waves and diffs (`observe`, `diff`, `references`, `ghosts`); `apply` and `apply_run` carry the plan out
through `carry` (the one place that touches the world), here or on Dask workers (`distributed`); `drift`
and `drift_run` sort what differs.

May import: the model, the module contract and capabilities, the spec, the state, the targets and the
policies. Never: the report, the CLI, or any resource module package."""
