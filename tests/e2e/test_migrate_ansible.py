"""`reconcile migrate ansible`: a playbook converted, applied by reconcile to one fresh SSH host, and the
original run by ansible-playbook (ansible-core) on another: the two hosts end the same."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import Cli, write

PLAYBOOK = """
- hosts: web
  become: true
  vars:
    teams: [red, blue]
  roles:
    - role: app
    - {role: motd, motd_text: "welcome to {{ site_name }}"}
  tasks:
    - name: Make sure we have the team directories
      file: {path: "/srv/app/{{ item }}", state: directory, mode: "0750", owner: "{{ app_user }}"}
      loop: "{{ teams }}"
    - import_tasks: tasks/settings.yml
    - name: Debian tools
      block:
        - name: Ensure the tools are installed
          apt: {name: "{{ item }}", state: present}
          loop: [tree, bc]
        - name: never on debian
          package: {name: sl}
          when: ansible_os_family == "RedHat"
      when: ansible_facts['os_family'] == "Debian"
      rescue:
        - name: report
          debug: {msg: tools failed}
      always:
        - name: marker
          command: touch /srv/app/marker creates=/srv/app/marker
    - name: nightly
      cron: {name: nightly, job: "/bin/true", minute: "5", hour: "2", user: root}
    - name: say hi
      command: echo hi
      register: greeting
    - name: show
      debug: {msg: "{{ greeting.stdout }}"}
"""
ROLE_APP_TASKS = """
- name: Make sure we have a group for the app
  group: {name: "{{ app_user }}", gid: 4711}
- name: app user
  ansible.builtin.user: {name: "{{ app_user }}", uid: 4711, group: "{{ app_user }}", shell: /bin/sh}
- name: app root
  file: path=/srv/app state=directory mode=0755 owner={{ app_user }}
- name: site config
  template: {src: site.conf.j2, dest: /srv/app/site.conf, mode: "0640", owner: "{{ app_user }}"}
  notify: restart cron
- name: link
  file: {src: /srv/app/site.conf, dest: /srv/app/current.conf, state: link}
- name: cron running
  service: {name: cron, state: started, enabled: true}
"""
ROLE_APP_HANDLERS = """
- name: restart cron
  service: {name: cron, state: restarted}
"""
SETTINGS_TASKS = """
- name: setting
  lineinfile: {path: /srv/app/settings, line: "port={{ listen_port }}", create: true, mode: "0600"}
- name: old setting gone
  lineinfile: {path: /srv/app/settings, regexp: "^debug=", state: absent}
"""
ROLE_MOTD_TASKS = """
- name: motd
  copy: {content: "{{ motd_text }}\\n", dest: /srv/app/motd, mode: "0644"}
