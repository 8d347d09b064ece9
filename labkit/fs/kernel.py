"""The kernel's own overlayfs, mounted from layer directories, for lessons and tests.

``KernelOverlay(lowers, upper)`` writes each ``LayerDir`` to a temporary directory with
``realfs.write_dir`` and mounts them the way Docker's overlay2 driver does
(``lowerdir=`` top first, ``index=off,redirect_dir=off,metacopy=off``), plus ``nodev,nosuid``
(``MOUNT_FLAGS``)::

    with KernelOverlay([app_layer, base_layer], {}) as ovl:
        (ovl.merged / "etc" / "motd").read_text()   # real files, real kernel
        ovl.tree()                                  # the merged view as a Tree
        ovl.upper()                                 # the upper dir: whiteouts, opaque dirs
        ovl.route                                   # "root" or "user namespace"

It takes one of two routes (``ovl.route``):

``"root"``
    As root: ``mount -t overlay`` in this process's own mount namespace; opaque directories
    carry ``trusted.overlay.opaque=y``, as under Docker's overlay2.
``"user namespace"``
    Anyone, where the kernel lets an unprivileged user mount overlayfs inside a user
    namespace (Linux 5.11+, the ``userxattr`` option; how rootless Docker and Podman do it).
    A helper process (this module, run by ``sys.executable``) enters a new user + mount
    namespace in which it is root (mapped to you outside), writes the layers, mounts them
    with ``userxattr`` and stays alive while the ``with`` block runs. The mount exists only
    in its namespace: ``merged`` is therefore reached through ``/proc/<helper>/root``, and
    ``tree()``, ``upper()``, ``upper_entries()`` are read by the helper. On disk an opaque
    directory carries ``user.overlay.opaque=y`` (translated to and from labkit's
    ``trusted.overlay.opaque``); whiteouts are char devices 0/0 as under root. The namespace
    maps one id, yours, as 0 (all an unprivileged user may map; the same when root forces
    this route): entries owned by anyone else are written owned by root, and
    ``ovl.lost_owners`` lists their paths.

By default root takes the root route (the user-namespace one when root cannot mount) and
anyone else the user-namespace route; ``KernelOverlay(..., route=...)`` or the environment
variable ``LABKIT_KERNEL_ROUTE`` (``root``, ``userns``) chooses one. ``kernel_unavailable()``
says why no route can work here (``None`` when one can), so a lesson can fall back to the
simulator; ``kernel_route()`` names the route that would run.

The layers may come from an untrusted tar, so nothing privileged reaches the host:
``realfs.write_dir`` makes no device node but whiteouts, no set-user-ID or set-group-ID bit and
no xattr but the opaque mark (``ovl.dropped`` lists what it left out), and the mount takes
``nodev,nosuid`` on both routes. A layer holding a device node cannot be shown by the kernel
without one, so ``with`` raises ``KernelUnavailable`` naming it (a lesson then uses the
simulator); other hostile values (a NUL in a name, a uid out of range ...) raise
``UnsafeEntry`` before anything is written, whichever the route.

Leaving the ``with`` block always unmounts and removes the temporary directories, on every
path out (errors included, and at interpreter exit for an overlay never closed). A
user-namespace mount cannot outlive its helper: the namespace dies with it, and the helper
cleans up and exits as soon as this process closes the pipe to it (or dies).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import stat as st
import struct
import subprocess
import sys
import tempfile
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Sequence

from .. import errors as lk_errors
from ..errors import EngineUnavailable, KernelUnavailable, LabkitError, LayerError, UnsafeEntry
from .node import OPAQUE_XATTR, LayerDir, Node, Tree, norm_path
from .realfs import Dropped, check_layer, read_dir, remove_tree, walk, write_dir

MOUNT_OPTIONS = "index=off,redirect_dir=off,metacopy=off"
"""What Docker's overlay2 driver leaves off: hard links break on copy-up, no renamed dirs."""

