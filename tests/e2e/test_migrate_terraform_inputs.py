"""`reconcile migrate terraform` on hand-made states (no endpoint contacted): literal values stay literal,
sensitive values are never written, split resources fold into their owners without emptying a set, bad
shapes are errors at their file:line, and a failed migration leaves nothing behind."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.engine.session import Session
from reconciler.errors import ReconcileError
from reconciler.migrate.terraform import literal, migrate
from reconciler.migrate.tfstate import MalformedEntry, read_state
from reconciler.registry import Registry
from tests.conftest import Cli, write


def tfstate(*resources: dict[str, Any]) -> str:
    return json.dumps({"version": 4, "terraform_version": "1.11.0", "serial": 1, "lineage": "x",
                       "resources": list(resources)}, indent=2)


def entry(type_: str, name: str, attributes: dict[str, Any], sensitive: list[Any] | None = None) -> dict[str, Any]:
    return {"mode": "managed", "type": type_, "name": name,
            "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
            "instances": [{"schema_version": 0, "attributes": attributes, "sensitive_attributes": sensitive or []}]}


VPC = {"id": "vpc-0a1b2c3d", "arn": "arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-0a1b2c3d", "cidr_block": "10.1.0.0/16",
       "tags": {"Name": "main", "template": "{{ 7*7 }}", "reference": "${aws.vpc.main.id}", "both": "{% if x %}${y}"}}
GROUP = {"id": "sg-0123", "arn": "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0123", "name": "web",
         "description": "web", "vpc_id": "vpc-0a1b2c3d", "ingress": [], "egress": [], "tags": {}}


def rule(name: str, **values: Any) -> dict[str, Any]:
    return entry("aws_security_group_rule", name, {"security_group_id": "sg-0123", "cidr_blocks": [],
                                                   "ipv6_cidr_blocks": [], "prefix_list_ids": [], "self": False,
                                                   "source_security_group_id": None, **values})


def loaded(out: Path) -> dict[str, Any]:
    """The migrated spec as the engine reads it and passes it on: address -> attributes."""
    from reconciler.spec.refs import unescape

    return {r.address: unescape(dict(r.attributes)) for r in Session(out).validate(unset_env_ok=True).spec.resources}


def test_literal_values_stay_literal_and_rules_fold_into_their_group(cli: Cli, tmp_path: Path) -> None:
    state = write(tmp_path / "terraform.tfstate", tfstate(
        entry("aws_vpc", "main", VPC), entry("aws_security_group", "web", GROUP),
        rule("https", type="ingress", protocol="tcp", from_port=443, to_port=443, cidr_blocks=["0.0.0.0/0"]),
        rule("peers", type="ingress", protocol="-1", from_port=0, to_port=0, self=True),
        rule("admin", type="ingress", protocol="tcp", from_port=22, to_port=22, source_security_group_id="sg-9999"),
        entry("aws_vpc_security_group_egress_rule", "out", {"security_group_id": "sg-0123", "ip_protocol": "-1",
                                                             "cidr_ipv4": "0.0.0.0/0"})))
    run = cli("migrate", "terraform", str(state), "--out", str(tmp_path / "out"), check=0)
    assert "merged: aws_security_group_rule.https (into aws.security_group.web)" in run.out
    spec = loaded(tmp_path / "out")
    assert {k: spec["aws.vpc.main"]["tags"][k] for k in ("template", "reference", "both")} == {
        "template": "{{ 7*7 }}", "reference": "${aws.vpc.main.id}", "both": "{% if x %}${y}"}  # never evaluated
    group = spec["aws.security_group.web"]
    assert {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]} in group["ingress"]
    assert {"protocol": "all", "source_security_group_ids": ["sg-0123"]} in group["ingress"]  # self: its own id
    assert {"protocol": "tcp", "from_port": 22, "to_port": 22, "source_security_group_ids": ["sg-9999"]} in group[
        "ingress"]
    assert group["egress"] == [{"protocol": "all", "cidr_blocks": ["0.0.0.0/0"]}]
    written = yaml.safe_load((tmp_path / "out/main.yaml").read_text())
    assert written["aws"]["region"] == "eu-west-1"  # from the ARNs


def test_a_rule_that_cannot_be_folded_leaves_the_rules_unmanaged_never_empty(cli: Cli, tmp_path: Path) -> None:
    state = write(tmp_path / "terraform.tfstate", tfstate(
        entry("aws_vpc", "main", VPC), entry("aws_security_group", "web", GROUP),
        rule("odd", type="ingress", protocol="tcp", from_port=80, to_port=80)))  # no source at all
    run = cli("migrate", "terraform", str(state), "--out", str(tmp_path / "out"), check=0)
    assert "ingress is left unmanaged (lifecycle.ignore_changes)" in run.out, run.out
    (group,) = [r for r in yaml.safe_load((tmp_path / "out/main.yaml").read_text())["resources"] if r["name"] == "web"]
    assert "ingress" not in group and group["lifecycle"] == {"ignore_changes": ["ingress"]}


def test_sensitive_values_are_read_from_the_environment_never_written(cli: Cli, tmp_path: Path) -> None:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("main.py", "def handler(event, context):\n    return 1\n")
    (tmp_path / "function.zip").write_bytes(code.getvalue())
    function = {"function_name": "report", "arn": "arn:aws:lambda:us-east-1:123456789012:function:report",
                "filename": "function.zip", "runtime": "python3.12", "handler": "main.handler",
                "role": "arn:aws:iam::123456789012:role/r", "memory_size": 128, "timeout": 3,
                "environment": [{"variables": {"TABLE": "reports", "TOKEN": "s3cr3t-t0ken"}}]}
    marks = [[{"type": "get_attr", "value": "environment"}, {"type": "index", "value": {"value": 0, "type": "number"}},
              {"type": "get_attr", "value": "variables"}, {"type": "index", "value": {"value": "TOKEN",
                                                                                      "type": "string"}}]]
    database = {"identifier": "app", "arn": "arn:aws:rds:us-east-1:123456789012:db:app", "engine": "postgres",
                "instance_class": "db.t3.micro", "allocated_storage": 20, "username": "app",
                "password": "db-pa55word", "storage_encrypted": True, "multi_az": True,
                "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/k", "parameter_group_name": "app-pg"}
    state = write(tmp_path / "terraform.tfstate", tfstate(
        entry("aws_lambda_function", "report", function, marks),
        entry("aws_db_instance", "app", database, [[{"type": "get_attr", "value": "password"}]])))
    run = cli("migrate", "terraform", str(state), "--out", str(tmp_path / "out"), check=0)
    text = (tmp_path / "out/main.yaml").read_text()
    assert "s3cr3t-t0ken" not in text and "db-pa55word" not in text and "s3cr3t" not in run.text
    written = {r["name"]: r for r in yaml.safe_load(text)["resources"]}
    assert written["report"]["environment"] == {"TABLE": "reports", "TOKEN": "{{ env.REPORT_ENVIRONMENT_TOKEN }}"}
    assert written["report"]["sensitive"] == ["environment"]
    assert (tmp_path / "out" / written["report"]["source"]).read_bytes() == code.getvalue()  # deployed as it is
    assert {"storage_encrypted": True, "multi_az": True, "db_parameter_group_name": "app-pg"}.items() <= written[
        "app"].items()  # security-relevant settings carried
    assert set(yaml.safe_load(text)["vars_from_env"]) == {"REPORT_ENVIRONMENT_TOKEN", "APP_MASTER_PASSWORD"}
    state_bytes = b"".join(p.read_bytes() for p in (tmp_path / "out/.reconcile").rglob("*") if p.is_file())
    assert b"db-pa55word" not in state_bytes and b"s3cr3t-t0ken" not in state_bytes  # a salted hash at most


def test_what_is_not_carried_is_listed_per_resource(cli: Cli, tmp_path: Path) -> None:
    instance = {"id": "i-0abc", "arn": "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc", "ami": "ami-1",
                "instance_type": "t3.micro", "subnet_id": "subnet-1", "monitoring": True, "ebs_optimized": True,
                "metadata_options": [{"http_tokens": "required", "http_endpoint": "enabled"}], "tags": {}}
    state = write(tmp_path / "terraform.tfstate", tfstate(entry("aws_instance", "web", instance)))
    run = cli("migrate", "terraform", str(state), "--out", str(tmp_path / "out"), check=0)
    assert "not carried: aws_instance.web: ebs_optimized, monitoring (not a setting of aws.ec2_instance)" in run.out
    assert "IMDSv2 (metadata_options.http_tokens = required) is not carried" in run.out


def test_bad_states_are_errors_at_their_line_and_leave_nothing(cli: Cli, tmp_path: Path) -> None:
    cases = {
        "show.json": ('{"format_version": "2.0",\n "values": {}}', "format_version '2.0' is not supported", 1),
        "list.tfstate": ('{"version": 4,\n "resources": {"a": 1}}', "resources must be a list", 2),
        "attrs.tfstate": ('{"version": 4, "resources": [\n {"mode": "managed", "type": "aws_vpc", "name": "a",\n'
                          '  "instances": [{"attributes": [1, 2]}]}]}', "attributes must be an object", 3),
        "shape.tfstate": ('{"version": 4, "resources": [\n {"mode": "managed", "type": "aws_vpc", "name": "a",\n'
                          '  "instances": [{"attributes": {"cidr_block": "10.0.0.0/16"}}]}]}',
                          "aws_vpc.a: not a state entry of aws_vpc", 3),
        "deep.json": ('{"format_version": "1.0", "values": {"root_module": ' + '{"child_modules": [' * 70
                      + "{}" + "]}" * 70 + "}}", "modules nested more than 64 deep", 1),
    }
    for name, (text, message, line) in cases.items():
        state = write(tmp_path / name, text)
        run = cli("migrate", "terraform", str(state), "--out", str(tmp_path / f"out-{name}"), check=1)
        assert message in run.err and f"{state}:{line}:" in run.err and "Traceback" not in run.text, (name, run.err)
        assert not (tmp_path / f"out-{name}").exists()
    assert not list(tmp_path.glob(".*migrating*"))


def test_a_failed_migration_leaves_nothing_and_a_rerun_works(cli: Cli, tmp_path: Path) -> None:
    function = {"function_name": "f", "arn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                "filename": "gone.zip", "runtime": "python3.12", "handler": "main.handler",
                "role": "arn:aws:iam::123456789012:role/r"}
    state = write(tmp_path / "terraform.tfstate", tfstate(entry("aws_vpc", "main", VPC),
                                                          entry("aws_lambda_function", "f", function)))
    out = tmp_path / "out"
    run = cli("migrate", "terraform", str(state), "--out", str(out), check=1)
    assert "gone.zip" in run.err and not out.exists() and not list(tmp_path.glob(".out.migrating-*"))
    with zipfile.ZipFile(tmp_path / "gone.zip", "w") as archive:
        archive.writestr("main.py", "def handler(event, context):\n    return 1\n")
    cli("migrate", "terraform", str(state), "--out", str(out), check=0)
    assert (out / "main.yaml").exists() and (out / "functions/f.zip").exists()


def test_literal_round_trips_through_the_template_engine() -> None:
    from reconciler.spec.refs import unescape
    from reconciler.spec.render import Renderer

    renderer = Renderer()
    for text in ("{{ 7*7 }}", "{% raw %}x{% endraw %}", "${a.b.c}", "$${x}", "{# c #}", "plain", "a {{ b"):
        assert unescape(renderer.render_text(literal(text), {})) == text, text


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                   max_size=3), max_leaves=12)
TYPES = st.sampled_from(["aws_vpc", "aws_security_group", "aws_security_group_rule", "aws_route_table", "aws_route",
                         "aws_s3_bucket", "aws_s3_bucket_lifecycle_configuration", "aws_iam_role",
                         "aws_iam_role_policy_attachment", "aws_lb_listener", "aws_autoscaling_group", "aws_db_instance",
                         "aws_lambda_function", "aws_sqs_queue", "aws_route53_record", "google_thing"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(TYPES, st.dictionaries(st.sampled_from(
    ["id", "name", "arn", "security_group_id", "route_table_id", "bucket", "role", "type", "protocol", "rule",
     "ingress", "default_action", "launch_template", "filename", "tags", "policy", "identifier", "vpc_id"]),
    JSONISH, max_size=8)), max_size=6))
def test_any_malformed_state_gets_an_error_never_an_exception(tmp_path: Path, entries: list[Any]) -> None:
    state = tmp_path / "fuzz.tfstate"
    state.write_text(tfstate(*(entry(t, f"r{i}", v) for i, (t, v) in enumerate(entries))))
    try:
        migrate(read_state(state), Registry.installed())
    except (ReconcileError, MalformedEntry):
        pass
