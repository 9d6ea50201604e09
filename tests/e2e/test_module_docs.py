"""`reconcile docs`: a page per type from its schema and module, fresh in docs/modules, examples valid."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from reconciler.registry import Registry
from reconciler.report.module_docs import write_pages
from tests.conftest import ROOT, Cli

# the names the examples refer to each other by (${aws.vpc.main.id}, restart_on: [file.nginx_conf]…)
EXAMPLE_NAMES = {"aws.vpc": "main", "aws.subnet": "a", "aws.security_group": "web", "aws.ec2_instance": "web",
                 "aws.internet_gateway": "main", "aws.eip": "nat",
                 "file": "nginx_conf"}


def test_every_type_has_a_page_naming_every_attribute(cli: Cli) -> None:
    registry = Registry.installed()
    listed = cli("docs", check=0).out
    for type_name in registry.types:
        assert type_name in listed
        page = cli("docs", type_name, check=0).out
        schema = registry.schema(type_name)
        for prop, spec in schema["properties"].items():
            assert f"  {prop}  (" in page, (type_name, prop)
            assert spec.get("description") or "$ref" in spec, f"{type_name}.{prop} has no description"
        assert "EXAMPLE" in page and f"type: {type_name}" in page
    unknown = cli("docs", "aws.ebs_volum", check=1)
    assert unknown.err.strip() == ("Error: unknown resource type 'aws.ebs_volum' (did you mean aws.ebs_volume?); "
                                   "`reconcile docs` lists them")


def test_the_generated_pages_are_fresh(tmp_path: Path) -> None:
    written = write_pages(Registry.installed(), tmp_path)
    for path in written:
        committed = ROOT / "docs/modules" / path.name
        assert committed.exists() and committed.read_text() == path.read_text(), \
            f"docs/modules/{path.name} is stale: run `make docs`"
    assert {p.name for p in (ROOT / "docs/modules").iterdir()} == {p.name for p in written}


def test_the_examples_validate(cli: Cli, spec_dir: Path) -> None:
    registry = Registry.installed()
    resources = []
    for type_name in registry.types:
        for example in registry.schema(type_name).get("examples", []):
            resources.append({"type": type_name, "name": EXAMPLE_NAMES.get(type_name, "example"), **example})
    assert len({r["type"] for r in resources}) == len(registry.types)  # every type has one
    (spec_dir / "functions/report").mkdir(parents=True)  # the code the aws.lambda_function example names
    (spec_dir / "functions/report/main.py").write_text("def handler(event, context):\n    return None\n")
    (spec_dir / "site.yaml").write_text(yaml.safe_dump(
        {"name": "examples", "vars_from_env": ["DB_PASSWORD"], "resources": resources}, sort_keys=False))
    run = cli("validate", "--format", "json", "spec", check=0)
    assert json.loads(run.out)["valid"], run.out
