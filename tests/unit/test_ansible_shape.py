"""The shape of a converted playbook: short names, packages grouped, and order only where it matters."""

from __future__ import annotations

from reconciler.migrate.ansible_shape import shaped, short_name
from reconciler.migrate.ansible_templates import as_ansible_renders


def test_short_names_from_task_names() -> None:
    assert short_name("Make sure we have a 'wheel' group", "group") == "wheel_group"
    assert short_name("Ensure nginx is installed", "apt") == "nginx"
    assert short_name("The vendor's repository", "apt_repository") == "vendor_repository"
    assert short_name(None, "file") == "file" and short_name("!!!", "file") == "file"


def r(type_: str, name: str, **attrs: object) -> dict[str, object]:
    return {"type": type_, "name": name, "on": "web", **attrs}


def test_packages_grouped_and_order_only_where_it_matters() -> None:
    resources = [r("package", "curl", package="curl"), r("package", "git", package="git"),
                 r("package", "tools", for_each=["tree", "bc"], package="{{ each.value }}"),
                 r("group", "app", group_name="app"), r("user", "app", username="app", group="app"),
                 r("directory", "root", path="/srv/app"), r("file", "conf", path="/srv/app/app.conf"),
                 r("service", "app", service="app", restart_on=["file.conf", "package.git"]),
                 r("cron", "nightly", job="true")]
    order = [f"{x['type']}.{x['name']}" for x in resources]
    steps = {"package": "software", "group": "group", "user": "account", "service": "runs", "cron": "owned"}
    out = {f"{x['type']}.{x['name']}": x for x in shaped(resources, order, lambda t: steps.get(t, "content"))}
    assert out["package.packages"]["names"] == ["curl", "git", "tree", "bc"] and "package.curl" not in out
    assert out["service.app"]["restart_on"] == ["file.conf", "package.packages"]  # references follow the merge
    assert "depends_on" not in out["package.packages"]
    assert out["group.app"]["depends_on"] == ["package.packages"]  # a package may bring the group it joins
    assert out["user.app"]["depends_on"] == ["group.app"]  # not also the package: the group has it
    assert out["file.conf"]["depends_on"] == ["directory.root"]  # not also the package: the directory has it
    assert out["service.app"]["depends_on"] == ["file.conf"]
    assert out["cron.nightly"]["depends_on"] == ["user.app"]


def test_templates_render_as_under_ansible() -> None:
    assert as_ansible_renders("{% if x %}\na\n{% endif %}\nb\n") == "{% if x %}a\n{% endif %}b\n"
    assert as_ansible_renders("{# c #}\nx\n", included=True) == "{# c #}x"
    assert as_ansible_renders("{% if x +%}\na") == "{% if x +%}\na"