USERNS_MOUNT_OPTIONS = "index=off,redirect_dir=nofollow,metacopy=off,userxattr"
"""The same in a user namespace: ``userxattr`` keeps overlay's marks in ``user.overlay.*``.
It refuses ``redirect_dir=off`` where the kernel turns "off" into "follow"
(CONFIG_OVERLAY_FS_REDIRECT_ALWAYS_FOLLOW); ``nofollow`` neither makes nor follows
redirects, which is the same as "off" for layers that carry none."""

MOUNT_FLAGS = "nodev,nosuid"
"""Added to every mount, by both routes: a layer from an untrusted tar can make no device
usable and no set-id program run through the mount (``realfs`` writes neither anyway)."""

USER_OPAQUE_XATTR = "user.overlay.opaque"
"""Where overlayfs mounted with ``userxattr`` reads and writes the opaque mark."""

ROUTE_ROOT = "root"
ROUTE_USERNS = "user namespace"
ROUTES = (ROUTE_ROOT, ROUTE_USERNS)
ROUTE_ENV = "LABKIT_KERNEL_ROUTE"
_ROUTE_NAMES = {"root": ROUTE_ROOT, "user namespace": ROUTE_USERNS, "userns": ROUTE_USERNS,
                "user-namespace": ROUTE_USERNS, "user_namespace": ROUTE_USERNS}

_FIX = ("run as root on Linux, or where the kernel lets users mount overlayfs in a user "
        "namespace (Linux 5.11+); else use labkit.Mount (the simulator)")


def _mount(opts: str, target: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(target)],
                          capture_output=True, text=True)


def _unmount(target: Path) -> bool:
    """Unmount ``target`` (lazily when busy); True when nothing is mounted there any more."""
    if not os.path.ismount(target):
        return True
    try:
        if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(target)], capture_output=True)
    except OSError:
        pass
    return not os.path.ismount(target)


def _remove_tree(base: Path, merged: Path | None) -> None:
    """Remove ``base``, never through a mount that could not be taken down (that would
    delete the lower layers' files through the overlay)."""
    if merged is not None and not _unmount(merged):
        return
    remove_tree(base)


def _remove_own_tree(base: Path) -> None:
    """Remove a tree whose entries are all ours but may be unreadable to us outside the
    namespace that made them (overlay's ``work/work`` is mode 000): open up each directory
    as it goes."""
    if not base.is_dir() or base.is_symlink():
        return
    remove_tree(base, open_up=True)


# -- which route can run --------------------------------------------------------------------

def _candidates(route: str | None) -> tuple[str, ...]:
    want = route if route is not None else os.environ.get(ROUTE_ENV, "")
    want = want.strip().lower()
    if want in ("", "auto"):
        return ROUTES
    if want not in _ROUTE_NAMES:
        raise LabkitError(f"unknown kernel overlay route {want!r}",
                          fix=f"use route='root' or route='user namespace' (or set {ROUTE_ENV} "
                              "to root, userns or auto)")
    return (_ROUTE_NAMES[want],)


def _why_not_root() -> str | None:
    if os.geteuid() != 0:
        return "mounting overlayfs needs root"
    base = Path(tempfile.mkdtemp(prefix="labkit-kprobe-"))
    try:
        for d in ("l", "u", "w", "m"):
            (base / d).mkdir()
        r = _mount(f"lowerdir={base / 'l'},upperdir={base / 'u'},workdir={base / 'w'},"
                   + MOUNT_FLAGS, base / "m")
        if r.returncode != 0:
            return r.stderr.strip() or "mount -t overlay failed"
        return None
    except OSError as exc:
        return f"cannot run mount: {exc}"
    finally:
        _remove_tree(base, base / "m")


def _why_not_userns() -> str | None:
    try:
        helper = _Helper.start()
    except EngineUnavailable as exc:
        return exc.message
    try:
        return helper.call("probe")
    except LabkitError as exc:
        return exc.message
    finally:
        helper.stop()


