"""Policy: the plan in Terraform's plan-JSON shape (terraform_plan), read by Rego policies (rego) and by the
scanners teams already run on Terraform plans. May import the model and the module contract; not the CLI
or the report layer."""
