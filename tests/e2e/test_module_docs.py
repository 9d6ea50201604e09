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


def test_pages_read_as_written() -> None:
    """Each class of glitch a reader met: escaped newlines in examples, summaries cut mid-sentence, doubled
    backslashes, a data source without a page, the old lifecycle key."""
    from reconciler.report.module_docs import all_docs, render_index, render_markdown, render_text

    registry = Registry.installed()
    docs = all_docs(registry)
    assert {d.type_name for d in docs if d.data_source} == set(registry.data_types)
    for doc in docs:
        text, page = render_text(doc), render_markdown(doc)
        assert "⏎" not in text and "\\\\" not in text, doc.type_name
        if any(isinstance(v, str) and "\n" in v for v in (doc.examples[0] if doc.examples else {}).values()):
            assert ": |" in text, (doc.type_name, text)  # a text of several lines as a literal block
        assert "prevent_destroy: false or --allow-data-loss" not in page, doc.type_name
        summary = doc.summary
        assert summary and summary.count("(") == summary.count(")"), (doc.type_name, summary)
        assert not summary.lower().endswith((" e.g", " i.e", " etc")), (doc.type_name, summary)
        assert doc.description.startswith(summary), doc.type_name
    index = render_index(docs)
    assert "file  " in index and "stack_output" in index


def test_data_sources_are_documented_like_types(cli: Cli) -> None:
    registry = Registry.installed()
    for name in registry.data_types:  # a name that is a resource type too is data.NAME
        page = cli("docs", f"data.{name}" if name in registry else name, check=0).out
        assert page.startswith(f"{name}  (data source; from reconcile-iac") and "ATTRIBUTES" in page, page
    assert "data sources:" in cli("docs", check=0).out
    assert "(data source" in cli("docs", "data.aws.ami", check=0).out


def test_defaults_that_differ_from_terraforms_are_noted(cli: Cli) -> None:
    """Where a type's default differs from the AWS provider's, its page and `docs TYPE` say so."""
    registry = Registry.installed()
    noted = [t for t in registry.types if registry.schema(t).get("x-coming-from-terraform")]
    assert {"aws.lb_target_group", "aws.dynamodb_table", "aws.security_group"} <= set(noted), noted
    for type_name in noted:
        page = (ROOT / "docs/modules" / f"{type_name}.md").read_text()
        assert "## Coming from Terraform" in page, type_name
    assert "COMING FROM TERRAFORM" in cli("docs", "aws.lb_target_group", check=0).out