def _pick(route: str | None) -> tuple[str | None, str]:
    """The first route that works here, or ``None`` and why none does."""
    if not hasattr(os, "geteuid") or os.uname().sysname != "Linux":
        return None, "overlayfs is a Linux filesystem"
    reasons = []
    for r in _candidates(route):
        why = _why_not_root() if r == ROUTE_ROOT else _why_not_userns()
        if why is None:
            return r, ""
        reasons.append(why if r == ROUTE_ROOT else f"the user-namespace route failed: {why}")
    return None, ", and ".join(reasons)


def kernel_unavailable(route: str | None = None) -> str | None:
    """Why the kernel's overlayfs cannot be mounted here by any route (or by ``route``), or
    ``None`` when it can. Tries one empty mount per route, root first."""
    chosen, why = _pick(route)
    return None if chosen else why


def kernel_route(route: str | None = None) -> str | None:
    """The route ``KernelOverlay`` would take here ("root" or "user namespace"), or ``None``
    when none works (``kernel_unavailable()`` says why)."""
    return _pick(route)[0]


# -- the upper directory as it is on disk ---------------------------------------------------

@dataclass(frozen=True)
class RawEntry:
    """One entry of a real directory as ``ls -l`` would show its type: ``kind`` is "file",
    "dir", "symlink", "char 0/0" (a whiteout) ...; ``opaque`` when the directory carries the
    opaque mark, whose xattr name (``trusted.overlay.opaque``, or ``user.overlay.opaque`` on a
    user-namespace mount) is ``xattr``."""
    path: str
    kind: str
    size: int = 0
    opaque: bool = False
    xattr: str = field(default=OPAQUE_XATTR, compare=False)

    def __str__(self) -> str:
        what = self.kind + (f", xattr {self.xattr}=y" if self.opaque else "")
        if self.kind == "file":
            what += f", {self.size} bytes"
        return f"{self.path:<24} {what}"


def raw_entries(root: Path, *, opaque_xattr: str = OPAQUE_XATTR) -> list[RawEntry]:
    """The entries under a real directory (e.g. an overlay upper dir), sorted by path, with
    device numbers and the opaque xattr (``opaque_xattr``) read from the disk itself
    (``os.lstat``, ``os.getxattr``)."""
    out: list[RawEntry] = []
    with contextlib.closing(walk(Path(root))) as entries:     # iterative, bounded fds
        for rel, s, dfd, name in entries:
            opaque = False
            if st.S_ISDIR(s.st_mode):
                kind = "dir"
                try:
                    opaque = os.getxattr(f"/proc/self/fd/{dfd}/{name}", opaque_xattr,
                                         follow_symlinks=False) == b"y"
                except OSError:
                    opaque = False
            elif st.S_ISREG(s.st_mode):
                kind = "file"
            elif st.S_ISLNK(s.st_mode):
                kind = "symlink"
            elif st.S_ISCHR(s.st_mode):
                kind = f"char {os.major(s.st_rdev)}/{os.minor(s.st_rdev)}"
            else:
                kind = "other"
            out.append(RawEntry(rel, kind, s.st_size if kind == "file" else 0, opaque, opaque_xattr))
    return sorted(out, key=lambda e: e.path.replace("/", "\0"))


# -- the layout both routes mount -----------------------------------------------------------

@dataclass(frozen=True)
class _Layout:
    """What ``_lay_out`` made: the mount options, the upper directory (``None`` for a
    read-only mount) and what ``write_dir`` left out of the layers."""
    options: str
    upper: Path | None
    dropped: tuple[Dropped, ...]


