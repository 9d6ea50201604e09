"""The pure text edits of the new server types: blocks between markers, sysctl.d lines, fstab entries,
key identities (no host needed; the end-to-end tests run them on real sshd hosts)."""

from __future__ import annotations

from reconcile_modules.server.authorized_key import identity
from reconcile_modules.server.block_in_file import current_block, with_block
from reconcile_modules.server.mount import entries, escape, with_entry
from reconcile_modules.server.sysctl import normal, persisted, with_line

from reconciler.model import Resource


def block(**attrs: object) -> Resource:
    return Resource("block_in_file.b", "block_in_file", "b", "local", {"path": "/x", **attrs})


def test_a_block_is_inserted_replaced_and_removed_keeping_other_bytes() -> None:
    r = block(block="one\ntwo\n")
    data = b"a\r\nb\r\n"
    added = with_block(r, data, True)
    assert added == b"a\r\nb\r\n# BEGIN reconcile b\r\none\r\ntwo\r\n# END reconcile b\r\n"
    assert current_block(r, added) == "one\ntwo\n"
    assert with_block(r, added, True) == added  # idempotent
    changed = with_block(block(block="three\n"), added, True)
    assert changed == b"a\r\nb\r\n# BEGIN reconcile b\r\nthree\r\n# END reconcile b\r\n"
    assert with_block(r, changed, False) == data
    after = with_block(block(block="x\n", insertafter="^a"), b"a\nb\n", True)
    assert after == b"a\n# BEGIN reconcile b\nx\n# END reconcile b\nb\n"
    marked = with_block(block(block="x\n", marker="// {mark} managed"), b"", True)
    assert marked == b"// BEGIN managed\nx\n// END managed\n"
    assert current_block(r, b"# BEGIN reconcile b\nno end\n") is None


def test_sysctl_lines() -> None:
    assert normal("4096\t87380  6291456\n") == "4096 87380 6291456"
    text = "# kept\nvm.swappiness = 10\nnet.ipv4.ip_forward=0\n"
    assert persisted(text, "net.ipv4.ip_forward") == "0"
    assert with_line(text, "net.ipv4.ip_forward", "1") == "# kept\nvm.swappiness = 10\nnet.ipv4.ip_forward = 1\n"
    assert with_line(text, "kernel.pid_max", "65536").endswith("kernel.pid_max = 65536\n")
    assert with_line(text, "vm.swappiness", None) == "# kept\nnet.ipv4.ip_forward=0\n"


def test_fstab_entries_keep_other_lines_and_escape_spaces() -> None:
    fstab = "# static\nUUID=1 / ext4 defaults 0 1\n"
    line = f"tmpfs {escape('/srv/a cache')} tmpfs size=8m 0 0"
    added = with_entry(fstab, "/srv/a cache", line)
    assert added == fstab + "tmpfs /srv/a\\040cache tmpfs size=8m 0 0\n"
    assert entries(added)["/srv/a cache"][:4] == ["tmpfs", "/srv/a cache", "tmpfs", "size=8m"]
    assert with_entry(added, "/srv/a cache", None) == fstab


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBzL8t3PqZ9fdq9k2t6bW3q3JqzQy0c2fF2Zp8u6g2Lx"


def test_keys_compare_by_type_and_data() -> None:
    assert identity(f'from="10.0.0.1" {KEY} comment') == identity(f"{KEY} other") == KEY


def test_keys_are_parsed_one_by_one() -> None:
    from reconcile_modules.server.authorized_key import parse_key, with_options

    assert parse_key(f'from="10.0.0.1,10.0.0.2",no-pty {KEY} me@host') == (
        'from="10.0.0.1,10.0.0.2",no-pty', "ssh-ed25519", KEY.split()[1], "me@host")
    assert with_options(f'no-pty {KEY} a comment') == f"no-pty {KEY}"
    assert parse_key("ssh-ed25519 AAAA") is None  # not the blob of a key
    assert parse_key("ssh-rsa " + KEY.split()[1]) is None  # an ed25519 blob is no RSA key
    assert parse_key("not a key at all") is None


def test_openpgp_fingerprints_of_binary_and_armored_keys() -> None:
    import base64
    import hashlib

    from reconcile_modules.server.openpgp import fingerprints

    body = b"\x04" + b"\x00\x00\x00\x01" + b"\x16" + bytes(40)  # a v4 key packet (EdDSA-shaped, dummy numbers)
    packet = bytes([0xC0 | 6, len(body)]) + body
    want = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper()  # noqa: S324
    assert fingerprints(packet) == [want]
    armored = (b"-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n" + base64.b64encode(packet)
               + b"\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n")
    assert fingerprints(armored) == [want]
