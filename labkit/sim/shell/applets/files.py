"""BusyBox applets that work on files: ``cat``, ``mkdir``, ``rmdir``, ``touch``, ``rm``,
``cp``, ``mv`` (copy + delete across overlay layers, as BusyBox falls back on ``EXDEV``),
``ln``, ``chmod``, ``chown``, ``dd``, ``ls``, ``basename``, ``dirname``, and the tree walks
``grep -r`` and ``find`` share.
"""
from __future__ import annotations

import errno as _errno
import os
import posixpath
import re
import time
from dataclasses import dataclass, field

from ....fs.node import Node
from ....fs.users import account_rows, name_of
from ..base import UMASK, _CmdError, _oserr, _unsupported
from ..interp import _Shell
from ..streams import _IO, _read_special, _urandom
from ..usage import _opts


def _cmd_cat(sh: _Shell, argv: list[str], io: _IO) -> int:
    _, _, files = _opts(argv, "uvetn")
    status = 0
    for f in files or ["-"]:
        if f == "-":
            io.stdout(io.stdin.take())
            continue
        try:
            io.stdout(_read_special(sh, f, None))
        except OSError as e:            # open() of a directory works; read() fails
            io.stderr(f"cat: read error: {_oserr(e)}\n" if e.errno == _errno.EISDIR
                      else f"cat: can't open '{f}': {_oserr(e)}\n")
            status = 1
    return status


def _cmd_mkdir(sh: _Shell, argv: list[str], io: _IO) -> int:
    flags, values, names = _opts(argv, "pv", with_value="m")
    if not names:
        raise _CmdError("mkdir: missing operand", 1)
    mode = 0o777 & ~UMASK
    if "m" in values:
        mode = _parse_mode(values["m"], 0o777, is_dir=True, umask=0) if values["m"] else mode
    status = 0
    for name in names:
        path = sh.abs(name)
        try:
            if "p" in flags:
                comps = [c for c in path.split("/") if c]
                for k in range(1, len(comps) + 1):
                    sub = "/" + "/".join(comps[:k])
                    node = sh.fstat(sub)
                    if node is not None and node.kind == "dir":
                        continue
                    sh.mount.mkdir(sub, mode if k == len(comps) else 0o777 & ~UMASK)
            else:
                sh.mount.mkdir(path, mode)
        except OSError as e:
            io.stderr(f"mkdir: can't create directory '{name}': {_oserr(e)}\n")
            status = 1
    return status


def _cmd_rmdir(sh: _Shell, argv: list[str], io: _IO) -> int:
    _, _, names = _opts(argv, "p")
    status = 0
    for name in names:
        try:
            sh.mount.rmdir(sh.abs(name))
        except OSError as e:
            io.stderr(f"rmdir: '{name}': {_oserr(e)}\n")
            status = 1
    return status


def _cmd_touch(sh: _Shell, argv: list[str], io: _IO) -> int:
    flags, _, names = _opts(argv, "cham")
    if not names:
        raise _CmdError("touch: missing operand", 1)
    status = 0
    for name in names:
        path = sh.abs(name)
        try:
            if sh.fstat(name) is not None:
                sh.mount.utime(path, sh.now, current=True)   # copies a lower file up
            elif "c" not in flags:
                sh.mount.write(path, b"")
        except OSError as e:
            io.stderr(f"touch: {name}: {_oserr(e)}\n")
            status = 1
    return status


def _remove(sh: _Shell, path: str, recursive: bool) -> None:
    node = sh.mount.stat(path, follow=False)
    if node.kind == "dir":
        for child in sh.mount.listdir(path):
            _remove(sh, posixpath.join(path, child), recursive)
        sh.mount.rmdir(path)
    else:
        sh.mount.unlink(path)


