"""Filesystem operations for server modules, as one self-contained file.

LocalTarget calls these functions directly; SSHTarget sends this file's source to the host and runs it
with `python3 -c`, the request on stdin, so a remote host behaves exactly like the local one. Hence: no
imports outside the standard library, nothing newer than Python 3.6, no state.

Safety rules kept everywhere (reconcile usually runs as root, on hosts where users own directories):
- every path is opened one component at a time, each relative to its parent's descriptor with O_NOFOLLOW
  (openat), so a path cannot be redirected between a check and a use;
- a component that is a symbolic link is followed only when root (or the user reconcile runs as) owns it;
  a link owned by anyone else is refused, with an error naming it: a user cannot point root's writes, mode
  changes or removals elsewhere (`~/.ssh -> /root/.ssh`);
- the last component is never followed when writing, changing modes or owners, or removing (a write replaces
  a link rather than writing through it), unless the caller asks to follow a trusted link (lineinfile);
- a removal can be made conditional on the content reconcile wrote (its sha256): anything else is left;
- a new file gets the mode asked for, else 0666 minus the umask; a rewritten file keeps its owner, group and
  mode unless the spec sets them; writes go to a temporary file in the same directory, then one rename.
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
MAX_LINKS = 40  # symbolic links followed while resolving one path (as the kernel's ELOOP limit)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


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


def _trusted(uid):
    """Who may own a symbolic link reconcile follows: root, or the user it runs as."""
    return uid == 0 or uid == os.geteuid()


def _parts(path):
    return [p for p in path.split("/") if p not in ("", ".")]


class Parent(object):
    """The directory that holds a path's last component, open as a descriptor reached without following a
    link anyone but root (or reconcile's own user) could have made; use as a context manager. With `confine`
    (a directory the path lies in), no link at all is followed below it (an archive's members)."""

    def __init__(self, path, create=False, confine=None):
        if not isinstance(path, str) or not path.startswith("/"):
            raise OpError("EINVAL", "%r must be an absolute path" % (path,), str(path))
        self.path = path
        self.fd = -1
        names = _parts(path)
        if not names:
            raise OpError("EINVAL", "/ itself cannot be written, changed or removed", path)
        self.leaf = names.pop()
        strict = len(_parts(confine)) if confine else None  # components of `path` from here on: no links
        remaining = [(name, i) for i, name in enumerate(names)]  # type: typing.List[typing.Tuple[str, typing.Optional[int]]]
        self.fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
        walked = ""  # the path as resolved so far, for messages
        links = 0
        try:
            while remaining:
                name, place = remaining.pop(0)
                if name == "..":
                    self._step(os.open("..", DIR_FLAGS, dir_fd=self.fd))
                    walked = os.path.dirname(walked)
                    continue
                try:
                    self._step(os.open(name, DIR_FLAGS, dir_fd=self.fd))
                    walked += "/" + name
                    continue
                except FileNotFoundError:
                    if not create:
                        raise OpError("ENOENT", "%s does not exist" % (walked + "/" + name), walked + "/" + name) from None
                    try:
                        os.mkdir(name, 0o777, dir_fd=self.fd)
                    except FileExistsError:  # made meanwhile (by a parallel write): open it as it is
                        remaining.insert(0, (name, place))
                        continue
                    self._step(os.open(name, DIR_FLAGS, dir_fd=self.fd))
                    walked += "/" + name
                    continue
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                        raise
                st = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
                here = walked + "/" + name
                if not stat.S_ISLNK(st.st_mode):
                    raise OpError("ENOTDIR", "%s is not a directory" % here, here)
                if strict is not None and place is not None and place >= strict:
                    raise OpError("EUNSAFE", "%s is a symbolic link inside %s; nothing is written through one"
                                  % (here, confine), here)
                if not _trusted(st.st_uid):
                    raise OpError("EUNSAFE", "%s is a symbolic link owned by %s, not root; refusing to follow it "
                                  "(a user could point it anywhere)" % (here, _name(pwd.getpwuid, st.st_uid)), here)
                links += 1
                if links > MAX_LINKS:
                    raise OpError("ELOOP", "too many symbolic links resolving %s" % path, path)
                target = os.readlink(name, dir_fd=self.fd)
                if target.startswith("/"):
                    self._step(os.open("/", os.O_RDONLY | os.O_DIRECTORY))
                    walked = ""
                remaining[:0] = [(part, None) for part in _parts(target)]
        except BaseException:
            self.close()
            raise

    def _step(self, fd):
        os.close(self.fd)
        self.fd = fd

    def lstat(self):
        try:
            return os.stat(self.leaf, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def close(self):
        if self.fd != -1:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _followed(path):
    """`path` with a trusted symbolic link at its end resolved (lineinfile and friends edit what it points to);
    one owned by anyone else is refused."""
    for _ in range(MAX_LINKS):
        with Parent(path) as parent:
            st = parent.lstat()
            if st is None or not stat.S_ISLNK(st.st_mode):
                return path
            if not _trusted(st.st_uid):
                raise OpError("EUNSAFE", "%s is a symbolic link owned by %s, not root; refusing to follow it"
                              % (path, _name(pwd.getpwuid, st.st_uid)), path)
            target = os.readlink(parent.leaf, dir_fd=parent.fd)
        path = os.path.normpath(target if target.startswith("/") else os.path.join(os.path.dirname(path), target))
    raise OpError("ELOOP", "too many symbolic links at %s" % path, path)


def _open_leaf(parent, flags=os.O_RDONLY):
    """An fd for the last component itself: refused (ELOOP) when it is a symlink; FIFOs do not block."""
    st = parent.lstat()
    if st is None:
        raise OpError("ENOENT", "%s does not exist" % parent.path, parent.path)
    if stat.S_ISLNK(st.st_mode):
        raise OpError("ELOOP", "%s is a symbolic link; refusing to change what it points to" % parent.path, parent.path)
    flags |= os.O_NOFOLLOW | os.O_NONBLOCK
    if stat.S_ISDIR(st.st_mode):
        flags |= os.O_DIRECTORY
    try:
        return os.open(parent.leaf, flags, dir_fd=parent.fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OpError("ELOOP", "%s became a symbolic link; refusing to follow it" % parent.path, parent.path) from None
        raise


def _sha256_fd(fd):
    digest = hashlib.sha256()
    while True:
        block = os.read(fd, 1 << 20)
        if not block:
            return digest.hexdigest()
        digest.update(block)


def _describe(st, path, dir_fd, leaf, hash_files, read):
    kind = KINDS.get(stat.S_IFMT(st.st_mode), "other")
    d = {"kind": kind, "mode": format(stat.S_IMODE(st.st_mode), "04o"), "uid": st.st_uid, "gid": st.st_gid,
         "owner": _name(pwd.getpwuid, st.st_uid), "group": _name(grp.getgrgid, st.st_gid),
         "size": st.st_size, "mtime": st.st_mtime}
    if kind == "link":
        d["link_target"] = os.readlink(leaf, dir_fd=dir_fd)
    if kind == "file" and (hash_files or read):
        fd = os.open(leaf, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW, dir_fd=dir_fd)
        try:
            if read and st.st_size <= READ_LIMIT:
                data = b""
                while True:
                    block = os.read(fd, 1 << 20)
                    if not block:
                        break
                    data += block
                d["sha256"] = hashlib.sha256(data).hexdigest()
                d["content"] = data.decode("latin-1")
            else:
                d["sha256"] = _sha256_fd(fd)
        finally:
            os.close(fd)
    return d


def stat_paths(paths, hash_files=False, read=False, follow=False):
    """path -> None (missing) or {kind, mode, uid, gid, owner, group, size, mtime, [sha256], [content]}, or
    {"error": "CODE: why"}. Reached like every other operation: a component that is somebody's symlink is an
    error, not a way into another directory. With `follow`, a trusted symlink at the end is looked through (a
    dangling one reads as missing)."""
    out = {}  # type: typing.Dict[str, typing.Optional[typing.Dict[str, typing.Any]]]
    for p in paths:
        try:
            path = _followed(p) if follow else p
            with Parent(path) as parent:
                st = parent.lstat()
                out[p] = None if st is None else _describe(st, path, parent.fd, parent.leaf, hash_files, read)
        except OpError as exc:
            out[p] = None if exc.kind in ("ENOENT", "ENOTDIR") else {"error": "%s: %s" % (exc.kind, exc)}
        except (FileNotFoundError, NotADirectoryError):
            out[p] = None
        except OSError as exc:
            out[p] = {"error": "%s: %s" % (errno.errorcode.get(exc.errno or 0, "error"), exc.strerror)}
    return out


def _apply_fd(fd, mode, uid, gid):
    if uid != -1 or gid != -1:
        os.fchown(fd, uid, gid)
    if mode is not None:
        os.fchmod(fd, mode)


def chattr(path, mode=None, owner=None, group=None, recursive=False):
    """chmod/chown through file descriptors, never following a symlink. With `recursive`, owner and
    group apply to everything below (links themselves, not what they point to), the mode to directories."""
    uid, gid, bits = _uid(owner), _gid(group), _mode(mode)
    with Parent(path) as parent:
        fd = _open_leaf(parent)
        try:
            _apply_fd(fd, bits, uid, gid)
            if recursive and stat.S_ISDIR(os.fstat(fd).st_mode):
                for _, dirs, files, dirfd in os.fwalk(".", dir_fd=fd):  # fwalk never follows links
                    for name in dirs + files:
                        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                        if stat.S_ISLNK(st.st_mode):
                            if uid != -1 or gid != -1:
                                os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)
                            continue
                        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                            continue
                        sub = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dirfd)
                        try:
                            _apply_fd(sub, bits if stat.S_ISDIR(st.st_mode) else None, uid, gid)
                        finally:
                            os.close(sub)
        finally:
            os.close(fd)


def tree_mismatches(path, mode=None, owner=None, group=None):
    """Whether anything below `path` differs from the recursive owner/group (and directory mode)."""
    uid, gid, bits = _uid(owner), _gid(group), _mode(mode)
    with Parent(path) as parent:
        fd = _open_leaf(parent)
        try:
            for _, dirs, files, dirfd in os.fwalk(".", dir_fd=fd):
                for name in dirs + files:
                    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                    if (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid):
                        return True
                    if bits is not None and stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) != bits:
                        return True
        finally:
            os.close(fd)
    return False


def list_tree(path, limit=1000):
    """Paths below `path` (not following links), at most `limit`."""
    out = []  # type: typing.List[str]
    try:
        parent = Parent(path)
    except OpError as exc:
        if exc.kind == "ENOENT":
            return out
        raise
    with parent:
        if parent.lstat() is None:
            return out
        fd = _open_leaf(parent)
        try:
            for root, dirs, files, _ in os.fwalk(".", dir_fd=fd):
                for name in sorted(dirs) + sorted(files):
                    out.append(os.path.normpath(os.path.join(path, root, name)))
                    if len(out) >= limit:
                        return out
        finally:
            os.close(fd)
    return out


def make_directory(path, mode=None, confine=None, owner=None, group=None):
    """mkdir -p; the leaf gets exactly `mode` (setgid/setuid/sticky included: 0755 clears them), and `owner`
    and `group` when given."""
    with Parent(path, create=True, confine=confine) as parent:
        st = parent.lstat()
        if st is None:
            try:
                os.mkdir(parent.leaf, 0o777, dir_fd=parent.fd)
            except FileExistsError:  # made meanwhile
                pass
            st = parent.lstat()
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise OpError("EEXIST", "%s exists and is not a directory" % path, path)
        uid, gid = _uid(owner), _gid(group)
        if (mode is not None and mode != "") or uid != -1 or gid != -1:
            fd = _open_leaf(parent)
            try:
                if uid != -1 or gid != -1:
                    os.fchown(fd, uid, gid)
                if mode is not None and mode != "":
                    os.fchmod(fd, _mode(mode))
            finally:
                os.close(fd)


def write(path, data, mode=None, owner=None, group=None, follow=False, confine=None):
    """Replace `path` by `data` atomically, keeping what the spec does not set. With `follow`, a trusted
    symlink at `path` is kept and the file it points to is replaced. `confine`: see Parent."""
    if follow:
        path = _followed(path)
    with Parent(path, create=True, confine=confine) as parent:
        existing = parent.lstat()
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
        tmp = ".reconcile.%s" % os.urandom(6).hex()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=parent.fd)
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
                os.rename(tmp, parent.leaf, src_dir_fd=parent.fd, dst_dir_fd=parent.fd)
            except OSError as exc:  # a bind-mounted file can't be renamed over: write it in place
                if exc.errno not in (errno.EBUSY, errno.EXDEV):
                    raise
                src = os.open(tmp, os.O_RDONLY, dir_fd=parent.fd)
                out = os.open(parent.leaf, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW, dir_fd=parent.fd)
                try:
                    while True:
                        block = os.read(src, 1 << 20)
                        if not block:
                            break
                        os.write(out, block)
                finally:
                    os.close(out)
                    os.close(src)
                os.unlink(tmp, dir_fd=parent.fd)
        except BaseException:
            if fd != -1:
                os.close(fd)
            try:
                os.unlink(tmp, dir_fd=parent.fd)
            except FileNotFoundError:
                pass
            raise


