"""`migrate ansible` keeps a task's meaning or refuses the task, never changes it silently: per-task become,
check_mode and ignore_errors are refused with their line; no_log, vars_files, remote_user, serial,
environment, args, loop_control, append, reload handlers and a cache refresh alone are carried; FQDN host
names and INI ranges make valid hosts; a role's task file is named as such; and the spec validates,
always (a piece that would not is left out, with a note). No host is contacted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.conftest import Cli, write

PLAYBOOK = """
- hosts: web
  become: true
  remote_user: deploy
  serial: 1
  vars_files: [vars/main.yml]
  tasks:
    - name: Make sure we have the app directory
      file: {path: "{{ app_root }}", state: directory, mode: "0755"}
    - name: unpack
      command: tar xf /tmp/app.tar
      args: {chdir: "{{ app_root }}", creates: "{{ app_root }}/bin"}
      environment: {LANG: C}
    - name: refresh apt
      apt: update_cache=yes cache_valid_time=3600
    - name: secret config
      copy: {content: "token={{ token }}\\n", dest: /etc/app.conf, mode: "0600"}
      no_log: true
      notify: reload app
    - name: admins
      user: {name: ops, groups: [adm, sudo], append: true}
    - name: per-site files
      file: {path: "/srv/{{ site }}", state: directory}
      loop: [a, b]
      loop_control: {loop_var: site}
    - name: only checked
      file: {path: /tmp/gone, state: absent}
      check_mode: true
    - name: may fail
      command: /bin/false
      ignore_errors: true
    - name: as postgres
      command: psql -c 'select 1'
      become_user: postgres
    - name: mode from nowhere
      file: {path: /srv/x, state: directory, mode: "not-a-mode"}
  handlers:
    - name: reload app
      service: {name: cron, state: reloaded}
"""


def converted(cli: Cli, tmp_path: Path, inventory: str) -> tuple[Any, dict[str, Any], str]:
    write(tmp_path / "play/site.yml", PLAYBOOK)
    write(tmp_path / "play/vars/main.yml", "app_root: /srv/app\ntoken: s3cr3t\n")
    write(tmp_path / "play/hosts.ini", inventory)
    run = cli("migrate", "ansible", str(tmp_path / "play/site.yml"), "-i", str(tmp_path / "play/hosts.ini"),
              "--out", str(tmp_path / "out"), check=0)
    spec = yaml.safe_load((tmp_path / "out/main.yaml").read_text())
    return spec, {r["name"]: r for r in spec["resources"]}, run.out


def test_meaning_is_kept_or_the_task_refused(cli: Cli, tmp_path: Path) -> None:
    spec, by_name, out = converted(cli, tmp_path, "[web]\nweb1.example.com\nweb[02:03].example.com "
                                                  "ansible_port=2222\n")
    assert "site.yml:27:7: task 'only checked': check_mode: it only checks" in out, out
    assert "site.yml:30:7: task 'may fail': ignore_errors: Ansible goes on after its failure" in out
    assert "task 'as postgres': runs as postgres, unlike the rest of its play" in out
    assert "only_checked" not in str(by_name) and "may_fail" not in str(by_name)
    # left out, because it would not validate, and said so
    assert "left out, it would not validate" in out and "mode_from_nowhere" not in by_name
    # carried
    assert spec["vars"]["app_root"] == "/srv/app"  # vars_files
    unpack = next(r for r in spec["resources"] if r["type"] == "command" and "tar" in str(r["command"]))
    assert unpack["cwd"] == "{{ app_root }}" and unpack["creates"] == "{{ app_root }}/bin"
    assert unpack["environment"] == {"LANG": "C"}
    refresh = next(r for r in spec["resources"] if r["type"] == "command" and "apt-get update" in str(r["command"]))
    assert "update-success-stamp" in refresh["unless"]  # cache_valid_time kept
    secret = next(r for r in spec["resources"] if r.get("path") == "/etc/app.conf")
    assert "content" in secret["sensitive"]
    assert secret["notify"] == ["service.reload_app: reload"] or any(
        n.endswith(": reload") for n in secret["notify"])
    service = next(r for r in spec["resources"] if r["type"] == "service")
    assert "restart_on" not in service  # a reload, not a restart
    ops = next(r for r in spec["resources"] if r["type"] == "user")
    assert ops["append"] is True and ops["groups"] == ["adm", "sudo"]
    sites = next(r for r in spec["resources"] if r.get("for_each") == ["a", "b"])
    assert sites["path"] == "/srv/{{ each.value }}"
    # the inventory: ranges expanded, FQDNs renamed with their address kept, remote_user and serial carried
    hosts = spec["inventory"]["hosts"]
    assert set(hosts) == {"web1-example-com", "web02-example-com", "web03-example-com"}
    assert hosts["web02-example-com"]["address"] == "web02.example.com" and hosts["web02-example-com"]["port"] == 2222
    assert all(h["user"] == "deploy" and h["become"] for h in hosts.values())
    assert spec["inventory"]["groups"]["web"]["serial"] == 1
    assert "host web1.example.com is named web1-example-com" in out
    # and the result validates as written
    assert "Error" not in cli("validate", str(tmp_path / "out"), check=0).text


def test_a_roles_task_file_is_named_as_such(cli: Cli, tmp_path: Path) -> None:
    write(tmp_path / "roles/app/tasks/main.yml", "- name: dir\n  file: {path: /srv/app, state: directory}\n")
    write(tmp_path / "hosts.ini", "[web]\nweb1\n")
    run = cli("migrate", "ansible", str(tmp_path / "roles/app/tasks/main.yml"), "-i", str(tmp_path / "hosts.ini"),
              "--out", str(tmp_path / "out"), check=1)
    assert "is a list of tasks, not of plays: a role's task file" in run.err and "Traceback" not in run.text
    assert not (tmp_path / "out").exists()