def _cmd_rm(sh: _Shell, argv: list[str], io: _IO) -> int:
    flags, _, names = _opts(argv, "rRfiv")
    recursive, force = bool(flags & {"r", "R"}), "f" in flags
    if not names and not force:
        raise _CmdError("rm: missing operand", 1)
    status = 0
    for name in names:
        if posixpath.basename(name.rstrip("/")) in (".", ".."):
            io.stderr(f"rm: refusing to remove '.' or '..' directory: skipping '{name}'\n")
            status = 1
            continue
        path = sh.abs(name)
        node = sh.lstat(name)
        if node is None:
            if not force:
                io.stderr(f"rm: can't remove '{name}': No such file or directory\n")
                status = 1
            continue
        if node.kind == "dir" and not recursive:
            io.stderr(f"rm: '{name}' is a directory\n")
            status = 1
            continue
        try:
            _remove(sh, path, recursive)
        except OSError as e:
            io.stderr(f"rm: can't remove '{name}': {_oserr(e)}\n")
            status = 1
    return status


def _identity(sh: _Shell, path: str, node: Node) -> tuple | None:
    """(layer, inode) of a hard-linked file, like (st_dev, st_ino) for BusyBox's link table."""
    if node.inode is None or node.kind != "file":
        return None
    origin = getattr(sh.mount, "origin", None)
    try:
        return (origin(path) if origin else None, node.inode)
    except OSError:
        return None


def _concat(path: str, name: str) -> str:
    """BusyBox concat_path_file: no doubled slash."""
    return (path if path.endswith("/") else path + "/") + name.lstrip("/") if path else name


@dataclass
class _CopyState:
    """What one cp/mv invocation remembers, like BusyBox's ino/dev hash table."""

    prog: str
    links: dict = field(default_factory=dict)       # hard-link identity -> first copy
    dirs: set = field(default_factory=set)          # every destination directory used


def _copy(sh: _Shell, src: str, dst: str, io: _IO, state: _CopyState, *, recursive: bool,
          preserve: bool, deref: bool, force: bool = False, top: bool = True) -> int:
    """BusyBox copy_file(): ``src``/``dst`` as the user wrote them (messages show them);
    returns 0, or 1 after printing what failed (a directory copy goes on past failures).
    Without dereferencing, files hard-linked in the source are hard-linked in the copy
    (FEATURE_PRESERVE_HARDLINKS), as ``cp -a``/``cp -r`` and ``mv`` across devices do."""
    prog = state.prog

    def err(msg: str) -> int:
        io.stderr(f"{prog}: {msg}\n")
        return 1

    asrc, adst = sh.abs(src), sh.abs(dst)
    try:
        node = sh.mount.stat(asrc, follow=deref or (top and not recursive))
    except OSError as e:
        return err(f"can't stat '{src}': {_oserr(e)}")
    try:
        dnode: Node | None = sh.mount.stat(adst, follow=False)
    except OSError as e:
        if e.errno != _errno.ENOENT:
            return err(f"can't stat '{dst}': {_oserr(e)}")
        dnode = None
    if dnode is not None:
        follow = deref or (top and not recursive)
        a = sh.realpath(asrc) if follow else posixpath.join(sh.realpath(posixpath.dirname(asrc)),
                                                             posixpath.basename(asrc))
        b = posixpath.join(sh.realpath(posixpath.dirname(adst)), posixpath.basename(adst))
        if a == b:
            return err(f"'{src}' and '{dst}' are the same file")
    if node.kind == "dir":
        if not recursive:
            return err(f"omitting directory '{src}'")
        if sh.realpath(asrc) in state.dirs:
            return err(f"recursion detected, omitting directory '{src}'")
        if dnode is not None and dnode.kind != "dir":
            return err(f"target '{dst}' is not a directory")
        if dnode is None:
            mode = node.mode if preserve else node.mode & ~UMASK
            try:
                sh.mount.mkdir(adst, (mode | 0o700) & 0o7777)
            except OSError as e:
                return err(f"can't create directory '{dst}': {_oserr(e)}")
        state.dirs.add(sh.realpath(adst))
        status = 0
        for child in sh.mount.listdir(asrc):
            status |= _copy(sh, _concat(src, child), _concat(dst, child), io, state,
                            recursive=True, preserve=preserve, deref=deref, force=force, top=False)
        if dnode is None or preserve:
            sh.mount.chmod(adst, node.mode if preserve else node.mode & ~UMASK)
    elif node.kind == "file":
        ident = None if deref else _identity(sh, asrc, node)
        if ident is not None and ident in state.links:
            try:
                if dnode is not None:
                    sh.mount.unlink(adst)
                sh.mount.link(state.links[ident], adst)
            except OSError as e:
                return err(f"can't create link '{dst}': {_oserr(e)}")
            return 0
        if ident is not None:
            state.links[ident] = adst
        data = sh.mount.read(asrc)
        existed = sh.fstat(dst) is not None
        try:                                          # an existing file is truncated in place
            sh.mount.write(adst, data)
        except OSError as e:
            if not (force and dnode is not None and dnode.kind != "dir"):
                return err(f"can't create '{dst}': {_oserr(e)}")
            try:                                      # cp -f: unlink and create anew
                sh.mount.unlink(adst)
                sh.mount.write(adst, data)
                existed = False
            except OSError as e2:
                return err(f"can't create '{dst}': {_oserr(e2)}")
        if not existed or preserve:
            sh.mount.chmod(adst, node.mode if preserve else node.mode & ~UMASK & 0o777)
        status = 0
    elif node.kind == "symlink":
        if dnode is not None:
            if not force:
                return err(f"can't create '{dst}': File exists")
            try:
                if dnode.kind == "dir":
                    sh.mount.rmdir(adst)
                else:
                    sh.mount.unlink(adst)
            except OSError as e:
                return err(f"can't create '{dst}': {_oserr(e)}")
        try:
            sh.mount.symlink(node.linkname, adst)
        except OSError as e:
            return err(f"can't create symlink '{dst}' to '{node.linkname}': {_oserr(e)}")
        if preserve:
            sh.mount.chown(adst, node.uid, node.gid, follow=False)
        return 0
    else:
        raise _unsupported(f"copying the special file {src!r} ({node.kind})")
    if preserve:
        sh.mount.chown(adst, node.uid, node.gid)   # chown first: it clears set-id bits
        sh.mount.chmod(adst, node.mode)
        sh.mount.utime(adst, node.mtime)
    return status


