"""Run one sequence of filesystem calls on the kernel's overlayfs and on ``overlay.Mount``.

The lowers (and an optional starting upper) are written to disk with
``realfs.write_dir`` and mounted the way Docker's overlay2 driver mounts them
(``index=off,redirect_dir=off,metacopy=off``). The calls run in a forked child that
``chroot``s into the mount, so absolute symlinks resolve inside it exactly as they do
in a container; the results come back through a pipe.
"""
from __future__ import annotations

import contextlib
import errno
import os
import pickle
import shutil
import stat as st
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

from labkit.fs.node import OPAQUE_XATTR, LayerDir, Node
from labkit.fs.overlay import Mount
from labkit.fs.realfs import TRUSTED, write_dir

MOUNT_OPTS = "index=off,redirect_dir=off,metacopy=off"


@contextlib.contextmanager
def kernel_mount(lowers: Sequence[LayerDir], upper: LayerDir | None = None,
                 *, read_only: bool = False) -> Iterator[tuple[Path, Path | None]]:
    """Yield (mountpoint, upperdir); lowers TOP first. Always unmounts and cleans up."""
    base = Path(tempfile.mkdtemp(prefix="labkit-ovl-"))
    mnt = base / "m"
    mounted = False
    try:
        dirs = []
        for i, layer in enumerate(lowers):
            d = base / f"l{i}"
            write_dir(layer, d, trust=TRUSTED)
            os.chmod(d, 0o755)
            os.utime(d, (0, 0))     # the model's root: Node.dir(0o755), mtime 0
            dirs.append(str(d))
        mnt.mkdir()
        opts = "lowerdir=" + ":".join(dirs)
        upperdir = None
        if not read_only:
            upperdir = base / "u"
            write_dir(upper or {}, upperdir, trust=TRUSTED)
            os.chmod(upperdir, 0o755)
            os.utime(upperdir, (0, 0))
            (base / "w").mkdir()
            opts += f",upperdir={upperdir},workdir={base / 'w'}"
        opts += "," + MOUNT_OPTS
        r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(mnt)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"mount failed: {r.stderr.strip()} ({opts})")
        mounted = True
        yield mnt, upperdir
    finally:
        if mounted:
            subprocess.run(["umount", str(mnt)], check=True)
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------- calls
def _kind(mode: int) -> str:
    if st.S_ISDIR(mode):
        return "dir"
    if st.S_ISREG(mode):
        return "file"
    if st.S_ISLNK(mode):
        return "symlink"
    if st.S_ISCHR(mode):     # a whiteout (char 0/0) is never seen through the mount
        return "char"
    if st.S_ISBLK(mode):
        return "block"
    if st.S_ISFIFO(mode):
        return "fifo"
    return "other"


