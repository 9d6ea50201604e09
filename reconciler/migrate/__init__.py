"""`reconcile migrate`: a Terraform state (`terraform`, `tfstate`) or an Ansible playbook and inventory
(`ansible` and its `ansible_*` helpers) become a reconcile spec, written by `output`; `commands` is the
command group, which verifies a migration with a plan.

May import: the model, the registry, the spec loader and the module contract; only `commands` drives the
engine."""