def _remove_tree(dir_fd, name):
    """rm -r of `name` below the directory `dir_fd`, through descriptors: no link is followed."""
    for _, dirs, files, fd in os.fwalk(name, topdown=False, dir_fd=dir_fd):
        for entry in files:
            os.unlink(entry, dir_fd=fd)
        for entry in dirs:
            st = os.stat(entry, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                os.unlink(entry, dir_fd=fd)
            else:
                os.rmdir(entry, dir_fd=fd)
    os.rmdir(name, dir_fd=dir_fd)


def remove(path, recursive=False, expect_sha256=None):
    """Remove `path` (a link itself, never what it points to). With `expect_sha256`, a file is removed only
    while it holds the content reconcile wrote; anything else there is left, and said."""
    try:
        parent = Parent(path)
    except OpError as exc:
        if exc.kind == "ENOENT":
            return
        raise
    with parent:
        st = parent.lstat()
        if st is None:
            return
        if expect_sha256 and stat.S_ISREG(st.st_mode):
            fd = _open_leaf(parent)
            try:
                found = _sha256_fd(fd)
            finally:
                os.close(fd)
            if found != expect_sha256:
                raise OpError("ECHANGED", "%s no longer holds what reconcile wrote (sha256 %s); left in place"
                              % (path, found[:12]), path)
        elif expect_sha256 and not stat.S_ISLNK(st.st_mode):
            raise OpError("ECHANGED", "%s is no longer the file reconcile wrote; left in place" % path, path)
        if stat.S_ISDIR(st.st_mode):
            if recursive:
                _remove_tree(parent.fd, parent.leaf)
            else:
                os.rmdir(parent.leaf, dir_fd=parent.fd)
        else:
            os.unlink(parent.leaf, dir_fd=parent.fd)


def make_symlink(path, points_to, confine=None):
    with Parent(path, create=True, confine=confine) as parent:
        tmp = "%s.reconcile-tmp" % parent.leaf
        try:
            os.unlink(tmp, dir_fd=parent.fd)
        except FileNotFoundError:
            pass
        os.symlink(points_to, tmp, dir_fd=parent.fd)
        os.rename(tmp, parent.leaf, src_dir_fd=parent.fd, dst_dir_fd=parent.fd)


def _finished(argv, stdin, env, cwd, timeout):
    """Run `argv` (never through a shell) with `stdin` (None: none), and its exit code and output."""
    import subprocess

    full = dict(os.environ)
    full.update(env or {})
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full, cwd=cwd)
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise OpError("ETIMEDOUT", "`%s` timed out after %ss" % (argv[0], timeout)) from None
    return proc.returncode, out, err


