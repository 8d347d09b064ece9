"""Layer directories on a real disk, in the form the kernel's overlayfs reads.

``write_dir(layer, root)`` makes the files of a ``LayerDir`` under ``root``: whiteouts
become char devices 0/0, opaque directories get ``trusted.overlay.opaque=y``, and
modes, owners, mtimes and hard links are set. It never writes outside ``root``: a
path that climbs out is refused, and no symlink is followed (every step opens the
next directory with ``O_NOFOLLOW`` relative to the previous one).

``read_dir(root)`` is the inverse: it reads a directory (e.g. an overlay upper
directory the kernel wrote) back into a ``LayerDir``. Overlay bookkeeping xattrs
other than the opaque mark (``trusted.overlay.origin``, ``impure``, ``uuid`` ...) are
left out; sockets are skipped. Both need root for device nodes, owners and the
``trusted.*`` xattrs.
"""
from __future__ import annotations

import hashlib
import os
import stat as st
from dataclasses import replace
from pathlib import Path

from ..errors import LayerError, UnsafeEntry
from .node import OPAQUE_XATTR, LayerDir, Node, norm_path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OVERLAY_XATTR_PREFIX = "trusted.overlay."


def _check_path(path: str) -> list[str]:
    try:
        clean = norm_path(path)
    except ValueError:
        clean = None
    parts = path.split("/")
    if not path or clean != path or any(p in ("", ".", "..") for p in parts):
        raise UnsafeEntry(path, "not a clean relative path inside the layer",
                          fix="use paths like 'etc/hosts' (fsmodel.norm_path)")
    return parts


class _Dirs:
    """Open directory fds under one root, each reached without following symlinks."""

    def __init__(self, root: Path) -> None:
        self.fds: dict[str, int] = {"": os.open(root, _DIR_FLAGS)}

    def get(self, path: str) -> int:
        fd = self.fds.get(path)
        if fd is not None:
            return fd
        head, _, name = path.rpartition("/")
        parent = self.get(head)
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            raise UnsafeEntry(path, f"cannot enter it as a directory without following a "
                              f"symlink ({exc.strerror})",
                              fix="write the layer into an empty directory") from None
        self.fds[path] = fd
        return fd

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


def _set_meta(name: str, node: Node, pfd: int, fd: int | None) -> None:
    """Owner, then mode (chown clears set-id bits), xattrs, then times; never follows."""
    proc = f"/proc/self/fd/{pfd}/{name}"
    if node.kind == "symlink":
        os.chown(name, node.uid, node.gid, dir_fd=pfd, follow_symlinks=False)
        for key, value in node.xattrs:
            os.setxattr(proc, key, value, follow_symlinks=False)
        os.utime(name, ns=(node.mtime * 10**9,) * 2, dir_fd=pfd, follow_symlinks=False)
        return
    own = fd if fd is not None else os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC,
                                            dir_fd=pfd)
    try:
        target = own if fd is not None else f"/proc/self/fd/{own}"
        os.chown(target, node.uid, node.gid)
        os.chmod(target, node.mode & 0o7777)
        for key, value in node.xattrs:
            os.setxattr(target, key, value)
        os.utime(target, ns=(node.mtime * 10**9,) * 2)
    finally:
        if fd is None:
            os.close(own)