def _cmd_cp(sh: _Shell, argv: list[str], io: _IO) -> int:
    flags, _, names = _opts(argv, "rRapdPLHfinvu")
    if "a" in flags:
        flags |= {"R", "p", "d"}
    recursive = bool(flags & {"r", "R"})
    preserve = "p" in flags
    deref = not (flags & {"d", "P"})
    if recursive and not flags & {"L", "H"}:
        deref = False          # -R copies symlinks inside the tree as symlinks
    if len(names) < 2:
        raise _CmdError("cp: missing destination file operand" if names else "cp: missing file operand")
    *srcs, dest = names
    into = True                            # BusyBox cp.c: when is the last operand a directory?
    if len(srcs) == 1:
        snode = sh.fstat(srcs[0]) if deref and not recursive else sh.lstat(srcs[0])
        dnode = sh.fstat(dest)
        s_dir = snode is not None and snode.kind == "dir"
        d_dir = dnode is not None and dnode.kind == "dir"
        if not (s_dir or d_dir) or (recursive and s_dir and dnode is None):
            into = False
    status = 0
    state = _CopyState("cp")
    for s in srcs:
        target = _concat(dest, _last_component(s)) if into else dest
        status |= _copy(sh, s, target, io, state, recursive=recursive, preserve=preserve,
                        deref=deref, force="f" in flags)
    return status


def _last_component(path: str) -> str:
    """bb_get_last_path_component_strip: ``a/b/`` -> ``b``, ``/`` -> ``/``."""
    stripped = path.rstrip("/")
    return posixpath.basename(stripped) if stripped else "/"