"""
TEMPLATE = """{% include 'header.j2' %}
server {{ inventory_hostname }} listens on {{ listen_port }} for {{ site_name }} ({{ app_user }})
{% for t in teams %}team {{ t }}
{% endfor %}"""
HEADER = "# {{ site_name }}: managed\n"


def write_playbook(play: Path) -> None:
    """The playbook and its role, task file and templates, as people lay them out."""
    write(play / "site.yml", PLAYBOOK)
    write(play / "roles/app/tasks/main.yml", ROLE_APP_TASKS)
    write(play / "roles/app/handlers/main.yml", ROLE_APP_HANDLERS)
    write(play / "roles/app/defaults/main.yml", "app_user: shopper\n")
    write(play / "roles/app/templates/site.conf.j2", TEMPLATE)
    write(play / "roles/app/templates/header.j2", HEADER)
    write(play / "roles/motd/tasks/main.yml", ROLE_MOTD_TASKS)
    write(play / "tasks/settings.yml", SETTINGS_TASKS)
    write(play / "group_vars/web.yml", "site_name: shop\n")


PATHS = ["/srv/app", "/srv/app/red", "/srv/app/blue", "/srv/app/site.conf", "/srv/app/motd", "/srv/app/settings",
         "/srv/app/current.conf", "/srv/app/marker"]


def end_state(host) -> dict[str, str]:  # type: ignore[no-untyped-def]
    out = {}
    for path in PATHS:
        out[path] = host.exec(f"stat -c '%F %a %U %G' {path}; test -L {path} && readlink {path}; "
                              f"test -f {path} && ! test -L {path} && cat {path}")[1]
    # one stream (stderr into stdout in the shell): docker merges two streams in whatever order they come
    out["packages"] = host.exec("dpkg-query -W -f '${Status}' tree bc 2>&1; echo; dpkg-query -W -f '${Status}' sl 2>&1")[1]
    out["user"] = host.exec("getent passwd shopper; getent group shopper")[1]
    out["cron"] = host.exec("crontab -l -u root | grep -v '^#'")[1]
    out["service"] = str(host.exec("service cron status")[0])
    return out


@pytest.fixture
def fresh_hosts(docker_client, uid: str):  # type: ignore[no-untyped-def]
    from tests.harness.ssh_hosts import start_hosts

    hosts = start_hosts(docker_client, f"mig-{uid}", 2)
    yield hosts
    for h in hosts:
        h.container.remove(force=True)


def test_a_playbook_converted_ends_like_ansible_run(cli: Cli, tmp_path: Path, fresh_hosts, uid: str) -> None:  # type: ignore[no-untyped-def]
    from tests.harness.ssh_hosts import client_key

    ours, theirs = fresh_hosts
    key = client_key()
    cli.env["HOME"] = str(tmp_path)
    (tmp_path / ".ssh").mkdir()
    write(tmp_path / ".ssh/known_hosts", "".join(h.host_key_line() + "\n" for h in fresh_hosts))
    play = tmp_path / "play"
    write_playbook(play)
    for name, host in (("ours.ini", ours), ("theirs.ini", theirs)):
        write(play / name, f"[web]\nweb1 ansible_host=127.0.0.1 ansible_port={host.port} ansible_user=root "
                           f"ansible_ssh_private_key_file={key}\n\n[web:vars]\nlisten_port=8080\n")

    run = cli("migrate", "ansible", str(play / "site.yml"), "-i", str(play / "ours.ini"), "--out",
              str(tmp_path / "spec"), "--name", f"mig-{uid}", check=0)
    assert "site.yml:34:7: task 'show': debug is not converted" in run.out
    assert "register greeting dropped" not in run.out  # greeting is read by the debug task: the task is refused
    assert "site.yml:32:7: task 'say hi': register: its result is read by later tasks" in run.out
    assert "site.yml:22:7: rescue: runs only when its block fails" in run.out
    spec = yaml.safe_load((tmp_path / "spec/main.yaml").read_text())
    by_name = {r["name"]: r for r in spec["resources"]}
    # names a person would write, from the task names
    assert {"group_app", "app_user", "app_root", "site_config", "team_directories", "tools", "cron_running",
            "setting", "motd", "marker"} <= set(by_name), sorted(by_name)
    assert by_name["team_directories"]["for_each"] == "{{ teams }}" and "each.value" in by_name["team_directories"]["path"]
    # one package resource with a list where Ansible looped; the block's condition on each of its tasks
    assert by_name["tools"]["names"] == ["tree", "bc"] and "for_each" not in by_name["tools"]
    assert by_name["tools"]["when"] == 'host.facts.os_family == "Debian"'
    assert by_name["never_debian"]["when"] == ['host.facts.os_family == "Debian"', 'host.facts.os_family == "RedHat"'] \
        or "and" in by_name["never_debian"]["when"]
    assert by_name["marker"]["when"] == by_name["tools"]["when"]  # a block's condition is its always: tasks' too
    # the role's handler, its template with the file it includes, its defaults as variables
    assert by_name["cron_running"]["restart_on"] == ["file.site_config"]
    assert by_name["site_config"]["template"] == "templates/app/site.conf.j2"
    assert (tmp_path / "spec/templates/header.j2").is_file()
    assert spec["vars"]["app_user"] == "shopper" and spec["vars"]["motd_text"] == "welcome to {{ site_name }}"
    # order only where it matters: the group first, a user after its group, the config after the app's root
    assert "depends_on" not in by_name["group_app"] and "depends_on" not in by_name["tools"]
    assert by_name["app_user"]["depends_on"] == ["group.group_app"]
    assert "directory.app_root" in by_name["site_config"]["depends_on"]
    assert sum(len(r.get("depends_on", [])) for r in spec["resources"]) < len(spec["resources"]) * 2
    cli("apply", "--auto-approve", str(tmp_path / "spec"), check=0)
    assert "No changes." in cli("plan", str(tmp_path / "spec"), check=0).out

    ansible = Path(sys.executable).parent / "ansible-playbook"
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1",  # keys kept in tmp_path, not ~/.ssh
           "ANSIBLE_SSH_ARGS": f"-o UserKnownHostsFile={tmp_path / 'ansible_known_hosts'}",
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"), "ANSIBLE_REMOTE_TEMP": "/tmp/.ansible-tmp"}
    done = subprocess.run([str(ansible if ansible.exists() else shutil.which("ansible-playbook")), "-i",
                           str(play / "theirs.ini"), str(play / "site.yml")], cwd=play, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    by_reconcile, by_ansible = end_state(ours), end_state(theirs)
    assert by_reconcile["/srv/app/site.conf"].startswith("regular file 640 shopper root\n# shop: managedserver web1 listens on 8080")
    for item in by_ansible:
        assert by_reconcile[item] == by_ansible[item], (item, by_reconcile[item], by_ansible[item])


def test_bad_playbooks_and_inventories_are_refused_with_file_and_line(cli: Cli, tmp_path: Path) -> None:
    write(tmp_path / "inv.ini", "[web]\nweb1 ansible_host=127.0.0.1\n")
    write(tmp_path / "broken.yml", "- hosts: web\n  tasks:\n    - name: x\n      file: {path: /x\n")
    run = cli("migrate", "ansible", str(tmp_path / "broken.yml"), "-i", str(tmp_path / "inv.ini"),
              "--out", str(tmp_path / "o1"), check=1)
    assert "broken.yml:" in run.err and "Traceback" not in run.text
    write(tmp_path / "bad.ini", "[web\nweb1\n")
    write(tmp_path / "ok.yml", "- hosts: web\n  tasks:\n    - file: {path: /x, state: directory}\n")
    run = cli("migrate", "ansible", str(tmp_path / "ok.yml"), "-i", str(tmp_path / "bad.ini"),
              "--out", str(tmp_path / "o2"), check=1)
    assert "bad.ini:1:1: error: unclosed section header" in run.err
    write(tmp_path / "nothing.yml", "- hosts: web\n  tasks:\n    - debug: {msg: hi}\n")
    run = cli("migrate", "ansible", str(tmp_path / "nothing.yml"), "-i", str(tmp_path / "inv.ini"),
              "--out", str(tmp_path / "o3"), check=1)
    assert "nothing.yml:3:7: a task: debug is not converted" in run.err
    assert not any((tmp_path / o).exists() for o in ("o1", "o2", "o3"))