def _lay_out(base: Path, lowers: Sequence[LayerDir], upper: LayerDir | None,
             extra: str, opaque_xattr: str = OPAQUE_XATTR) -> _Layout:
    """Write the layers under ``base`` (the opaque mark as ``opaque_xattr``) and make
    ``base/merged``."""
    dirs = []
    dropped: list[Dropped] = []
    for i, layer in enumerate(lowers):
        d = base / f"lower{i}"
        dropped += write_dir(layer, d, opaque_xattr=opaque_xattr)
        os.chmod(d, 0o755)
        dirs.append(str(d))
    if upper is None and len(dirs) == 1:   # the kernel wants 2 lowers then
        (base / "empty").mkdir()
        dirs.append(str(base / "empty"))
    opts = "lowerdir=" + ":".join(dirs)
    upper_dir = None
    if upper is not None:
        upper_dir = base / "upper"
        dropped += write_dir(upper, upper_dir, opaque_xattr=opaque_xattr)
        os.chmod(upper_dir, 0o755)
        (base / "work").mkdir()
        opts += f",upperdir={upper_dir},workdir={base / 'work'}"
    (base / "merged").mkdir()
    return _Layout(f"{opts},{extra},{MOUNT_FLAGS}", upper_dir, tuple(dropped))


def _device_in(layers: Sequence[LayerDir | None]) -> str | None:
    """Why the kernel cannot show these layers as they are: the first device node, or None."""
    for layer in layers:
        for path, node in (layer or {}).items():
            if isinstance(node, Node) and node.kind in ("char", "block"):
                return (f"/{path} is a {node.kind} device node, and labkit never creates one on "
                        "the host (only whiteouts, char 0/0)")
    return None


