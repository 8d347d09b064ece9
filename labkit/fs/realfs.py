"""Layer directories on a real disk, in the form the kernel's overlayfs reads.

``write_dir(layer, root)`` makes the files of a ``LayerDir`` under ``root``: whiteouts
become char devices 0/0, opaque directories get ``trusted.overlay.opaque=y``, and
modes, owners, mtimes and hard links are set. It never writes outside ``root``: a
path that climbs out is refused, and no symlink is followed (every step opens the
next directory with ``O_NOFOLLOW`` relative to the previous one).

A layer may come from an untrusted tar, so ``write_dir`` makes what a kernel overlay
lesson needs and nothing more:

* regular content: directories, files, symlinks, hard links, and fifos (a named pipe
  grants no privilege, and labkit never opens one: ``read_dir`` only calls ``lstat``);
* whiteouts, as char devices 0/0, and the opaque mark, only as ``y`` on a directory (under
  ``opaque_xattr``: ``user.overlay.opaque`` for a ``userxattr`` mount);
* no other device node, ever: a ``char`` or ``block`` entry is refused with an
  ``UnsafeEntry`` naming it, before anything is written. Skipping it instead would let the
  file below it show through, and the kernel's view would silently differ from the
  model's. ``kernel.KernelOverlay`` refuses such a layer with ``KernelUnavailable``, so a
  lesson falls back to the simulator (which models devices) and says why;
* no set-user-ID or set-group-ID bit (the sticky bit stays), and no xattr but the opaque
  mark: ``security.capability``, ``user.*``, overlay's own bookkeeping (``redirect``,
  ``origin``, ``metacopy`` ...) are all left out. Each thing left out is returned as a
  ``Dropped`` value, so a caller can say so.

A hostile value is refused before anything is written, by an ``UnsafeEntry`` naming the
entry and the problem: a path that is not clean, a NUL in a name, a name over 255 bytes,
a uid, gid, mtime or size outside what the kernel takes, a bad symlink target, a malformed
xattr name or value (``check_layer`` runs just these checks). ``trust=TRUSTED`` lifts the
three limits above (devices, set-id bits, any xattr) for layers labkit's own tests generate
(the kernel oracle checks the model's set-id and device rules against the kernel); nothing
that reads a tar or an image passes it.

``read_dir(root)`` is the inverse: it reads a directory (e.g. an overlay upper
directory the kernel wrote) back into a ``LayerDir``. Overlay bookkeeping xattrs
other than the opaque mark (``trusted.overlay.origin``, ``impure``, ``uuid`` ...) are
left out; sockets are skipped. Both need root for owners and the ``trusted.*`` xattrs.

Writing, reading (``read_dir``, ``walk``) and removing (``remove_tree``) are iterative and
hold at most ``MAX_DIR_FDS`` directory fds (plus the root's and one more) whatever the depth:
a 3,000-deep layer needs no recursion and no fd per level (``shutil.rmtree`` needs both).
Every failure is a ``LayerError`` naming the entry (an ``UnsafeEntry`` when the layer is at
fault), never a bare ``OSError``, ``ValueError`` or ``OverflowError``.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import stat as st
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from ..errors import LayerError, UnsafeEntry
from .node import KINDS, OPAQUE_XATTR, LayerDir, Node, norm_path

MAX_DIR_FDS = 32
"""Directory fds held open at once below the root (the chain to the last one used)."""

NAME_MAX = 255                      # bytes in one name (a path component)
SYMLINK_MAX = 4095                  # bytes in a symlink target (PATH_MAX less the NUL)
XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
_ID_MAX = 2**32 - 2                 # uid_t/gid_t; 2**32 - 1 is chown's "leave unchanged"
_MTIME_MIN = -(2**63) // 10**9 + 1  # seconds whose nanoseconds fit utimensat's time
_MTIME_MAX = (2**63 - 1) // 10**9
_SIZE_MAX = 2**63 - 1               # off_t
_MAJOR_MAX, _MINOR_MAX = 2**12 - 1, 2**20 - 1   # what mknod's 32-bit dev_t carries
_SET_ID = 0o6000

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_OVERLAY_XATTR_PREFIX = "trusted.overlay."
_FIX_CLEAN = "write the layer into an empty directory"


@dataclass(frozen=True)
class Trust:
    """What ``write_dir`` may write beyond regular content, whiteouts and the opaque mark."""
    devices: bool = False     # char and block device nodes other than whiteouts
    set_id: bool = False      # set-user-ID and set-group-ID bits
    xattrs: bool = False      # every xattr a Node carries, not only the opaque mark


UNTRUSTED = Trust()
"""The default: what a kernel overlay lesson needs, whatever the layer holds."""
TRUSTED = Trust(devices=True, set_id=True, xattrs=True)
"""Everything a Node says: only for layers labkit's own tests generate."""


