"""jsonschema validators, imported only when a check has to say where and why: a valid spec is checked
by fastjsonschema's compiled code alone (Registry.quick_check), so a run whose spec is valid never
imports jsonschema (~40 ms of start-up)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator


def validator_for(schema: dict[str, Any], formats: bool = True) -> Draft202012Validator:
    """A Draft 2020-12 validator of `schema`; with `formats`, `format: regex` and friends are checked, not
    just annotations."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER if formats else None)