def _cmd_mv(sh: _Shell, argv: list[str], io: _IO) -> int:
    flags, _, names = _opts(argv, "finvT")
    if len(names) < 2:
        raise _CmdError("mv: missing destination file operand" if names else "mv: missing file operand")
    *srcs, dest = names
    dnode = sh.fstat(dest)
    into = len(srcs) > 1 or (dnode is not None and dnode.kind == "dir" and "T" not in flags)
    status = 0
    state = _CopyState("mv")
    for s in srcs:
        src = sh.abs(s)
        dst = posixpath.join(sh.abs(dest), posixpath.basename(s.rstrip("/"))) if into else sh.abs(dest)
        try:
            sh.mount.rename(src, dst)
            continue
        except OSError as e:
            if e.errno != _errno.EXDEV:
                io.stderr(f"mv: can't rename '{s}': {_oserr(e)}\n")
                status = 1
                continue
        # EXDEV: a directory from a lower layer (overlayfs without redirect_dir) -> copy + delete
        snode = sh.lstat(s)
        dn = sh.lstat(dst)
        if dn is not None:
            if (dn.kind == "dir") != (snode is not None and snode.kind == "dir"):
                io.stderr("mv: can't overwrite %sdirectory with %sdirectory\n"
                          % (("", "non-") if dn.kind == "dir" else ("non-", "")))
                status = 1
                continue
            try:
                sh.mount.unlink(dst)           # BusyBox unlink()s even a directory (and fails)
            except OSError as e:
                io.stderr(f"mv: can't remove '{dst}': {_oserr(e)}\n")
                status = 1
                continue
        shown_dst = _concat(dest, _last_component(s)) if into else dest
        if _copy(sh, s, shown_dst, io, state, recursive=True, preserve=True, deref=False):
            status = 1
            continue
        try:
            _remove(sh, src, True)
        except OSError as e:
            io.stderr(f"mv: can't remove '{s}': {_oserr(e)}\n")
            status = 1
    return status


def _cmd_ln(sh: _Shell, argv: list[str], io: _IO) -> int:
    flags, _, names = _opts(argv, "sfnbvT")
    if not names:
        raise _CmdError("ln: missing file operand")
    if len(names) == 1:
        names = [names[0], posixpath.basename(names[0].rstrip("/")) or names[0]]
    *targets, dest = names
    dnode = sh.lstat(dest) if "n" in flags else sh.fstat(dest)
    into = dnode is not None and dnode.kind == "dir"
    if len(targets) > 1 and not into:
        raise _CmdError(f"ln: '{dest}' is not a directory")
    status = 0
    for t in targets:
        link = posixpath.join(dest, posixpath.basename(t.rstrip("/"))) if into else dest
        path = sh.abs(link)
        if "s" not in flags and sh.lstat(t) is None:
            io.stderr(f"ln: {t}: No such file or directory\n")
            status = 1
            continue
        existing = sh.lstat(link)
        if existing is not None:
            if "f" not in flags:
                io.stderr(f"ln: {link}: File exists\n")
                status = 1
                continue
            try:
                if existing.kind == "dir":
                    raise OSError(_errno.EISDIR, os.strerror(_errno.EISDIR), link)
                sh.mount.unlink(path)
            except OSError as e:
                io.stderr(f"ln: {link}: {_oserr(e)}\n")
                status = 1
                continue
        try:
            if "s" in flags:
                sh.mount.symlink(t, path)
            else:
                sh.mount.link(sh.abs(t), path)
        except OSError as e:
            io.stderr(f"ln: {link}: {_oserr(e)}\n")
            status = 1
    return status


_WHO = {"u": 0o4700, "g": 0o2070, "o": 0o0007, "a": 0o6777}


def _parse_mode(spec: str, current: int, *, is_dir: bool, umask: int = 0) -> int:
    """chmod's MODE: octal, or comma-separated ``[ugoa]*[+-=][rwxXst]*`` clauses."""
    if re.fullmatch(r"[0-7]{1,4}", spec):
        return int(spec, 8)
    mode = current & 0o7777
    for clause in spec.split(","):
        m = re.fullmatch(r"([ugoa]*)((?:[-+=][rwxXstugo]*)+)", clause)
        if not m:
            raise ValueError(spec)
        who = m.group(1)
        mask = 0
        for w in who or "a":
            mask |= _WHO[w]
        for op, perms in re.findall(r"([-+=])([rwxXstugo]*)", m.group(2)):
            bits = 0
            for p in perms:
                if p == "r":
                    bits |= 0o444
                elif p == "w":
                    bits |= 0o222
                elif p == "x":
                    bits |= 0o111
                elif p == "X":
                    if is_dir or mode & 0o111:
                        bits |= 0o111
                elif p == "s":
                    bits |= 0o6000
                elif p == "t":
                    bits |= 0o1000
                elif p in "ugo":
                    shift = {"u": 6, "g": 3, "o": 0}[p]
                    v = (mode >> shift) & 7
                    bits |= v << 6 | v << 3 | v
            bits &= mask
            if not who:
                bits &= ~umask
            if op == "+":
                mode |= bits
            elif op == "-":
                mode &= ~bits
            else:
                mode = (mode & ~(mask & 0o7777)) | bits
    return mode