def write_dir(layer: LayerDir, root: Path) -> None:
    """Create ``layer``'s entries under ``root`` (made if missing), overlay form."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    entries: dict[str, Node] = {}
    for path in layer:
        parts = _check_path(path)
        for i in range(1, len(parts)):
            entries.setdefault("/".join(parts[:i]), Node.dir(0o755))
    entries.update(layer)
    order = sorted(entries, key=lambda p: tuple(p.split("/")))
    dirs = _Dirs(root)
    first_of_inode: dict[int, str] = {}
    try:
        for path in order:
            node = entries[path]
            head, _, name = path.rpartition("/")
            pfd = dirs.get(head)
            try:
                _make(path, name, node, pfd, dirs, first_of_inode)
            except FileExistsError:
                raise LayerError(f"{path!r} already exists under {root}",
                                 fix="write the layer into an empty directory") from None
        for path in reversed(order):   # directories last, deepest first: times stick
            node = entries[path]
            if node.kind == "dir":
                fd = dirs.get(path)
                _set_meta(path.rpartition("/")[2], node, dirs.get(path.rpartition("/")[0]), fd)
    finally:
        dirs.close()


def _make(path: str, name: str, node: Node, pfd: int, dirs: _Dirs,
          first_of_inode: dict[int, str]) -> None:
    kind = node.kind
    if kind == "dir":
        try:
            os.mkdir(name, 0o700, dir_fd=pfd)
        except FileExistsError:
            if not st.S_ISDIR(os.stat(name, dir_fd=pfd, follow_symlinks=False).st_mode):
                raise
        dirs.get(path)
        return
    if node.inode is not None and kind != "whiteout":
        first = first_of_inode.get(node.inode)
        if first is not None:
            fhead, _, fname = first.rpartition("/")
            os.link(fname, name, src_dir_fd=dirs.get(fhead), dst_dir_fd=pfd,
                    follow_symlinks=False)
            return
        first_of_inode[node.inode] = path
    if kind == "file":
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=pfd)
        try:
            if node.data is not None:
                view = memoryview(node.data)
                while view:
                    view = view[os.write(fd, view):]
            else:
                os.ftruncate(fd, node.size)   # content unknown: a sparse file of that size
            _set_meta(name, node, pfd, fd)
        finally:
            os.close(fd)
        return
    if kind == "symlink":
        os.symlink(node.linkname, name, dir_fd=pfd)
    elif kind == "whiteout":
        os.mknod(name, st.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
    elif kind in ("char", "block"):
        os.mknod(name, (st.S_IFCHR if kind == "char" else st.S_IFBLK) | 0o600,
                 os.makedev(*node.rdev), dir_fd=pfd)
    elif kind == "fifo":
        os.mkfifo(name, 0o600, dir_fd=pfd)
    else:
        raise LayerError(f"{path!r}: unknown node kind {kind!r}")
    if kind == "whiteout":
        _set_meta(name, Node.whiteout(), pfd, None)
    else:
        _set_meta(name, node, pfd, None)


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
    rootfd = os.open(Path(root), _DIR_FLAGS)
    try:
        _read_into("", rootfd, out, by_ino, with_data)
    finally:
        os.close(rootfd)
    number = 0
    for key in sorted(by_ino, key=lambda k: by_ino[k][0]):
        names = by_ino[key]
        if len(names) < 2:
            continue
        number += 1
        for name in names:
            out[name] = replace(out[name], inode=number)
    return {p: out[p] for p in sorted(out, key=lambda p: tuple(p.split("/")))}


def _read_into(prefix: str, dfd: int, out: dict[str, Node],
               by_ino: dict[tuple[int, int], list[str]], with_data: bool) -> None:
    for name in sorted(os.listdir(dfd)):
        path = f"{prefix}/{name}" if prefix else name
        try:
            s = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:   # gone, or an overlay whiteout listed by readdir
            continue
        common = dict(mode=st.S_IMODE(s.st_mode), uid=s.st_uid, gid=s.st_gid,
                      mtime=s.st_mtime_ns // 10**9)
        proc = f"/proc/self/fd/{dfd}/{name}"
        if st.S_ISDIR(s.st_mode):
            fd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
            try:
                out[path] = Node.dir(xattrs=_xattrs(fd), **common)
                _read_into(path, fd, out, by_ino, with_data)
            finally:
                os.close(fd)
        elif st.S_ISREG(s.st_mode):
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            try:
                digest, chunks = hashlib.sha256(), []
                while chunk := os.read(fd, 1 << 20):
                    digest.update(chunk)
                    if with_data:
                        chunks.append(chunk)
                xattrs = _xattrs(fd)
            finally:
                os.close(fd)
            out[path] = Node("file", size=s.st_size, sha256=digest.hexdigest(),
                             data=b"".join(chunks) if with_data else None, xattrs=xattrs,
                             **common)
            if s.st_nlink > 1:
                by_ino.setdefault((s.st_dev, s.st_ino), []).append(path)
        elif st.S_ISLNK(s.st_mode):
            out[path] = Node("symlink", linkname=os.readlink(name, dir_fd=dfd),
                             xattrs=_xattrs(proc, follow=False), **common)
            if s.st_nlink > 1:
                by_ino.setdefault((s.st_dev, s.st_ino), []).append(path)
        elif st.S_ISCHR(s.st_mode) and s.st_rdev == 0:
            out[path] = Node.whiteout()
        elif st.S_ISCHR(s.st_mode) or st.S_ISBLK(s.st_mode):
            kind = "char" if st.S_ISCHR(s.st_mode) else "block"
            out[path] = Node(kind, rdev=(os.major(s.st_rdev), os.minor(s.st_rdev)),  # type: ignore[arg-type]
                             xattrs=_xattrs(proc, follow=False), **common)
        elif st.S_ISFIFO(s.st_mode):
            out[path] = Node("fifo", xattrs=_xattrs(proc, follow=False), **common)
        # sockets: skipped (layers cannot carry them)
