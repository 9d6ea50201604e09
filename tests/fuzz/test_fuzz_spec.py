"""Property-based fuzzing of the spec pipeline (Hypothesis): generated and mutated specs — random YAML
structures, wrong types, references, Jinja expressions, raw text — must end in exit 0 or 1 (2 for a plan with
changes), never a traceback or an internal error, within a bounded time, and writing nothing outside the temp
directory. `make test` runs a bounded number of examples; `make fuzz` runs many more
(RECONCILE_FUZZ_EXAMPLES)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli import main

EXAMPLES = int(os.environ.get("RECONCILE_FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, deadline=30_000, suppress_health_check=list(HealthCheck), derandomize=False)

TYPES = ["file", "directory", "symlink", "command", "line_in_file", "cron", "user", "group", "package", "service",
         "docker.container", "aws.s3_bucket", "nope", "", "file.x"]
KEYS = ["type", "name", "path", "content", "mode", "owner", "on", "depends_on", "lifecycle", "sensitive", "state",
        "command", "creates", "target", "line", "regexp", "create", "template", "recurse", "moved", "removed",
        "ignore_changes", "prevent_destroy", "allow_data_loss", "create_before_destroy", "vars", "resources",
        "inventory", "hosts", "groups", "docker", "aws", "region", "name", "x", "<<"]
JINJA = ["{{ x }}", "{{ 1 // 0 }}", "{{ x | upper }}", "{% for i in range(3) %}{{ i }}{% endfor %}", "{{", "}}",
         "{% if %}", "{{ env.HOME }}", "{{ host.vars.a }}", "{{ ''.__class__ }}", "{{ range(10**7)|list }}",
         "{{ 'a' * 10**8 }}", "{{ vars }}", "{% raw %}", "{#", "{{ out }}/f"]
REFS = ["${file.a.path}", "${file.a.path.x.y}", "${command.c.stdout.0}", "${", "${}", "${aws.vpc.main.id}",
        "$${literal}", "${file.a}", "${directory.d.path}/f", "${file.a[h1].path}", "${nope.nope.nope}"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
    st.text(max_size=40), st.sampled_from(JINJA + REFS + TYPES + ["0644", "/tmp", "local", "present", "absent"]),
)
VALUES = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=5), st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children,
                                                     max_size=6)), max_leaves=25)

RESOURCE = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES[:10]), "name": st.sampled_from(["a", "b", "c", "d", "bad name", "a"])},
    optional={
        "path": st.sampled_from(["{{ out }}/a", "{{ out }}/b/", "${directory.d.path}/f", "relative", "/",
                                 "{{ out }}/d", "{{ out }}/a\x00b", 5]),
        "content": st.one_of(st.text(max_size=30), st.sampled_from(JINJA + REFS)),
        "mode": st.sampled_from(["0644", "0755", "9999", 644, "u+x"]),
        "depends_on": st.lists(st.sampled_from(["file.a", "file.b", "directory.d", "nope.x", "file.a[h1]"]),
                               max_size=3),
        "lifecycle": st.one_of(VALUES, st.fixed_dictionaries({}, optional={
            "prevent_destroy": st.booleans(), "ignore_changes": st.lists(st.sampled_from(["mode", "x"]))})),
        "on": st.sampled_from(["local", "h1", "web", "nope", 3]),
        "command": st.sampled_from(["true", "echo {{ x }}", ["echo", "${file.a.path}"]]),
        "state": st.sampled_from(["present", "absent", "weird", 1]),
        "target": st.sampled_from(["{{ out }}/a", "${file.a.path}"]),
    })
# groups whose hosts come from AWS (`from:`), every one wrong in a way validation catches (none may reach a
# cloud: no resource of the fuzzed specs is an aws.ec2_instance or an auto scaling group)
DYNAMIC = st.fixed_dictionaries({"groups": st.fixed_dictionaries({"web": st.fixed_dictionaries(
    {"from": st.one_of(st.sampled_from(["${aws.ec2_instance.web}", "${aws.autoscaling_group.a}", "${file.a}",
                                        "${aws.rds_instance.a}", "${", "aws.ec2_instance.web", ""]),
                       st.fixed_dictionaries({"type": st.sampled_from(["aws.rds_instance", "file", "nope", ""])},
                                             optional={"tags": VALUES, "region": VALUES}),
                       VALUES)},
    optional={"address": st.sampled_from(JINJA + ["{{ instance.tags.x }}"]), "port": VALUES, "host_name": VALUES,
              "host_key": VALUES, "ssh_wait": VALUES, "vars": VALUES, "hosts": VALUES})})})
SPEC = st.fixed_dictionaries(
    {"resources": st.one_of(st.lists(RESOURCE, max_size=6), VALUES)},
    optional={"vars": st.one_of(st.dictionaries(st.sampled_from(["x", "env", "host", "count"]), VALUES,
                                                 max_size=3), VALUES),
              "name": st.one_of(st.sampled_from(["fuzz", "bad name!"]), VALUES),
              "inventory": st.one_of(st.just({"hosts": {"h1": {"address": "127.0.0.1", "port": 9}},
                                              "groups": {"web": ["h1"]}}), DYNAMIC, VALUES),
              "moved": VALUES, "removed": VALUES, "docker": VALUES, "aws": VALUES, "template_paths": VALUES})


def run(args: list[str], cwd: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(args)
                code = 0
            except SystemExit as exc:
                code = int(exc.code or 0)
    finally:
        os.chdir(previous)
    return code, out.getvalue() + err.getvalue()


def check(text: str) -> None:
    """Validate then plan (and, for well-formed resources, apply) one spec text in a fresh directory."""
    with tempfile.TemporaryDirectory(prefix="reconcile-fuzz-") as tmp:
        root = Path(tmp)
        spec = root / "spec"
        spec.mkdir()
        (spec / "site.yaml").write_text(text)
        (root / "out").mkdir()
        before = {p for p in Path(tempfile.gettempdir()).iterdir() if p.name != root.name}
        env = {"OUT": str(root / "out"), "NO_COLOR": "1"}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            for args in (["validate", "spec"], ["plan", "--detailed-exitcode", "spec"],
                         ["apply", "--auto-approve", "spec"]):
                code, output = run(args, root)
                assert code in (0, 1, 2), (args, code, output)
                assert "Traceback" not in output and "internal error" not in output, (args, output, text)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        after = {p for p in Path(tempfile.gettempdir()).iterdir() if p.name != root.name}
        # what reconcile itself would leave outside the spec's directory (other tests' own temporary
        # directories, made meanwhile by a parallel worker or run, are not its doing)
        ours = {p for p in after - before if p.name.startswith(("reconcile", ".reconcile"))
                and not p.name.startswith(("reconcile-fuzz-", "reconcile-test-run-", "reconcile-bench",
                                           "reconcile-hello"))}  # the last: the getting-started example's own
        assert not ours, ours


def as_yaml(value: Any) -> str:
    try:
        return yaml.safe_dump(value, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, ValueError):
        return json.dumps(value, default=str)


@FUZZ
@given(SPEC)
def test_generated_specs(spec: dict[str, Any]) -> None:
    spec = {"vars_from_env": ["OUT"], "vars": {"out": "{{ env.OUT }}"}, **spec}
    if isinstance(spec.get("vars"), dict):
        spec["vars"] = {"out": "{{ env.OUT }}", **spec["vars"]}
    check(as_yaml(spec))


EXAMPLE = (Path(__file__).resolve().parent.parent.parent / "specs/examples/local/site.yaml").read_text()


@FUZZ
@given(st.data())
def test_mutated_example_text(data: st.DataObject) -> None:
    """The demo spec's text with random cuts, insertions and replacements: YAML and Jinja syntax errors,
    indentation mistakes, truncated files."""
    text = EXAMPLE.replace("{{ env.DEMO_ROOT }}", "{{ env.OUT }}").replace("[DEMO_ROOT]", "[OUT]")
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        what = data.draw(st.sampled_from(["cut", "insert", "replace"]))
        piece = data.draw(st.one_of(st.sampled_from(JINJA + REFS + [":", "- ", "\n  ", "&a", "*a", "!!binary", "{",
                                                                     "[", "\t", "'", '"', "\x00", "<<: 5"]),
                                    st.text(max_size=10)))
        if what == "cut":
            text = text[:at] + text[at + data.draw(st.integers(1, 40)):]
        elif what == "insert":
            text = text[:at] + piece + text[at:]
        else:
            text = text[:at] + piece + text[at + len(piece):]
    check(text)


GOOD_SPEC = 'name: fuzz\nvars: {x: 1}\nresources:\n  - {type: file, name: f, path: "{{ env.OUT }}/f", content: "{{ x }}"}\nvars_from_env: [OUT]\n'


def check_with(args_for: Any, extra_files: dict[str, str]) -> None:
    """Validate, plan and apply GOOD_SPEC with extra command-line arguments naming `extra_files` (written
    beside it): exit 0, 1 or 2, never a traceback, nothing written outside the temp directory."""
    with tempfile.TemporaryDirectory(prefix="reconcile-fuzz-") as tmp:
        root = Path(tmp)
        (root / "spec").mkdir()
        (root / "spec/site.yaml").write_text(GOOD_SPEC)
        (root / "out").mkdir()
        for name, text in extra_files.items():
            (root / name).write_text(text)
        saved = os.environ.get("OUT")
        os.environ["OUT"] = str(root / "out")
        try:
            for command in (["validate"], ["plan"], ["apply", "--auto-approve"]):
                code, output = run([*command, *args_for(root), "spec"], root)
                assert code in (0, 1, 2), (command, code, output)
                assert "Traceback" not in output and "internal error" not in output, (command, output)
        finally:
            if saved is None:
                os.environ.pop("OUT", None)
            else:
                os.environ["OUT"] = saved
        assert not any(p.name == ".reconcile" for p in root.rglob(".reconcile") if p.parent != root / "spec")


VAR_TEXT = st.one_of(
    st.builds(as_yaml, st.dictionaries(st.sampled_from(["x", "env", "host", "workspace", "each", "a b", "y"]),
                                       VALUES, max_size=4)),
    st.text(max_size=300),
    st.sampled_from(["a: &a [1,2]\nb: [*a,*a]\n", "- 1\n", "x: !!python/object:os.system ls\n", "x: [[[[[[[[[[1]]]]]]]]]]\n",
                     "{", "x: {{ 1 }}\n", "\x00", "x: 1\nx: 2\n"]))


@FUZZ
@given(VAR_TEXT)
def test_var_files(text: str) -> None:
    check_with(lambda root: ["--var-file", str(root / "vars.yaml")], {"vars.yaml": text})


WORKSPACE = st.one_of(st.text(max_size=80), st.sampled_from(["../../x", "a/b", ".", "..", "-", "x" * 65, "ok_1"]))


@FUZZ
@given(WORKSPACE)
def test_workspace_names(name: str) -> None:
    if "\x00" in name:
        name = name.replace("\x00", "")  # no process argument can hold a NUL
    check_with(lambda root: ["--workspace", name], {})


def _single_line_attributes() -> list[tuple[str, str, bool]]:
    """(type, attribute) of every value written as one line of a file (marked `x-single-line` in its schema)."""
    from reconciler.registry import Registry

    registry = Registry.installed()
    found = []
    for type_name in registry.types:
        for name, prop in (registry.schema(type_name).get("properties") or {}).items():
            checked = [prop, prop.get("items") or {}, *prop.get("oneOf", []), *prop.get("anyOf", [])]
            if any(isinstance(p, dict) and (p.get("not") or {}).get("description") == "one line" for p in checked):
                found.append((type_name, name, prop.get("type") == "array"))
    return found


SINGLE_LINE = _single_line_attributes()


@FUZZ
@given(st.sampled_from(SINGLE_LINE), st.sampled_from(["\n", "\r", "\u2028", "\u2029", "\u0085", "\x00"]),
       st.text(alphabet="abc /=-", min_size=1, max_size=10), st.booleans())
def test_a_line_break_in_any_value_written_as_a_line_is_refused(field: tuple[str, str, bool], separator: str,
                                                                 text: str, at_end: bool) -> None:
    type_name, name, listed = field
    value = text + separator + ("" if at_end else text)
    body = {"resources": [{"type": type_name, "name": "x", name: [value] if listed else value}]}
    with tempfile.TemporaryDirectory(prefix="reconcile-fuzz-") as tmp:
        root = Path(tmp)
        (root / "spec.yaml").write_text(json.dumps(body))
        code, output = run(["validate", "spec.yaml"], root)
    assert code == 1 and "Traceback" not in output, (field, output)
    assert "must be one line" in output or "contains a NUL character" in output, (field, repr(value), output)


def test_every_value_written_as_a_line_is_marked() -> None:
    marked = {(t, n) for t, n, _ in SINGLE_LINE}
    for field in [("cron", "job"), ("authorized_key", "key"), ("hostname", "hostname"), ("mount", "opts"),
                  ("sysctl", "value"), ("apt_repository", "suites"), ("systemd_unit", "unit"), ("line_in_file", "line"),
                  ("block_in_file", "marker"), ("user", "shell")]:
        assert field in marked, field