def _walk(sh: _Shell, path: str) -> list[str]:
    out = [path]
    node = sh.mount.stat(path, follow=False)
    if node.kind == "dir":
        for child in sh.mount.listdir(path):
            out.extend(_walk(sh, posixpath.join(path, child)))
    return out


def _cmd_chmod(sh: _Shell, argv: list[str], io: _IO) -> int:
    args = argv[1:]
    recursive = False
    while args and args[0].startswith("-") and re.fullmatch(r"-[Rvcf]+", args[0]):
        recursive = recursive or "R" in args[0]
        args = args[1:]
    if len(args) < 2:
        raise _CmdError("chmod: missing operand")
    spec, names = args[0], args[1:]
    status = 0
    for name in names:
        try:
            paths = _walk(sh, sh.abs(name)) if recursive else [sh.abs(name)]
            for k, p in enumerate(paths):
                node = sh.mount.stat(p, follow=(k == 0))
                if node.kind == "symlink":
                    continue
                try:
                    mode = _parse_mode(spec, node.mode, is_dir=node.kind == "dir")
                except ValueError:
                    raise _CmdError(f"chmod: invalid mode '{spec}'")
                sh.mount.chmod(p, mode)
        except OSError as e:
            io.stderr(f"chmod: {name}: {_oserr(e)}\n")
            status = 1
    return status


def _lookup(sh: _Shell, db: str, name: str) -> tuple[int, int] | None:
    """(id, primary gid) of a name in the mount's /etc/passwd or /etc/group."""
    for f in account_rows(sh.mount, db):
        if f[0] == name and f[2].isdigit():
            gid = int(f[3]) if db == "passwd" and len(f) > 3 and f[3].isdigit() else int(f[2])
            return int(f[2]), gid
    return None


def _cmd_chown(sh: _Shell, argv: list[str], io: _IO) -> int:
    args = argv[1:]
    recursive = False
    while args and re.fullmatch(r"-[RhvcfLHP]+", args[0]):
        recursive = recursive or "R" in args[0]
        args = args[1:]
    if len(args) < 2:
        raise _CmdError("chown: missing operand")
    spec, names = args[0], args[1:]
    user, sep, group = spec.replace(".", ":", 1).partition(":") if ":" not in spec and "." in spec \
        else spec.partition(":")
    uid = gid = None
    if user:
        if user.isdigit():
            uid = int(user)
        else:
            found = _lookup(sh, "passwd", user)
            if found is None:
                raise _CmdError(f"chown: unknown user {user}")
            uid = found[0]
            if sep and not group:
                gid = found[1]
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            found = _lookup(sh, "group", group)
            if found is None:
                raise _CmdError(f"chown: unknown group {group}")
            gid = found[0]
    status = 0
    for name in names:
        try:
            paths = _walk(sh, sh.abs(name)) if recursive else [sh.abs(name)]
            for k, p in enumerate(paths):
                node = sh.mount.stat(p, follow=(k == 0))
                sh.mount.chown(p, node.uid if uid is None else uid, node.gid if gid is None else gid,
                               follow=node.kind != "symlink")   # -R uses lchown inside the tree
        except OSError as e:
            io.stderr(f"chown: {name}: {_oserr(e)}\n")
            status = 1
    return status


_DD_SUFFIX = {"c": 1, "w": 2, "b": 512, "kB": 1000, "k": 1024, "K": 1024, "MB": 1000 ** 2,
              "M": 1024 ** 2, "GB": 1000 ** 3, "G": 1024 ** 3}


