from reconcile_modules.server.cron import find_entry, with_entry
from reconcile_modules.server.line_in_file import edited
from reconcile_modules.server.package import install_command, parse_query
from reconcile_modules.server.service import enable_command, state_command

from reconciler.model import Resource


def res(**attrs: object) -> Resource:
    return Resource("line_in_file.x", "line_in_file", "x", "local", attrs)


def test_service_command_lines_for_systemd_and_sysv() -> None:
    assert state_command("systemd", "nginx", "restart") == ["systemctl", "restart", "--", "nginx"]
    assert enable_command("systemd", "nginx", True) == ["systemctl", "enable", "--", "nginx"]
    assert enable_command("systemd", "nginx", False) == ["systemctl", "disable", "--", "nginx"]
    assert state_command("sysv", "cron", "start") == ["service", "cron", "start"]
    assert enable_command("sysv", "cron", False) == ["update-rc.d", "cron", "disable"]


def test_line_edits_keep_other_lines() -> None:
    text = b"a=1\nPort 22\nb=2\n"
    assert edited(res(line="Port 2222", regexp="^Port "), text, True) == b"a=1\nPort 2222\nb=2\n"
    assert edited(res(line="c=3"), text, True) == text + b"c=3\n"
    assert edited(res(line="b=2"), text, False) == b"a=1\nPort 22\n"
    assert edited(res(line="x", regexp="^a="), b"", True) == b"x\n"


# Cases from Ansible's lineinfile integration tests (test/integration/targets/lineinfile/tasks/main.yml)
def test_lineinfile_cases_ported_from_ansible() -> None:
    # the exact line present: no change, even though the regexp matches nothing
    assert edited(res(line="New line", regexp="^DOES NOT MATCH"), b"a\nNew line\nb\n", True) == \
        b"a\nNew line\nb\n"
    # the exact line present while the regexp matches another line: still no change, no duplicate
    text = b"Port 2222\n#Port 22\n"
    assert edited(res(line="Port 2222", regexp="^#?Port "), text, True) == text
    # a backreference-looking regexp that matches nothing: appended once, and the rerun changes nothing
    once = edited(res(line="abc", regexp="^(a)(b)c_DOES_NOT_MATCH"), b"x\n", True)
    assert once == b"x\nabc\n" and edited(res(line="abc", regexp="^(a)(b)c_DOES_NOT_MATCH"), once, True) == once
    # lines it does not manage are kept byte for byte: CRLF, form feeds, a missing final newline
    crlf = b"one\r\ntwo\r\n"
    assert edited(res(line="three"), crlf, True) == b"one\r\ntwo\r\nthree\r\n"
    assert edited(res(line="TWO", regexp="^two"), crlf, True) == b"one\r\nTWO\r\n"
    feeds = b"page1\x0cpage2\nend"
    assert edited(res(line="added"), feeds, True) == b"page1\x0cpage2\nend\nadded\n"
    # state: absent removes every matching line, exactly
    assert edited(res(line="b", state="absent"), b"a\nb\r\nc\nb\n", False) == b"a\nc\n"
    assert edited(res(regexp="^#", state="absent"), b"#x\ny\n#z", False) == b"y\n"


def test_crontab_entries_are_named_and_others_kept() -> None:
    tab = "MAILTO=ops\n0 1 * * * other-job\n"
    added = with_entry(tab, "backup", "0 2 * * * /usr/local/bin/backup")
    assert added == tab + "# reconcile: backup\n0 2 * * * /usr/local/bin/backup\n"
    assert find_entry(added, "backup") == "0 2 * * * /usr/local/bin/backup"
    changed = with_entry(added, "backup", "0 3 * * * /usr/local/bin/backup")
    assert changed.count("# reconcile: backup") == 1 and "0 3 * * *" in changed
    assert with_entry(changed, "backup", None) == tab


def test_package_query_parsing_and_install_line() -> None:
    manager, cache, installed, candidates = parse_query(
        "MANAGER apt\nCACHE 1700000000\ncron\t3.0pl1-162\nCANDIDATE hello\t2.10-3\n")
    assert (manager, cache, installed, candidates) == ("apt", 1.7e9, {"cron": "3.0pl1-162"}, {"hello": "2.10-3"})
    assert install_command("dnf", ["tree"]) == ["dnf", "install", "-y", "--", "tree"]
    assert install_command("apt", ["a=1"])[-2:] == ["--", "a=1"]


def test_lone_carriage_returns_are_not_line_ends() -> None:
    assert edited(res(line="x"), b"a\rb\n", True) == b"a\rb\nx\n"