@dataclass(frozen=True)
class Dropped:
    """Something ``write_dir`` left out of one entry (a set-id bit, an xattr), and what."""
    path: str
    what: str

    def __str__(self) -> str:
        return f"/{self.path}: {self.what}"


# -- checks ---------------------------------------------------------------------------------

def _num(value: int) -> str:
    """A number for a message (huge ones shortened: str() refuses over 4,300 digits)."""
    return str(value) if abs(value) < 10**30 else f"a {value.bit_length()}-bit number"


def _int(path: str, what: str, value: object, lo: int, hi: int) -> None:
    if not isinstance(value, int):
        raise UnsafeEntry(path, f"its {what} is {type(value).__name__}, not a whole number")
    if not lo <= value <= hi:
        raise UnsafeEntry(path, f"its {what} {_num(value)} is outside what the kernel takes "
                          f"({lo} to {hi})", fix="correct the value, or leave the entry out")


def _name_bytes(path: str, what: str, name: object, limit: int) -> bytes:
    if not isinstance(name, str):
        raise UnsafeEntry(path, f"{what} is {type(name).__name__}, not a str")
    if "\0" in name:
        raise UnsafeEntry(path, f"{what} holds a NUL byte, which no file system can store",
                          fix="rename or leave out the entry")
    try:
        raw = os.fsencode(name)
    except UnicodeError:
        raise UnsafeEntry(path, f"{what} cannot be encoded as a file name",
                          fix="rename or leave out the entry") from None
    if len(raw) > limit:
        raise UnsafeEntry(path, f"{what} is {len(raw)} bytes long: at most {limit} fit",
                          fix="shorten it, or leave out the entry")
    return raw


def _check_path(path: object) -> None:
    if not isinstance(path, str):
        raise UnsafeEntry(repr(path), f"a path must be a str, not {type(path).__name__}")
    raw = _name_bytes(path, "the path", path, 1 << 62)
    try:
        clean = norm_path(path)
    except ValueError:
        clean = None
    parts = raw.split(b"/")
    if not path or clean != path or b"" in parts or b"." in parts or b".." in parts:
        raise UnsafeEntry(path, "not a clean relative path inside the layer",
                          fix="use paths like 'etc/hosts' (fsmodel.norm_path)")
    longest = max(map(len, parts))
    if longest > NAME_MAX:
        raise UnsafeEntry(path, f"a name in it is {longest} bytes long: a file name holds at "
                          f"most {NAME_MAX}", fix="shorten it, or leave out the entry")