def _dd_number(text: str) -> int:
    m = re.fullmatch(r"(\d+)([a-zA-Z]*)", text)
    if not m or (m.group(2) and m.group(2) not in _DD_SUFFIX):
        raise _CmdError(f"dd: invalid number '{text}'")
    return int(m.group(1)) * (_DD_SUFFIX[m.group(2)] if m.group(2) else 1)


def _cmd_dd(sh: _Shell, argv: list[str], io: _IO) -> int:
    ops: dict[str, str] = {}
    for a in argv[1:]:
        key, eq, value = a.partition("=")
        if not eq or key not in ("if", "of", "bs", "count", "status"):
            raise _unsupported(f"the dd operand {a!r} (supported: if= of= bs= count= status=)")
        ops[key] = value
    bs = _dd_number(ops.get("bs", "512"))
    count = _dd_number(ops["count"]) if "count" in ops else None
    if bs == 0:
        raise _CmdError("dd: invalid number '0'")
    src = ops.get("if")
    want = None if count is None else bs * count
    if src is None:
        data = io.stdin.take() if want is None else io.stdin.take()[:want]
    elif src == "/dev/urandom":
        if want is None:
            raise _unsupported("dd from /dev/urandom without count=")
        data = _urandom(want, sh.abs(ops.get("of", "-")) if "of" in ops else "-")
    else:
        try:
            data = _read_special(sh, src, want)
        except OSError as e:
            raise _CmdError(f"dd: can't open '{src}': {_oserr(e)}")
    full, part = divmod(len(data), bs)
    dest = ops.get("of")
    if dest is None:
        io.stdout(data)
    elif dest != "/dev/null":
        try:
            sh.mount.write(sh.abs(dest), data)
        except OSError as e:
            raise _CmdError(f"dd: can't open '{dest}': {_oserr(e)}")
    if ops.get("status") != "none":
        rec = f"{full}+{1 if part else 0}"
        io.stderr(f"{rec} records in\n{rec} records out\n")
    return 0


def _ls_mode(n: Node) -> str:
    kind = {"dir": "d", "symlink": "l", "char": "c", "block": "b", "fifo": "p"}.get(n.kind, "-")
    m = n.mode
    out = [kind]
    for shift, special, ch in ((6, 0o4000, "s"), (3, 0o2000, "s"), (0, 0o1000, "t")):
        r, w, x = (m >> (shift + 2)) & 1, (m >> (shift + 1)) & 1, (m >> shift) & 1
        out.append("r" if r else "-")
        out.append("w" if w else "-")
        if m & special:
            out.append(ch if x else ch.upper())
        else:
            out.append("x" if x else "-")
    return "".join(out)


def _ls_long(sh: _Shell, path: str, shown: str, n: Node, numeric: bool) -> str:
    def name(db: str, i: int) -> str:
        return str(i) if numeric else (name_of(sh.mount, db, i) or str(i))
    size = n.size if n.kind == "file" else (len(n.linkname) if n.kind == "symlink" else 4096)
    t = time.gmtime(n.mtime)
    recent = abs(sh.now - n.mtime) < 183 * 24 * 3600
    date = time.strftime("%b ", t) + f"{t.tm_mday:>2} " + (time.strftime("%H:%M", t) if recent
                                                           else f" {t.tm_year}")
    nlink = 1
    if n.kind == "dir":
        try:
            nlink = 2 + sum(1 for c in sh.mount.listdir(path)
                            if (sh.lstat(posixpath.join(path, c)) or Node("file")).kind == "dir")
        except OSError:
            nlink = 2
    line = (f"{_ls_mode(n)} {nlink:>4} {name('passwd', n.uid):<8} {name('group', n.gid):<8} "
            f"{size:>9} {date} {shown}")
    return line + (f" -> {n.linkname}" if n.kind == "symlink" else "")