class KernelOverlay:
    """A real overlay mount of ``lowers`` (TOP first, like ``lowerdir=``) under ``upper``
    (``None``: read-only, no upper). Use it as a context manager; ``merged`` is the mount
    point, ``upper_dir`` the upper directory (``None`` when read-only), ``route`` how it was
    mounted ("root" or "user namespace"; ``route=`` or ``LABKIT_KERNEL_ROUTE`` chooses),
    ``lost_owners`` the paths whose owner the user namespace could not hold (written as root),
    ``dropped`` what ``realfs.write_dir`` left out (set-id bits, xattrs other than the opaque
    mark), ``helper_pid`` the process holding a user-namespace mount (``None`` for root)."""

    def __init__(self, lowers: Sequence[LayerDir], upper: LayerDir | None = None, *,
                 route: str | None = None) -> None:
        if not lowers:
            raise LabkitError("an overlay mount needs at least one lower layer",
                              fix="pass lowers=[layer_dir, ...] (top first)")
        _candidates(route)    # an unknown route name fails here, not at `with`
        self.lowers = list(lowers)
        self.initial_upper = upper
        self.wanted_route = route
        self.route: str | None = None
        self.base: Path | None = None
        self.merged: Path | None = None
        self.upper_dir: Path | None = None
        self.options = ""
        self.opaque_xattr = OPAQUE_XATTR
        self.lost_owners: tuple[str, ...] = ()
        self.dropped: tuple[Dropped, ...] = ()
        self.helper_pid: int | None = None
        self._mounted = False
        self._helper: _Helper | None = None
        self._cleanup: weakref.finalize | None = None

    @property
    def route_line(self) -> str:
        """One line naming how the kernel's overlay was mounted, for a lesson to print."""
        if self.route == ROUTE_USERNS:
            return ("kernel overlayfs, mounted in a user namespace (userxattr: opaque dirs carry "
                    f"{USER_OPAQUE_XATTR})")
        if self.route == ROUTE_ROOT:
            return "kernel overlayfs, mounted as root"
        return "kernel overlayfs, not mounted"

    def __enter__(self) -> "KernelOverlay":
        if not hasattr(os, "geteuid") or os.uname().sysname != "Linux":
            raise KernelUnavailable("overlayfs is a Linux filesystem", fix=_FIX)
        layers = [*self.lowers, self.initial_upper]
        device = _device_in(layers)
        if device:
            raise KernelUnavailable(device, fix="leave device nodes out of the layers, or use "
                                    "labkit.Mount (the simulator), which models them")
        for layer in layers:          # before any route: the same refusal from both
            check_layer(layer or {})
        reasons = []
        try:
            for r in _candidates(self.wanted_route):
                why = self._enter_root() if r == ROUTE_ROOT else self._enter_userns()
                if why is None:
                    self.route = r
                    return self
                reasons.append(why if r == ROUTE_ROOT else f"the user-namespace route failed: {why}")
        except BaseException:
            self.close()
            raise
        raise KernelUnavailable(", and ".join(reasons), fix=_FIX)

    def _enter_root(self) -> str | None:
        """Mount as root; the mount itself is the probe (its failure is the reason)."""
        if os.geteuid() != 0:
            return "mounting overlayfs needs root"
        self.base = Path(tempfile.mkdtemp(prefix="labkit-kovl-"))
        self.merged = self.base / "merged"
        self._cleanup = weakref.finalize(self, _remove_tree, self.base, self.merged)
        try:
            layout = _lay_out(self.base, self.lowers, self.initial_upper, MOUNT_OPTIONS)
        except UnsafeEntry:
            raise                   # the layer's fault: the other route would refuse it too
        except (OSError, LayerError) as exc:     # this machine's: try the other route
            self.close()
            return f"cannot write the layers: {getattr(exc, 'message', exc)}"
        self.options, self.upper_dir, self.dropped = layout.options, layout.upper, layout.dropped
        r = _mount(self.options, self.merged)
        if r.returncode != 0:
            self.close()
            return f"mount -t overlay failed: {r.stderr.strip() or 'see dmesg'}"
        self._mounted = True
        return None

    def _enter_userns(self) -> str | None:
        try:
            helper = _Helper.start()
        except EngineUnavailable as exc:
            return exc.message
        self._helper = helper
        self._cleanup = weakref.finalize(self, helper.stop)
        try:
            info = helper.call("mount", self.lowers, self.initial_upper)
        except EngineUnavailable as exc:      # this route cannot: stop it, say why
            self.close()
            return exc.message
        self.base = Path(info["base"])
        self.helper_pid = helper.pid
        self.merged = Path(f"/proc/{helper.pid}/root") / self.base.relative_to("/") / "merged"
        self.upper_dir = None if info["upper"] is None else Path(info["upper"])
        self.options = info["options"]
        self.lost_owners = tuple(info["lost_owners"])
        self.dropped = tuple(info["dropped"])
        self.opaque_xattr = USER_OPAQUE_XATTR
        self._mounted = True
        return None

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Unmount (lazily if busy) and remove the temporary directories."""
        self._mounted = False
        if self._cleanup is not None:
            self._cleanup()          # runs once: umount + rmtree, or stop the helper
        self._helper = None
        self.base = None

    # -- reading back ------------------------------------------------------------------
    def _need(self) -> Path:
        if not self._mounted or self.merged is None:
            raise LabkitError("the kernel overlay is not mounted",
                              fix="use it inside `with KernelOverlay(...) as ovl:`")
        return self.merged

    def path(self, path: str) -> Path:
        """The real path of ``path`` (absolute or relative) inside the mount."""
        return self._need() / norm_path(path)

    def listdir(self, path: str = "/") -> list[str]:
        """``readdir`` of a merged directory, by the kernel (sorted)."""
        return sorted(os.listdir(self.path(path)))

    def tree(self, *, with_data: bool = True) -> Tree:
        """The merged view the kernel shows, as a ``Tree``."""
        merged = self._need()
        if self._helper is not None:
            return self._helper.call("tree", with_data)
        return read_dir(merged, with_data=with_data)

    def upper(self, *, with_data: bool = True) -> LayerDir:
        """The upper directory as the kernel left it (whiteouts, opaque dirs) as a ``LayerDir``."""
        self._need()
        if self.upper_dir is None:
            return {}
        if self._helper is not None:
            return self._helper.call("upper", with_data)
        return read_dir(self.upper_dir, with_data=with_data)

    def upper_entries(self) -> list[RawEntry]:
        """The upper directory's entries as they are on the disk (``char 0/0``, opaque xattr)."""
        self._need()
        if self.upper_dir is None:
            return []
        if self._helper is not None:
            return self._helper.call("upper_entries")
        return raw_entries(self.upper_dir)