def query(argv, env=None, cwd=None, timeout=None):
    """A read-only command of a module's observation, gathered with the other reads of its host: its exit
    code and output (as latin-1 text, to survive JSON)."""
    rc, out, err = _finished(argv, None, env, cwd, timeout)
    return {"rc": rc, "stdout": out.decode("latin-1"), "stderr": err.decode("latin-1")}


def command(argv, data=None, env=None, cwd=None, timeout=None):
    """A changing command sent with other changes of its host (useradd, crontab -): `data` is its stdin.
    Exiting non-zero fails it, with the words CommandResult.check would use."""
    rc, out, err = _finished(argv, data or b"", env, cwd, timeout)
    if rc != 0:
        text = err.decode("utf-8", "replace").strip() or out.decode("utf-8", "replace").strip()
        raise OpError("ECOMMAND", "`%s` exited %d: %s" % (" ".join(_quoted(a) for a in argv), rc, text[-2000:]))
    return {"rc": 0, "stdout": out.decode("latin-1"), "stderr": err.decode("latin-1")}


def _quoted(arg):
    import shlex

    return shlex.quote(arg)


OPS = {  # type: typing.Dict[str, typing.Callable[..., typing.Any]]
    "stat": stat_paths, "chattr": chattr, "tree_mismatches": tree_mismatches, "list_tree": list_tree,
    "make_directory": make_directory, "write": write, "remove": remove, "make_symlink": make_symlink,
    "query": query, "command": command}