def _run_real(op: tuple) -> object:
    name, *args = op
    if name == "write":
        path, data, append = args
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC),
                     0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return None
    if name == "truncate":
        return os.truncate(*args)
    if name == "chmod":
        return os.chmod(*args)
    if name == "chown":
        return os.chown(*args)
    if name == "utime":
        return os.utime(args[0], (args[1], args[1]))
    if name == "touch":            # utimensat(NULL): "now"
        return os.utime(args[0])
    if name == "mkdir":
        return os.mkdir(*args)
    if name == "rmdir":
        return os.rmdir(*args)
    if name == "unlink":
        return os.unlink(*args)
    if name == "rename":
        return os.rename(*args)
    if name == "symlink":
        return os.symlink(*args)
    if name == "link":
        return os.link(*args, follow_symlinks=False)
    if name == "stat":
        s = os.stat(args[0], follow_symlinks=args[1])
        return (_kind(s.st_mode), st.S_IMODE(s.st_mode), s.st_uid, s.st_gid,
                s.st_size if st.S_ISREG(s.st_mode) else 0, s.st_mtime_ns // 10**9)
    if name == "listdir":
        return sorted(os.listdir(args[0]))
    if name == "read":
        fd = os.open(args[0], os.O_RDONLY)
        try:
            return os.read(fd, 1 << 20)
        finally:
            os.close(fd)
    if name == "readlink":
        return os.readlink(args[0])
    raise AssertionError(op)


def _run_model(m: Mount, op: tuple) -> object:
    name, *args = op
    if name == "write":
        return m.write(*args)
    if name == "touch":
        return m.utime(args[0], now(), current=True)
    if name == "stat":
        n = m.stat(args[0], follow=args[1])
        return (n.kind, n.mode, n.uid, n.gid, n.size if n.kind == "file" else 0, n.mtime)
    fn = getattr(m, name)
    return fn(*args)


def _outcome(fn, op) -> tuple:
    try:
        return ("ok", fn(op))
    except OSError as exc:
        return ("err", errno.errorcode.get(exc.errno or 0, str(exc.errno)))


def run_kernel(mnt: Path, ops: Sequence[tuple], cred=None) -> list[tuple]:
    """Run ``ops`` chrooted into ``mnt`` in a forked child; one outcome per op. With a
    ``labkit.overlay.Cred`` the child drops to that user (and its groups) first."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 0
        try:
            os.close(rfd)
            os.chroot(mnt)
            os.chdir("/")
            os.umask(0)
            if cred is not None and cred.uid != 0:
                os.setgroups(list(cred.groups))
                os.setresgid(cred.gid, cred.gid, cred.gid)
                os.setresuid(cred.uid, cred.uid, cred.uid)
            payload = pickle.dumps([_outcome(_run_real, op) for op in ops])
        except BaseException as exc:  # report anything to the parent
            payload = pickle.dumps(("crash", repr(exc)))
            code = 1
        with os.fdopen(wfd, "wb") as f:
            f.write(payload)
        os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    result = pickle.loads(data)
    if isinstance(result, tuple) and result and result[0] == "crash":
        raise RuntimeError(f"kernel child failed: {result[1]}")
    return result


def run_model(m: Mount, ops: Sequence[tuple]) -> list[tuple]:
    return [_outcome(lambda op: _run_model(m, op), op) for op in ops]


# ---------------------------------------------------------------- comparison
def norm_time(t: int, start: int) -> object:
    return t if t < start else "now"


def norm_outcomes(outcomes: list[tuple], start: int) -> list[tuple]:
    out = []
    for kind, value in outcomes:
        if kind == "ok" and isinstance(value, tuple) and len(value) == 6:
            value = value[:5] + (norm_time(value[5], start),)
        out.append((kind, value))
    return out


def norm_node(node: Node, start: int, *, dir_times: bool = False) -> tuple:
    times = node.kind != "dir" or dir_times
    opaque = node.opaque
    return (node.kind, node.mode, node.uid, node.gid,
            node.data if node.kind == "file" else None,
            node.linkname, norm_time(node.mtime, start) if times else None,
            opaque if node.kind == "dir" else None,
            tuple(x for x in node.xattrs if x[0] != OPAQUE_XATTR))


def link_groups(layer: LayerDir) -> set[frozenset[str]]:
    groups: dict[int, set[str]] = {}
    for path, node in layer.items():
        if node.inode is not None and node.kind != "dir":
            groups.setdefault(node.inode, set()).add(path)
    return {frozenset(g) for g in groups.values() if len(g) > 1}


def norm_layer(layer: LayerDir, start: int, **kw: bool) -> dict[str, tuple]:
    return {p: norm_node(n, start, **kw) for p, n in sorted(layer.items())}


def now() -> int:
    return int(time.time())


@contextlib.contextmanager
def kernel_overlay_of(tmp: Path, lowers: list[LayerDir], upper: LayerDir | None):
    """The same layers on the kernel's overlayfs; yields (merged, upperdir or None)."""
    tmp.mkdir(parents=True, exist_ok=True)
    dirs = []
    for i, layer in enumerate(lowers):
        d = tmp / f"lower{i}"
        d.mkdir()
        write_dir(layer, d, trust=TRUSTED)
        dirs.append(d)
    if upper is None and len(dirs) < 2:       # the kernel wants two lowers when read-only
        (tmp / "lower-empty").mkdir()
        dirs.append(tmp / "lower-empty")
    opts = "lowerdir=" + ":".join(str(d) for d in dirs) + "," + MOUNT_OPTS
    up = None
    if upper is not None:
        up, work = tmp / "upper", tmp / "work"
        up.mkdir()
        work.mkdir()
        write_dir(upper, up, trust=TRUSTED)
        opts += f",upperdir={up},workdir={work}"
    merged = tmp / "merged"
    merged.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(merged)], check=True,
                   capture_output=True)
    try:
        yield merged, up
    finally:
        subprocess.run(["umount", str(merged)], check=True)


def kernel_walk(root: Path) -> dict[str, str]:
    """path -> kind of everything under a real directory (no symlinks followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            rel = str(full.relative_to(root))
            out[rel] = ("symlink" if full.is_symlink() else "dir" if full.is_dir() else "file")
    return out
