"""The plan's Terraform form names attributes as the AWS provider does: for every AWS type, an example's
attributes turned into the provider's form (`to_terraform`) and read back by the type's own migration from
Terraform (`from_terraform`, written from the provider's documentation) come back as they were — so the
renames of the two directions agree, for every attribute migration reads."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.capabilities import TerraformForm
from reconciler.registry import Registry

REGISTRY = Registry.installed()
AWS = sorted(t for t in REGISTRY.types if t.startswith("aws.") and REGISTRY.module_class(t).terraform_types)


# A Lambda function's code is a local file the provider form cannot carry (Terraform's `filename` is a path on
# the machine that ran it); migration refuses such an entry on purpose.
NOT_READ_BACK = {"aws.lambda_function"}


def provider_form(type_name: str, example: dict[str, Any]) -> dict[str, Any]:
    module = REGISTRY.module(type_name)
    (main, *_) = module.to_terraform(example)
    assert main.type == module.terraform_types[0]
    # what the provider always knows: the id, the ARN, the name or identifier (reconcile defaults them to the resource's)
    return {"id": "id-1", "arn": f"arn:aws:x:us-east-1:123456789012:{type_name}/id-1", "name": "example", "identifier": "example",
            **dict(main.values)}


def holds(got: Any, want: Any) -> bool:
    """`got` carries everything `want` says (defaults the provider fills in are allowed beside it)."""
    if isinstance(want, dict) and isinstance(got, dict):
        return all(k in got and holds(got[k], v) for k, v in want.items())
    return bool(got == want)


@pytest.mark.parametrize("type_name", AWS)
def test_an_example_survives_the_providers_form(type_name: str) -> None:
    examples = REGISTRY.schema(type_name).get("examples") or []
    assert examples, f"{type_name} has no example"
    example = {k: v for k, v in examples[0].items() if k not in ("state", "import")}
    module = REGISTRY.module(type_name)
    values = provider_form(type_name, example)
    if type(module).to_terraform is TerraformForm.to_terraform:  # the renaming form, no shape of its own
        renamed = {module.terraform_names.get(k, k) for k in example}
        assert renamed <= set(values), (type_name, sorted(renamed - set(values)))
    if type_name in NOT_READ_BACK:
        return
    try:
        adopted = module.from_terraform(values, "example")
    except Exception as exc:  # noqa: BLE001 - reported with the type
        pytest.fail(f"{type_name}: from_terraform cannot read its own provider form: {type(exc).__name__}: {exc}")
    differ = {k: (example[k], adopted.attributes[k]) for k in adopted.attributes
              if k in example and not holds(adopted.attributes[k], example[k]) and k != "tags"}
    assert not differ, (type_name, differ)