CARRIES_BYTES = ("write", "command")
GROUP = "batch_group"  # an argument naming the change an operation belongs to (see run_ops)


def run_op(op, args, data=None):
    """One operation; errors become data: {"ok": value} or {"error": {kind, message, path}}."""
    try:
        if op in CARRIES_BYTES:
            args = dict(args, data=data if data is not None else b"")
        return {"ok": OPS[op](**args)}
    except OpError as exc:
        return {"error": {"kind": exc.kind, "message": str(exc), "path": exc.path}}
    except OSError as exc:
        return {"error": {"kind": errno.errorcode.get(exc.errno or 0, "EIO"), "message": exc.strerror or str(exc),
                          "path": exc.filename or args.get("path", "")}}


def run_ops(ops):
    """Operations in order, one result each. Operations with the same `batch_group` argument are one
    change's steps: after one of them fails, the change's later steps are skipped (ESKIPPED), and the
    other changes go on."""
    failed = set()
    results = []
    for op, args, data in ops:
        group = args.get(GROUP)
        if group is not None and group in failed:
            results.append({"error": {"kind": "ESKIPPED", "message": "skipped: an earlier step of this change failed",
                                      "path": args.get("path", "")}})
            continue
        result = run_op(op, dict((k, v) for k, v in args.items() if k != GROUP), data)
        if "error" in result and group is not None:
            failed.add(group)
        results.append(result)
    return results


def main():
    """stdin: one JSON line {"ops": [{"op", "args", "size"}…]}, then the bytes each op carries (writes)."""
    stream = sys.stdin.buffer
    request = json.loads(stream.readline().decode("utf-8"))
    ops = [(item["op"], item.get("args") or {}, stream.read(item["size"]) if item.get("size") else None)
           for item in request["ops"]]
    sys.stdout.write(json.dumps(run_ops(ops)))


if __name__ == "__main__":
    main()
