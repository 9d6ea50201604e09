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


def test_ansible_lineinfile_sequence_gives_the_same_bytes() -> None:
    """The steps of Ansible's lineinfile integration test on its files/test.txt, each checked against the
    sha1 its test asserts (test/integration/targets/lineinfile/tasks/main.yml)."""
    import hashlib

    text = (b"This is line 1\nThis is line 2\nREF this is a line for backrefs REF\nThis is line 4\n"
            b"This is line 5\n")
    steps = [
        (dict(line="New line at the beginning", insertbefore="BOF"), "7eade4042b23b800958fe807b5bfc29f8541ec09"),
        (dict(line="New line at the end", insertafter="EOF"), "fb57af7dc10a1006061b000f1f04c38e4bef50a9"),
        (dict(line="New line after line 1", insertafter="^This is line 1$"), "5348da605b1bc93dbadf3a16474cdf22ef975bec"),
        (dict(line="New line after line 5", insertbefore="^This is line 5$"), "e1cae425403507feea4b55bb30a74decfdd4a23e"),
        (dict(line="This is line 3", backrefs=True, regexp="^(REF) .* \\1$"), "2ccdf45d20298f9eaece73b713648e5489a52444"),
        (dict(regexp="^This is line 3$", state="absent"), "a6ba6865547c19d4c203c38a35e728d6d1942c75"),
        (dict(regexp="^This is line 5$", state="absent"), "76955a4516a00a38aad8427afc9ee3e361024ba5"),
    ]
    for attrs, sha1 in steps:
        text = edited(res(**attrs), text, attrs.get("state") != "absent")
        assert hashlib.sha1(text).hexdigest() == sha1, (attrs, text)
        assert edited(res(**attrs), text, attrs.get("state") != "absent") == text  # the rerun changes nothing
    assert hashlib.sha1(edited(res(line="This is a new file", insertbefore="BOF"), b"", True)).hexdigest() == \
        "038f10f9e31202451b093163e81e06fbac0c6f3a"  # create: yes on a new file
    assert hashlib.sha1(edited(res(line="New line at the end", insertafter="EOF"), b"", True)).hexdigest() == \
        "f440dc65ea9cec3fd496c1479ddf937e1b949412"  # an empty file gets no extra newline
    # insertafter a line that is followed by the line already: nothing added (Ansible's "don't insert the line
    # if it already matches at the index")
    text = b"a\nbar\nb\n"
    assert edited(res(line="bar", insertafter="^a$"), text, True) == text
    # backrefs and no match: the file stays as it is
    assert edited(res(line="x \\1", backrefs=True, regexp="^(nope)$"), b"a\n", True) == b"a\n"
    # firstmatch: before the first matching line, not the last
    assert edited(res(line="new", insertbefore="^x", firstmatch=True), b"x1\nx2\n", True) == b"new\nx1\nx2\n"
    assert edited(res(line="new", insertbefore="^x"), b"x1\nx2\n", True) == b"x1\nnew\nx2\n"


def test_cron_repairs_a_hand_deleted_job_without_touching_the_next_entry() -> None:
    tab = "# reconcile: a\n0 1 * * * job-a\n# reconcile: b\n0 2 * * * job-b\n"
    broken = tab.replace("0 1 * * * job-a\n", "")  # the job line of a deleted by hand, its marker left
    assert find_entry(broken, "a") is None and find_entry(broken, "b") == "0 2 * * * job-b"
    repaired = with_entry(broken, "a", "0 1 * * * job-a")
    assert repaired.count("job-b") == 1 and find_entry(repaired, "b") == "0 2 * * * job-b"
    assert find_entry(repaired, "a") == "0 1 * * * job-a" and repaired.count("# reconcile: a") == 1


def test_pip_versions_compare_by_pep_440() -> None:
    from reconcile_modules.server.pip import PipModule, same_version

    assert same_version("2.0", "2") and same_version("1.0.0", "1.0") and not same_version("2.0.1", "2")
    assert same_version("weird-text", "weird-text") and not same_version("a", "b")
    assert PipModule().equal("packages", {"demo": "2"}, {"demo": "2.0"})