# -- the user-namespace helper: this process's side -----------------------------------------

_HELPER_CODE = ("import sys; sys.path.insert(0, sys.argv[1]); "
                "from labkit.fs.kernel import _helper_main; _helper_main()")
_HEAD = struct.Struct("!Q")


def _send(out: BinaryIO, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_HEAD.pack(len(data)))
    out.write(data)
    out.flush()


def _recv(inp: BinaryIO) -> Any:
    """The next message, or ``EOFError`` when the other side is gone."""
    head = inp.read(_HEAD.size)
    if len(head) < _HEAD.size:
        raise EOFError
    n = _HEAD.unpack(head)[0]
    data = inp.read(n)
    if len(data) < n:
        raise EOFError
    return pickle.loads(data)


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])


class _Helper:
    """A child process in its own user + mount namespace that does what needs them."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.base: str | None = None

    @classmethod
    def start(cls) -> "_Helper":
        if not sys.executable:
            raise EngineUnavailable("no Python interpreter to run the helper (sys.executable "
                                    "is empty)", fix=_FIX)
        try:
            proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _HELPER_CODE,
                                     _package_root()], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/")
        except OSError as exc:
            raise EngineUnavailable(f"cannot start the helper: {exc}", fix=_FIX) from None
        helper = cls(proc)
        try:
            why = helper._reply()
        except BaseException:
            helper.stop()
            raise
        if why:
            helper.stop()
            raise EngineUnavailable(why, fix=_FIX)
        return helper

    def _reply(self) -> Any:
        try:
            if self.proc.stdout is None or self.proc.stdout.closed:
                raise EOFError
            status, value = _recv(self.proc.stdout)
        except (EOFError, pickle.UnpicklingError, ValueError):
            self.proc.kill()
            self.proc.wait()
            err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
            raise EngineUnavailable("the user-namespace helper stopped: "
                                    + (err.splitlines()[-1] if err else f"exit {self.proc.returncode}"),
                                    fix=_FIX) from None
        if status == "ok":
            return value
        raise _rebuild(value)

    def call(self, op: str, *args: object) -> Any:
        if self.proc.poll() is not None or self.proc.stdin is None:
            raise EngineUnavailable("the user-namespace helper is gone", fix=_FIX)
        try:
            _send(self.proc.stdin, (op, *args))
        except (BrokenPipeError, OSError):
            pass     # its reply (none) says what happened
        value = self._reply()
        if op == "mount":
            self.base = value["base"]
        return value

    def stop(self) -> None:
        """Ask the helper to unmount and clean up, wait for it, and remove what is left."""
        proc = self.proc
        try:
            if proc.poll() is None and proc.stdin is not None:
                if proc.stdout is not None:
                    proc.stdout.close()   # a reply nobody waits for (an interrupted call) fails fast
                try:
                    _send(proc.stdin, ("close",))
                    proc.stdin.close()
                except OSError:
                    pass
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            for f in (proc.stdin, proc.stdout, proc.stderr):
                try:
                    if f is not None:
                        f.close()
                except OSError:
                    pass
            if self.base is not None:     # the helper is gone, so is its mount namespace
                _remove_own_tree(Path(self.base))


def _describe(exc: BaseException) -> dict:
    """An exception as plain values the other process can rebuild."""
    attrs = {}
    for k, v in vars(exc).items():
        try:
            pickle.dumps(v)
            attrs[k] = v
        except Exception:
            continue
    return {"module": type(exc).__module__, "name": type(exc).__name__, "text": str(exc),
            "errno": getattr(exc, "errno", None), "strerror": getattr(exc, "strerror", None),
            "filename": getattr(exc, "filename", None), "attrs": attrs}


def _rebuild(d: dict) -> BaseException:
    cls = getattr(lk_errors, d["name"], None) if d["module"] == lk_errors.__name__ else None
    if isinstance(cls, type) and issubclass(cls, LabkitError):
        exc = cls.__new__(cls)
        Exception.__init__(exc, d["text"])
        exc.__dict__.update(d["attrs"])
        return exc
    if d["errno"] is not None:
        args = (d["errno"], d["strerror"]) + ((d["filename"],) if d["filename"] else ())
        return OSError(*args)     # the subclass for the errno (FileNotFoundError ...)
    return EngineUnavailable(f"the user-namespace helper failed: {d['name']}: {d['text']}", fix=_FIX)


# -- the user-namespace helper: the child's side --------------------------------------------

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18


def _enter_namespace() -> str | None:
    """Make this process root of a new user + mount namespace, mapped to its own uid and gid
    outside (only those: what an unprivileged user can map); why not, or ``None``."""
    uid, gid = os.geteuid(), os.getegid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        why = f"unshare(CLONE_NEWUSER|CLONE_NEWNS): {os.strerror(err)}"
        for knob, bad in (("/proc/sys/kernel/unprivileged_userns_clone", "0"),
                          ("/proc/sys/user/max_user_namespaces", "0"),
                          ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1")):
            try:
                if Path(knob).read_text().strip() == bad:
                    why += f" ({knob[10:].replace('/', '.')} is {bad})"
            except OSError:
                pass
        return why
    try:       # one id each, as any user may map itself (root outside too: same result)
        Path("/proc/self/setgroups").write_text("deny\n")
        Path("/proc/self/uid_map").write_text(f"0 {uid} 1\n")
        Path("/proc/self/gid_map").write_text(f"0 {gid} 1\n")
    except OSError as exc:
        return f"cannot map ids in the user namespace: {exc.strerror} ({exc.filename})"
    if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        return f"cannot make the new mount namespace private: {os.strerror(ctypes.get_errno())}"
    return None


def _mapped(path: str) -> list[tuple[int, int]]:
    """The id ranges (first, count) mapped inside this namespace."""
    out = []
    for line in Path(path).read_text().splitlines():
        inside, _outside, count = (int(x) for x in line.split())
        out.append((inside, count))
    return out


def _is_mapped(i: int, ranges: list[tuple[int, int]]) -> bool:
    return any(first <= i < first + count for first, count in ranges)


def _owned_here(layer: LayerDir, uids: list, gids: list, lost: set[str]) -> LayerDir:
    """A layer with owners the namespace can hold (unmapped ones become root; their paths go
    to ``lost``). ``write_dir(..., opaque_xattr=USER_OPAQUE_XATTR)`` writes the opaque mark
    the way overlayfs reads it under ``userxattr`` (and refuses device nodes)."""
    out: LayerDir = {}
    for path, node in layer.items():
        if node.kind != "whiteout" and not (_is_mapped(node.uid, uids) and _is_mapped(node.gid, gids)):
            lost.add(path)
            node = replace(node, uid=0, gid=0)
        out[path] = node
    return out


def _from_userxattr(layer: LayerDir) -> LayerDir:
    """``user.overlay.opaque`` back to labkit's mark; other overlay bookkeeping dropped."""
    out: LayerDir = {}
    for path, node in layer.items():
        if any(k.startswith("user.overlay.") for k, _ in node.xattrs):
            xattrs = tuple(sorted((OPAQUE_XATTR if k == USER_OPAQUE_XATTR else k, v)
                                  for k, v in node.xattrs
                                  if k == USER_OPAQUE_XATTR or not k.startswith("user.overlay.")))
            node = replace(node, xattrs=xattrs)
        out[path] = node
    return out