def _check_node(path: str, node: object, trust: Trust) -> None:
    if not isinstance(node, Node):
        raise UnsafeEntry(path, f"not a Node but {type(node).__name__}")
    kind = node.kind
    if kind not in KINDS:
        raise UnsafeEntry(path, f"unknown node kind {kind!r}")
    _int(path, "uid", node.uid, 0, _ID_MAX)
    _int(path, "gid", node.gid, 0, _ID_MAX)
    _int(path, "mtime", node.mtime, _MTIME_MIN, _MTIME_MAX)
    _int(path, "mode", node.mode, 0, _SIZE_MAX)
    if node.inode is not None:
        _int(path, "hard-link group (inode)", node.inode, -_SIZE_MAX, _SIZE_MAX)
    if kind == "file":
        if node.data is None:
            _int(path, "size", node.size, 0, _SIZE_MAX)
        elif not isinstance(node.data, (bytes, bytearray, memoryview)):
            raise UnsafeEntry(path, f"its content is {type(node.data).__name__}, not bytes")
    elif kind == "symlink":
        if not node.linkname:
            raise UnsafeEntry(path, "a symlink with an empty target", fix="leave out the entry")
        _name_bytes(path, "its symlink target", node.linkname, SYMLINK_MAX)
    elif kind in ("char", "block"):
        rdev = node.rdev
        ok = isinstance(rdev, tuple) and len(rdev) == 2 and all(isinstance(x, int) for x in rdev)
        shown = "/".join(_num(x) for x in rdev) if ok else repr(type(rdev).__name__)
        if not trust.devices:
            raise UnsafeEntry(path, f"a {kind} device {shown}: labkit never creates a device "
                              "node on the host (a whiteout is Node.whiteout(), char 0/0)",
                              fix="leave device nodes out of the layer, or use labkit.Mount "
                                  "(the simulator), which models them")
        if not ok or not (0 <= rdev[0] <= _MAJOR_MAX and 0 <= rdev[1] <= _MINOR_MAX):
            raise UnsafeEntry(path, f"device number {shown} is outside what mknod takes "
                              f"(major 0-{_MAJOR_MAX}, minor 0-{_MINOR_MAX})")
    if not isinstance(node.xattrs, tuple):
        raise UnsafeEntry(path, f"its xattrs are {type(node.xattrs).__name__}, not a tuple")
    for item in node.xattrs:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise UnsafeEntry(path, f"an xattr is {type(item).__name__}, not a (name, value) pair")
        key, value = item
        raw = _name_bytes(path, f"the xattr name {key!r}", key, XATTR_NAME_MAX)
        if not raw or b"." not in raw[1:]:
            raise UnsafeEntry(path, f"the xattr name {key!r} has no namespace (user.*, "
                              "trusted.* ...)", fix="leave the xattr out")
        if not isinstance(value, (bytes, bytearray)):
            raise UnsafeEntry(path, f"the value of the xattr {key!r} is "
                              f"{type(value).__name__}, not bytes")
        if len(value) > XATTR_SIZE_MAX:
            raise UnsafeEntry(path, f"the value of the xattr {key!r} is {len(value)} bytes: "
                              f"at most {XATTR_SIZE_MAX} fit", fix="leave the xattr out")


def check_layer(layer: LayerDir, *, trust: Trust = UNTRUSTED) -> None:
    """Refuse (``UnsafeEntry``, naming the entry) anything ``write_dir`` would not write."""
    for path, node in layer.items():
        _check_path(path)
        _check_node(path, node, trust)


def _sort_key(path: str) -> str:
    """Path order by components ("a/b" before "a-b"), without a tuple per path: '/' becomes
    NUL, which sorts first and is in no name."""
    return path.replace("/", "\0")


def _as_written(path: str, node: Node, trust: Trust, opaque_xattr: str,
                dropped: list[Dropped]) -> Node:
    """``node`` as ``trust`` lets it be written: set-id bits and xattrs left out (and listed
    in ``dropped``), the opaque mark renamed to ``opaque_xattr``."""
    mode = node.mode & 0o7777
    if node.kind == "whiteout":
        drop = [k for k, _ in node.xattrs]
        xattrs: tuple[tuple[str, bytes], ...] = ()
    else:
        keep, drop = [], []
        for key, value in node.xattrs:
            if key == OPAQUE_XATTR and node.kind == "dir" and bytes(value) == b"y":
                keep.append((opaque_xattr, b"y"))
            elif trust.xattrs:
                keep.append((key, bytes(value)))
            else:
                drop.append(key)
        xattrs = tuple(keep)
        if mode & _SET_ID and not trust.set_id:
            dropped.append(Dropped(path, f"set-user-ID/set-group-ID bits: mode {mode:04o} "
                                         f"written as {mode & ~_SET_ID:04o}"))
            mode &= ~_SET_ID
    dropped.extend(Dropped(path, f"xattr {key}") for key in drop)
    if mode == node.mode and xattrs == node.xattrs:
        return node
    return replace(node, mode=mode, xattrs=xattrs)


# -- directory fds, bounded -----------------------------------------------------------------

class _DirFds:
    """Open directory fds under one root, each reached one name at a time without following
    a symlink. Besides the root's, it holds only the chain to the last directory asked for,
    at most ``MAX_DIR_FDS`` of it (the shallow end is closed first and opened again when
    needed), so any depth needs a bounded number of fds. Raises ``OSError``."""

    def __init__(self, root: Path | str) -> None:
        self.root = os.open(root, _DIR_FLAGS)
        self.chain: list[tuple[str, int]] = []     # (path, fd), each the parent of the next

    def get(self, path: str) -> int:
        chain = self.chain
        while chain:
            top = chain[-1][0]
            if path == top:
                return chain[-1][1]
            if path.startswith(top) and path[len(top)] == "/":
                break
            os.close(chain.pop()[1])
        if chain:
            base, fd = chain[-1]
            rest = path[len(base) + 1:]
        elif not path:
            return self.root
        else:
            base, fd, rest = "", self.root, path
        for name in rest.split("/"):
            base = f"{base}/{name}" if base else name
            fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            chain.append((base, fd))
            if len(chain) > MAX_DIR_FDS:
                os.close(chain.pop(0)[1])
        return fd

    def close(self) -> None:
        for _path, fd in self.chain:
            os.close(fd)
        self.chain.clear()
        if self.root >= 0:
            os.close(self.root)
            self.root = -1


