"""Filesystem operations for server modules, as one self-contained file.

LocalTarget calls these functions directly; SSHTarget sends this file's source to the host and runs it
with `python3 -c`, the request on stdin, so a remote host behaves exactly like the local one. Hence: no
imports outside the standard library, nothing newer than Python 3.6, no state.

Safety rules kept everywhere:
- symlinks are never followed when changing modes or owners (a link inside a tree, or a path swapped
  for a link after it was observed, is left alone or refused);
- a new file gets the mode asked for, else 0666 minus the umask; a rewritten file keeps its owner,
  group and mode unless the spec sets them;
- writes go to a temporary file in the same directory, then replace the path in one rename.
"""

import errno
import grp
import hashlib
import json
import os
import pwd
import stat
import sys
import typing  # noqa: F401 - used by the type comments (this file runs on Python 3.6)

KINDS = {stat.S_IFREG: "file", stat.S_IFDIR: "directory", stat.S_IFLNK: "link"}
READ_LIMIT = 64 * 1024 * 1024  # a file read for comparison larger than this is hashed, not read


class OpError(Exception):
    """A failure to report as data: `kind` is an errno name (ENOSPC, EACCES…) or a word."""

    def __init__(self, kind, message, path=""):
        Exception.__init__(self, message)
        self.kind = kind
        self.path = path


def _name(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def _uid(owner):
    if owner is None or owner == "":
        return -1
    if str(owner).isdigit():
        return int(owner)
    try:
        return pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise OpError("ENOUSER", "no such user: %s" % owner) from None


def _gid(group):
    if group is None or group == "":
        return -1
    if str(group).isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise OpError("ENOGROUP", "no such group: %s" % group) from None


def _mode(mode):
    return None if mode is None or mode == "" else int(str(mode), 8)


def umask():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _sha256(path):
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stat_paths(paths, hash_files=False, read=False, follow=False):
    """path -> None (missing) or {kind, mode, uid, gid, owner, group, size, mtime, [sha256], [content]}.
    With `follow`, a symlink is looked through (a dangling one reads as missing)."""
    out = {}  # type: typing.Dict[str, typing.Optional[typing.Dict[str, typing.Any]]]
    for p in paths:
        try:
            st = os.stat(p) if follow else os.lstat(p)
        except (FileNotFoundError, NotADirectoryError):
            out[p] = None
            continue
        except OSError as exc:
            out[p] = {"error": "%s: %s" % (errno.errorcode.get(exc.errno or 0, "error"), exc.strerror)}
            continue
        kind = KINDS.get(stat.S_IFMT(st.st_mode), "other")
        d = {"kind": kind, "mode": format(stat.S_IMODE(st.st_mode), "04o"), "uid": st.st_uid, "gid": st.st_gid,
             "owner": _name(pwd.getpwuid, st.st_uid), "group": _name(grp.getgrgid, st.st_gid),
             "size": st.st_size, "mtime": st.st_mtime}
        if kind == "link":
            d["link_target"] = os.readlink(p)
        if kind == "file" and (hash_files or read):
            try:
                if read and st.st_size <= READ_LIMIT:
                    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW))
                    with os.fdopen(fd, "rb") as fh:
                        data = fh.read()
                    d["sha256"] = hashlib.sha256(data).hexdigest()
                    d["content"] = data.decode("latin-1")
                else:
                    d["sha256"] = _sha256(p)
            except OSError as exc:
                d = {"error": "%s: %s" % (errno.errorcode.get(exc.errno or 0, "error"), exc.strerror)}
        out[p] = d
    return out