class _Served:
    """What the helper holds: at most one mount, its directories."""

    def __init__(self) -> None:
        self.base: Path | None = None
        self.merged: Path | None = None
        self.upper: Path | None = None

    def probe(self) -> str | None:
        """Why overlayfs cannot be mounted in this namespace (one tiny mount), or ``None``."""
        base = self.base = Path(os.path.realpath(tempfile.mkdtemp(prefix="labkit-kprobe-")))
        self.merged = base / "m"
        for d in ("l", "u", "w", "m", "u/d"):
            (base / d).mkdir()
        try:
            os.mknod(base / "u" / "gone", st.S_IFCHR, os.makedev(0, 0))
        except OSError as exc:
            return f"mknod of a whiteout (char 0/0) in the user namespace: {exc.strerror}"
        try:
            os.setxattr(base / "u" / "d", USER_OPAQUE_XATTR, b"y")
        except OSError as exc:
            return (f"the temporary directory {base.parent} does not take user.* xattrs: "
                    f"{exc.strerror}")
        r = _mount(f"lowerdir={base / 'l'},upperdir={base / 'u'},workdir={base / 'w'},"
                   f"{USERNS_MOUNT_OPTIONS},{MOUNT_FLAGS}", self.merged)
        if r.returncode != 0:
            return (r.stderr.strip() or "mount -t overlay failed") + " (with userxattr)"
        return None

    def mount(self, lowers: Sequence[LayerDir], upper: LayerDir | None) -> dict:
        uids, gids = _mapped("/proc/self/uid_map"), _mapped("/proc/self/gid_map")
        lost: set[str] = set()
        lowers = [_owned_here(layer, uids, gids, lost) for layer in lowers]
        upper = None if upper is None else _owned_here(upper, uids, gids, lost)
        self.base = Path(os.path.realpath(tempfile.mkdtemp(prefix="labkit-kovl-")))
        self.merged = self.base / "merged"
        try:
            layout = _lay_out(self.base, lowers, upper, USERNS_MOUNT_OPTIONS, USER_OPAQUE_XATTR)
        except UnsafeEntry:
            raise
        except (OSError, LayerError) as exc:     # e.g. no whiteouts (mknod) in a user namespace
            raise EngineUnavailable("cannot write the layers in the user namespace: "
                                    f"{getattr(exc, 'message', exc)}", fix=_FIX) from None
        self.upper = layout.upper
        r = _mount(layout.options, self.merged)
        if r.returncode != 0:
            raise EngineUnavailable(f"mount -t overlay (in a user namespace) failed: "
                                    f"{r.stderr.strip()}", fix=_FIX)
        return {"base": str(self.base), "upper": None if self.upper is None else str(self.upper),
                "options": layout.options, "lost_owners": sorted(lost),
                "dropped": list(layout.dropped)}

    def tree(self, with_data: bool) -> Tree:
        if self.merged is None:
            raise LabkitError("the helper holds no mount", fix="send 'mount' first")
        return _from_userxattr(read_dir(self.merged, with_data=with_data))

    def upper_layer(self, with_data: bool) -> LayerDir:
        return {} if self.upper is None else _from_userxattr(read_dir(self.upper, with_data=with_data))

    def upper_entries(self) -> list[RawEntry]:
        return [] if self.upper is None else raw_entries(self.upper, opaque_xattr=USER_OPAQUE_XATTR)

    def cleanup(self) -> None:
        if self.base is not None:
            _remove_tree(self.base, self.merged)
            self.base = self.merged = self.upper = None


def _helper_main() -> None:
    """The helper's loop: enter the namespace, say whether that worked, then serve requests
    until "close" or end of input; always unmount and remove its directories on the way out."""
    out, inp = sys.stdout.buffer, sys.stdin.buffer
    sys.stdout = sys.stderr                          # nothing else may write to the pipe
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(1))
    served = _Served()
    try:
        why = _enter_namespace()
        _send(out, ("ok", why))
        if why:
            return
        ops = {"probe": served.probe, "mount": served.mount, "tree": served.tree,
               "upper": served.upper_layer, "upper_entries": served.upper_entries}
        while True:
            try:
                op, *args = _recv(inp)
            except EOFError:
                return
            if op == "close":
                served.cleanup()
                return
            try:
                reply = ("ok", ops[op](*args))
            except Exception as exc:
                reply = ("err", _describe(exc))
            _send(out, reply)
    except BrokenPipeError:
        return
    finally:
        served.cleanup()