def _cmd_ls(sh: _Shell, argv: list[str], io: _IO) -> int:
    """BusyBox ls as it prints to a pipe or file: one name per line, sorted bytewise.
    ``-l``/``-n`` print sizes and dates from the model (link counts and ``total`` blocks are
    estimates: the simulator has no disk blocks)."""
    flags, _, names = _opts(argv, "1aAlnRd")
    long_ = bool(flags & {"l", "n"})
    status = 0
    files: list[tuple[str, Node]] = []
    dirs: list[str] = []
    for name in names or ["."]:
        node = sh.lstat(name)
        if node is not None and node.kind == "symlink" and not (flags & {"d", "l", "n"}):
            node = sh.fstat(name) or node
        if node is None:
            io.stderr(f"ls: {name}: No such file or directory\n")
            status = 1
        elif node.kind == "dir" and "d" not in flags:
            dirs.append(name)
        else:
            files.append((name, node))
    out: list[str] = []
    for name, node in sorted(files, key=lambda x: x[0].encode(errors="surrogateescape")):
        out.append(_ls_long(sh, sh.abs(name), name, node, "n" in flags) if long_ else name)
    header = len(names) > 1 or "R" in flags

    def listing(d: str, first: bool) -> None:
        if not first:
            out.append("")
        if header:
            out.append(f"{d}:")
        try:
            entries = sh.mount.listdir(sh.abs(d))
        except OSError as e:
            io.stderr(f"ls: {d}: {_oserr(e)}\n")
            return
        if "a" not in flags:
            entries = [e for e in entries if not e.startswith(".") or "A" in flags]
        entries = sorted(entries, key=lambda e: e.encode(errors="surrogateescape"))
        if "a" in flags:
            entries = [".", ".."] + entries
        base = d.rstrip("/") if d.rstrip("/") else ""
        nodes = {e: sh.lstat(f"{base}/{e}") for e in entries}
        if long_:
            total = sum(4 if n.kind == "dir" else -(-n.size // 4096) * 4
                        for n in nodes.values() if n is not None and n.kind in ("dir", "file"))
            out.append(f"total {total}")
        for e in entries:
            n = nodes[e]
            if long_ and n is not None:
                out.append(_ls_long(sh, sh.abs(f"{base}/{e}"), e, n, "n" in flags))
            else:
                out.append(e)
        if "R" in flags:
            for e in entries:
                n = nodes[e]
                if e not in (".", "..") and n is not None and n.kind == "dir":
                    listing(f"{base}/{e}" if base or d.startswith("/") else e, False)

    for k, d in enumerate(sorted(dirs, key=lambda x: x.encode(errors="surrogateescape"))):
        listing(d, not files and k == 0)
    io.stdout("".join(line + "\n" for line in out))
    return status


def _cmd_basename(sh: _Shell, argv: list[str], io: _IO) -> int:
    if len(argv) < 2:
        raise _CmdError("basename: missing operand")
    base = argv[1].rstrip("/")
    base = posixpath.basename(base) if base else "/"
    if len(argv) > 2 and base != argv[2] and base.endswith(argv[2]):
        base = base[:-len(argv[2])]
    io.stdout(base + "\n")
    return 0


def _cmd_dirname(sh: _Shell, argv: list[str], io: _IO) -> int:
    if len(argv) < 2:
        raise _CmdError("dirname: missing operand")
    path = argv[1].rstrip("/") or "/"
    d = posixpath.dirname(path).rstrip("/") if "/" in path else "."
    io.stdout((d or "/") + "\n")
    return 0


def _enoent(sh: "_Shell", path: str) -> OSError:
    """The error opening ``path`` gives (ENOENT, ENOTDIR, ELOOP ...)."""
    try:
        sh.mount.stat(sh.abs(path), follow=True)
    except OSError as e:
        return e
    return OSError(_errno.ENOENT, os.strerror(_errno.ENOENT), path)


def _walk_files(sh: "_Shell", top: str, *, follow: bool) -> list[str]:
    """Files under ``top`` depth first, as BusyBox's recursive_action visits them (names
    sorted: the kernel's readdir order is not modelled)."""
    out: list[str] = []

    def visit(path: str, first: bool) -> None:
        node = sh.fstat(path) if (follow or first) else sh.lstat(path)
        if node is None:
            return
        if node.kind == "dir":
            try:
                names = sh.mount.listdir(sh.abs(path))
            except OSError:
                return
            for n in names:
                visit(_concat(path, n), False)
        else:
            out.append(path)
    visit(top, True)
    return out