def _enter(dirs: _DirFds, path: str) -> int:
    try:
        return dirs.get(path)
    except OSError as exc:
        raise UnsafeEntry(path, f"cannot enter it as a directory without following a "
                          f"symlink ({exc.strerror})", fix=_FIX_CLEAN) from None


# -- writing --------------------------------------------------------------------------------

def write_dir(layer: LayerDir, root: Path, *, trust: Trust = UNTRUSTED,
              opaque_xattr: str = OPAQUE_XATTR) -> tuple[Dropped, ...]:
    """Create ``layer``'s entries under ``root`` (made if missing), overlay form; the
    opaque mark is written as ``opaque_xattr``. Returns what it left out (``Dropped``)."""
    root = Path(root)
    check_layer(layer, trust=trust)
    implied: dict[str, Node] = {}
    for path in layer:
        head = path.rpartition("/")[0]
        while head and head not in layer and head not in implied:
            implied[head] = Node.dir(0o755)
            head = head.rpartition("/")[0]
    dropped: list[Dropped] = []
    entries = {**implied, **{p: _as_written(p, n, trust, opaque_xattr, dropped)
                             for p, n in layer.items()}}
    order = sorted(entries, key=_sort_key)
    try:
        root.mkdir(parents=True, exist_ok=True)
        dirs = _DirFds(root)
    except OSError as exc:
        raise LayerError(f"cannot make or open the directory {root}: {exc.strerror}",
                         fix="give a directory path labkit can create") from None
    first_of_inode: dict[int, str] = {}
    try:
        for path in order:
            try:
                _make(path, entries[path], dirs, first_of_inode)
            except FileExistsError:
                raise LayerError(f"{path!r} already exists under {root}", fix=_FIX_CLEAN) from None
            except OSError as exc:
                raise LayerError(f"{path!r}: cannot write it under {root}: {exc.strerror}",
                                 fix="write the layer as root into an empty directory on a "
                                     "local file system") from None
        for path in reversed(order):   # directories last, deepest first: times stick
            node = entries[path]
            if node.kind == "dir":
                try:
                    _set_meta(node, _enter(dirs, path))
                except OSError as exc:
                    raise LayerError(f"{path!r}: cannot set its owner, mode, xattrs or time "
                                     f"under {root}: {exc.strerror}",
                                     fix="write the layer as root") from None
    finally:
        dirs.close()
    return tuple(dropped)


def _set_meta(node: Node, target: int | str) -> None:
    """Owner, then mode (chown clears set-id bits), xattrs, then times, on an fd or a
    ``/proc/self/fd`` path (followed: it names the entry itself)."""
    os.chown(target, node.uid, node.gid)
    os.chmod(target, node.mode & 0o7777)
    for key, value in node.xattrs:
        os.setxattr(target, key, value)
    os.utime(target, ns=(node.mtime * 10**9,) * 2)