def _open_nofollow(path):
    """An fd for `path` itself: refused (ELOOP) when it is a symlink; FIFOs do not block."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise OpError("ENOENT", "%s does not exist" % path, path) from None
    if stat.S_ISLNK(st.st_mode):
        raise OpError("ELOOP", "%s is a symbolic link; refusing to change what it points to" % path, path)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    if stat.S_ISDIR(st.st_mode):
        flags |= os.O_DIRECTORY
    try:
        return os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OpError("ELOOP", "%s became a symbolic link; refusing to follow it" % path, path) from None
        raise


def _apply_fd(fd, mode, uid, gid):
    if uid != -1 or gid != -1:
        os.fchown(fd, uid, gid)
    if mode is not None:
        os.fchmod(fd, mode)


def chattr(path, mode=None, owner=None, group=None, recursive=False):
    """chmod/chown through file descriptors, never following a symlink. With `recursive`, owner and
    group apply to everything below (links themselves with lchown), the mode to directories only."""
    uid, gid, bits = _uid(owner), _gid(group), _mode(mode)
    fd = _open_nofollow(path)
    try:
        _apply_fd(fd, bits, uid, gid)
    finally:
        os.close(fd)
    if not recursive:
        return
    for root, dirs, files in os.walk(path):  # os.walk never descends into links
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                if uid != -1 or gid != -1:
                    os.lchown(full, uid, gid)
                continue
            if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                continue
            sub = _open_nofollow(full)
            try:
                _apply_fd(sub, bits if stat.S_ISDIR(st.st_mode) else None, uid, gid)
            finally:
                os.close(sub)


def tree_mismatches(path, mode=None, owner=None, group=None):
    """Whether anything below `path` differs from the recursive owner/group (and directory mode)."""
    uid, gid, bits = _uid(owner), _gid(group), _mode(mode)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            if (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid):
                return True
            if bits is not None and stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) != bits:
                return True
    return False


def list_tree(path, limit=1000):
    """Paths below `path` (not following links), at most `limit`."""
    out = []
    for root, dirs, files in os.walk(path):
        for name in sorted(dirs) + sorted(files):
            out.append(os.path.join(root, name))
            if len(out) >= limit:
                return out
    return out


def make_directory(path, mode=None):
    """mkdir -p; the leaf gets exactly `mode` (setgid/setuid/sticky included: 0755 clears them)."""
    if not os.path.isdir(path):
        os.makedirs(path, exist_ok=True)
    if mode is not None and mode != "":
        fd = _open_nofollow(path)
        try:
            os.fchmod(fd, _mode(mode))
        finally:
            os.close(fd)


def write(path, data, mode=None, owner=None, group=None, follow=False):
    """Replace `path` by `data` atomically, keeping what the spec does not set. With `follow`, a symlink at
    `path` is kept and the file it points to is replaced."""
    if follow and os.path.islink(path):
        path = os.path.realpath(path)
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, exist_ok=True)
    try:
        existing = os.lstat(path)
    except FileNotFoundError:
        existing = None
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        raise OpError("EISDIR", "%s is a directory" % path, path)
    bits = _mode(mode)
    uid, gid = _uid(owner), _gid(group)
    if existing is not None and stat.S_ISREG(existing.st_mode):
        bits = stat.S_IMODE(existing.st_mode) if bits is None else bits
        uid = existing.st_uid if uid == -1 else uid
        gid = existing.st_gid if gid == -1 else gid
    elif bits is None:
        bits = 0o666 & ~umask()
    tmp = os.path.join(directory, ".reconcile.%s" % os.urandom(6).hex())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        os.fchmod(fd, bits)
        os.close(fd)
        fd = -1
        try:
            os.rename(tmp, path)
        except OSError as exc:  # a bind-mounted file can't be renamed over: write it in place
            if exc.errno not in (errno.EBUSY, errno.EXDEV):
                raise
            with open(tmp, "rb") as src:
                out = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
                try:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        os.write(out, block)
                finally:
                    os.close(out)
            os.unlink(tmp)
    except BaseException:
        if fd != -1:
            os.close(fd)
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def remove(path, recursive=False):
    import shutil

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if recursive:
            shutil.rmtree(path)
        else:
            os.rmdir(path)
    else:
        os.unlink(path)


def make_symlink(path, points_to):
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, exist_ok=True)
    tmp = "%s.reconcile-tmp" % path
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(points_to, tmp)
    os.rename(tmp, path)


def query(argv, env=None, cwd=None, timeout=None):
    """A read-only command of a module's observation, gathered with the other reads of its host: its exit
    code and output (as latin-1 text, to survive JSON)."""
    import subprocess

    full = dict(os.environ)
    full.update(env or {})
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=full, cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise OpError("ETIMEDOUT", "`%s` timed out after %ss" % (argv[0], timeout)) from None
    return {"rc": proc.returncode, "stdout": out.decode("latin-1"), "stderr": err.decode("latin-1")}


OPS = {  # type: typing.Dict[str, typing.Callable[..., typing.Any]]
    "stat": stat_paths, "chattr": chattr, "tree_mismatches": tree_mismatches, "list_tree": list_tree,
    "make_directory": make_directory, "write": write, "remove": remove, "make_symlink": make_symlink,
    "query": query}


def run_op(op, args, data=None):
    """One operation; errors become data: {"ok": value} or {"error": {kind, message, path}}."""
    try:
        if op == "write":
            args = dict(args, data=data if data is not None else b"")
        return {"ok": OPS[op](**args)}
    except OpError as exc:
        return {"error": {"kind": exc.kind, "message": str(exc), "path": exc.path}}
    except OSError as exc:
        return {"error": {"kind": errno.errorcode.get(exc.errno or 0, "EIO"), "message": exc.strerror or str(exc),
                          "path": exc.filename or args.get("path", "")}}


def main():
    """stdin: one JSON line {"ops": [{"op", "args", "size"}…]}, then the bytes each op carries (writes)."""
    stream = sys.stdin.buffer
    request = json.loads(stream.readline().decode("utf-8"))
    results = []
    for item in request["ops"]:
        data = stream.read(item["size"]) if item.get("size") else None
        results.append(run_op(item["op"], item.get("args") or {}, data))
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