def _make(path: str, node: Node, dirs: _DirFds, first_of_inode: dict[int, str]) -> None:
    head, _, name = path.rpartition("/")
    pfd = _enter(dirs, head)
    kind = node.kind
    if kind == "dir":
        try:
            os.mkdir(name, 0o700, dir_fd=pfd)
        except FileExistsError:
            if not st.S_ISDIR(os.stat(name, dir_fd=pfd, follow_symlinks=False).st_mode):
                raise
        return
    if node.inode is not None and kind != "whiteout":
        first = first_of_inode.get(node.inode)
        if first is not None:
            fhead, _, fname = first.rpartition("/")
            src = os.dup(_enter(dirs, fhead))
            try:
                os.link(fname, name, src_dir_fd=src, dst_dir_fd=_enter(dirs, head),
                        follow_symlinks=False)
            finally:
                os.close(src)
            return
        first_of_inode[node.inode] = path
    if kind == "file":
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=pfd)
        try:
            if node.data is not None:
                view = memoryview(node.data).cast("B")
                while view:
                    view = view[os.write(fd, view):]
            else:
                os.ftruncate(fd, node.size)   # content unknown: a sparse file of that size
            _set_meta(node, fd)
        finally:
            os.close(fd)
        return
    if kind == "symlink":
        os.symlink(node.linkname, name, dir_fd=pfd)
        os.chown(name, node.uid, node.gid, dir_fd=pfd, follow_symlinks=False)
        for key, value in node.xattrs:
            os.setxattr(f"/proc/self/fd/{pfd}/{name}", key, value, follow_symlinks=False)
        os.utime(name, ns=(node.mtime * 10**9,) * 2, dir_fd=pfd, follow_symlinks=False)
        return
    if kind == "whiteout":
        os.mknod(name, st.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
        node = Node.whiteout()
    elif kind in ("char", "block"):        # check_layer let it through: trust.devices
        os.mknod(name, (st.S_IFCHR if kind == "char" else st.S_IFBLK) | 0o600,
                 os.makedev(*node.rdev), dir_fd=pfd)
    else:
        os.mkfifo(name, 0o600, dir_fd=pfd)
    own = os.open(name, _PATH_FLAGS, dir_fd=pfd)
    try:
        _set_meta(node, f"/proc/self/fd/{own}")
    finally:
        os.close(own)


# -- reading --------------------------------------------------------------------------------

def walk(root: Path) -> Iterator[tuple[str, os.stat_result, int, str]]:
    """Every entry under ``root`` (not ``root`` itself), depth first, as ``(path, lstat,
    dir_fd, name)``. ``dir_fd`` is an open fd of the entry's directory, valid until the next
    step: reach the entry through it (``name``, ``dir_fd=``, or ``/proc/self/fd/<dir_fd>/<name>``),
    never by its full path, which may be longer than PATH_MAX. Never follows a symlink;
    iterative, with bounded fds; an entry gone while walking is skipped. Close the generator
    (``contextlib.closing``) when stopping early. Raises ``LayerError``."""
    try:
        dirs = _DirFds(root)
    except OSError as exc:
        raise LayerError(f"cannot read the directory {root}: {exc.strerror}",
                         fix="give the path of an existing directory") from None
    try:
        stack = [""]
        while stack:
            d = stack.pop()
            try:
                dfd = dirs.get(d)
                names = os.listdir(dfd)
            except FileNotFoundError:    # gone since it was listed
                continue
            except OSError as exc:
                raise LayerError(f"cannot read {d!r} under {root}: {exc.strerror}",
                                 fix="read a directory nothing else is changing, as root") from None
            for name in sorted(names, reverse=True):
                path = f"{d}/{name}" if d else name
                try:
                    s = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                except FileNotFoundError:   # gone, or an overlay whiteout listed by readdir
                    continue
                except OSError as exc:
                    raise LayerError(f"cannot read {path!r} under {root}: {exc.strerror}") from None
                if st.S_ISDIR(s.st_mode):
                    stack.append(path)
                yield path, s, dfd, name
    finally:
        dirs.close()


def _xattrs(target: str | int, follow: bool = True) -> tuple[tuple[str, bytes], ...]:
    try:
        names = os.listxattr(target, follow_symlinks=follow)
    except OSError:
        return ()
    out = []
    for key in sorted(names):
        if key.startswith(_OVERLAY_XATTR_PREFIX) and key != OPAQUE_XATTR:
            continue
        try:
            out.append((key, os.getxattr(target, key, follow_symlinks=follow)))
        except OSError:
            continue
    return tuple(out)


def read_dir(root: Path, *, with_data: bool = True) -> LayerDir:
    """Read a real directory tree into a ``LayerDir`` (sorted, root not included).

    Char devices 0/0 become whiteouts; hard links (files sharing an inode within
    ``root``) get a common ``inode`` number, numbered in path order.
    """
    out: dict[str, Node] = {}
    by_ino: dict[tuple[int, int], list[str]] = {}
    with contextlib.closing(walk(Path(root))) as entries:
        for path, s, dfd, name in entries:
            node = _read_one(path, s, dfd, name, with_data)
            if node is None:
                continue
            out[path] = node
            if node.kind in ("file", "symlink") and s.st_nlink > 1:
                by_ino.setdefault((s.st_dev, s.st_ino), []).append(path)
    groups = sorted((sorted(names, key=_sort_key) for names in by_ino.values() if len(names) > 1),
                    key=lambda names: _sort_key(names[0]))
    for number, names in enumerate(groups, 1):
        for name in names:
            out[name] = replace(out[name], inode=number)
    return {p: out[p] for p in sorted(out, key=_sort_key)}


def _read_one(path: str, s: os.stat_result, dfd: int, name: str, with_data: bool) -> Node | None:
    common = dict(mode=st.S_IMODE(s.st_mode), uid=s.st_uid, gid=s.st_gid,
                  mtime=s.st_mtime_ns // 10**9)
    proc = f"/proc/self/fd/{dfd}/{name}"
    if st.S_ISDIR(s.st_mode):
        return Node.dir(xattrs=_xattrs(proc, follow=False), **common)
    if st.S_ISREG(s.st_mode):
        try:     # O_NONBLOCK: a fifo put in its place since the lstat must not block us
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=dfd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LayerError(f"cannot read the file {path!r}: {exc.strerror}") from None
        try:
            if not st.S_ISREG(os.fstat(fd).st_mode):
                raise LayerError(f"{path!r} changed from a file while it was read",
                                 fix="read a directory nothing else is changing")
            digest, chunks = hashlib.sha256(), []
            while chunk := os.read(fd, 1 << 20):
                digest.update(chunk)
                if with_data:
                    chunks.append(chunk)
            xattrs = _xattrs(fd)
        except OSError as exc:
            raise LayerError(f"cannot read the file {path!r}: {exc.strerror}") from None
        finally:
            os.close(fd)
        data = b"".join(chunks) if with_data else None
        return Node("file", size=s.st_size, sha256=digest.hexdigest(), data=data, xattrs=xattrs,
                    **common)
    if st.S_ISLNK(s.st_mode):
        try:
            target = os.readlink(name, dir_fd=dfd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LayerError(f"cannot read the symlink {path!r}: {exc.strerror}") from None
        return Node("symlink", linkname=target, xattrs=_xattrs(proc, follow=False), **common)
    if st.S_ISCHR(s.st_mode) and s.st_rdev == 0:
        return Node.whiteout()
    if st.S_ISCHR(s.st_mode) or st.S_ISBLK(s.st_mode):
        kind = "char" if st.S_ISCHR(s.st_mode) else "block"
        return Node(kind, rdev=(os.major(s.st_rdev), os.minor(s.st_rdev)),  # type: ignore[arg-type]
                    xattrs=_xattrs(proc, follow=False), **common)
    if st.S_ISFIFO(s.st_mode):
        return Node("fifo", xattrs=_xattrs(proc, follow=False), **common)
    return None      # sockets: skipped (layers cannot carry them)


# -- removing -------------------------------------------------------------------------------

def _open_up(dfd: int, name: str) -> None:
    """chmod a directory to 0700 without following a symlink (through an O_PATH fd)."""
    try:
        fd = os.open(name, _PATH_FLAGS | os.O_DIRECTORY, dir_fd=dfd)
    except OSError:
        return
    try:
        os.chmod(f"/proc/self/fd/{fd}", 0o700)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_tree(root: Path, *, open_up: bool = False) -> bool:
    """Remove ``root`` and everything under it, best effort; True when it is gone.

    Iterative, with bounded fds, never following a symlink (a symlink is removed, not what
    it points to) and never descending into another file system (a mount point is left,
    with what is above it). ``open_up``: first make each directory 0700, for a tree of
    your own files that a user namespace left unreadable to you (overlay's ``work/work``
    is mode 000)."""
    root = Path(root)
    try:
        top = os.lstat(root)
        if not st.S_ISDIR(top.st_mode):
            os.unlink(root)
            return True
        if open_up:
            with contextlib.suppress(OSError):
                os.chmod(root, 0o700)   # a directory: lstat said so a moment ago
        dirs = _DirFds(root)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        stack: list[tuple[str, bool]] = [("", False)]
        while stack:
            path, emptied = stack.pop()
            if emptied:
                head, _, name = path.rpartition("/")
                with contextlib.suppress(OSError):
                    os.rmdir(name, dir_fd=dirs.get(head))
                continue
            try:
                dfd = dirs.get(path)
                names = os.listdir(dfd)
            except OSError:
                continue
            if path:
                stack.append((path, True))
            for name in names:
                try:
                    s = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                    if not st.S_ISDIR(s.st_mode):
                        os.unlink(name, dir_fd=dfd)
                        continue
                except OSError:
                    continue
                if s.st_dev != top.st_dev:
                    continue
                if open_up:
                    _open_up(dfd, name)
                stack.append((f"{path}/{name}" if path else name, False))
    finally:
        dirs.close()
    try:
        os.rmdir(root)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True
