"""The kernel's own overlayfs, mounted from layer directories, for lessons and tests.

``KernelOverlay(lowers, upper)`` writes each ``LayerDir`` to a temporary directory with
``realfs.write_dir`` and mounts them the way Docker's overlay2 driver does
(``lowerdir=`` top first, ``index=off,redirect_dir=off,metacopy=off``)::

    with KernelOverlay([app_layer, base_layer], {}) as ovl:
        (ovl.merged / "etc" / "motd").read_text()   # real files, real kernel
        ovl.tree()                                  # the merged view as a Tree
        ovl.upper()                                 # the upper dir: whiteouts, opaque dirs

Leaving the ``with`` block always unmounts and removes the directories, even after an
error. It needs Linux and root; ``kernel_unavailable()`` says why it cannot work here
(``None`` when it can), so a lesson can fall back to the simulator.
"""
from __future__ import annotations

import os
import shutil
import stat as st
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import EngineUnavailable, LabkitError
from .node import OPAQUE_XATTR, LayerDir, Tree, norm_path
from .realfs import read_dir, write_dir

MOUNT_OPTIONS = "index=off,redirect_dir=off,metacopy=off"
"""What Docker's overlay2 driver leaves off: hard links break on copy-up, no renamed dirs."""


def _mount(opts: str, target: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(target)],
                          capture_output=True, text=True)


def kernel_unavailable() -> str | None:
    """Why the kernel's overlayfs cannot be mounted here, or ``None`` when it can
    (tries one empty mount in a temporary directory)."""
    if not hasattr(os, "geteuid") or os.uname().sysname != "Linux":
        return "overlayfs is a Linux filesystem"
    if os.geteuid() != 0:
        return "mounting overlayfs needs root"
    base = Path(tempfile.mkdtemp(prefix="labkit-kprobe-"))
    try:
        for d in ("l", "u", "w", "m"):
            (base / d).mkdir()
        r = _mount(f"lowerdir={base / 'l'},upperdir={base / 'u'},workdir={base / 'w'}", base / "m")
        if r.returncode != 0:
            return r.stderr.strip() or "mount -t overlay failed"
        subprocess.run(["umount", str(base / "m")], capture_output=True)
        return None
    except OSError as exc:
        return f"cannot run mount: {exc}"
    finally:
        shutil.rmtree(base, ignore_errors=True)


@dataclass(frozen=True)
class RawEntry:
    """One entry of a real directory as ``ls -l`` would show its type: ``kind`` is "file",
    "dir", "symlink", "char 0/0" (a whiteout) ...; ``opaque`` when the directory carries
    ``trusted.overlay.opaque=y``."""
    path: str
    kind: str
    size: int = 0
    opaque: bool = False

    def __str__(self) -> str:
        what = self.kind + (", xattr trusted.overlay.opaque=y" if self.opaque else "")
        if self.kind == "file":
            what += f", {self.size} bytes"
        return f"{self.path:<24} {what}"


def raw_entries(root: Path) -> list[RawEntry]:
    """The entries under a real directory (e.g. an overlay upper dir), sorted by path, with
    device numbers and the opaque xattr read from the disk itself (``os.lstat``,
    ``os.getxattr``)."""
    root = Path(root)
    out: list[RawEntry] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            s = os.lstat(full)
            opaque = False
            if st.S_ISDIR(s.st_mode):
                kind = "dir"
                try:
                    opaque = os.getxattr(full, OPAQUE_XATTR, follow_symlinks=False) == b"y"
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
            out.append(RawEntry(rel, kind, s.st_size if kind == "file" else 0, opaque))
    return sorted(out, key=lambda e: tuple(e.path.split("/")))


class KernelOverlay:
    """A real overlay mount of ``lowers`` (TOP first, like ``lowerdir=``) under ``upper``
    (``None``: read-only, no upper). Use it as a context manager; ``merged`` is the mount
    point, ``upper_dir`` the upper directory (``None`` when read-only)."""

    def __init__(self, lowers: Sequence[LayerDir], upper: LayerDir | None = None) -> None:
        if not lowers:
            raise LabkitError("an overlay mount needs at least one lower layer",
                              fix="pass lowers=[layer_dir, ...] (top first)")
        self.lowers = list(lowers)
        self.initial_upper = upper
        self.base: Path | None = None
        self.merged: Path | None = None
        self.upper_dir: Path | None = None
        self.options = ""
        self._mounted = False

    def __enter__(self) -> "KernelOverlay":
        why = kernel_unavailable()
        if why:
            raise EngineUnavailable(f"cannot mount the kernel's overlayfs: {why}",
                                    fix="run as root on Linux, or use labkit.Mount "
                                        "(the simulator)")
        self.base = Path(tempfile.mkdtemp(prefix="labkit-kovl-"))
        try:
            dirs = []
            for i, layer in enumerate(self.lowers):
                d = self.base / f"lower{i}"
                write_dir(layer, d)
                os.chmod(d, 0o755)
                dirs.append(str(d))
            if self.initial_upper is None and len(dirs) == 1:   # the kernel wants 2 lowers then
                (self.base / "empty").mkdir()
                dirs.append(str(self.base / "empty"))
            opts = "lowerdir=" + ":".join(dirs)
            if self.initial_upper is not None:
                self.upper_dir = self.base / "upper"
                write_dir(self.initial_upper, self.upper_dir)
                os.chmod(self.upper_dir, 0o755)
                (self.base / "work").mkdir()
                opts += f",upperdir={self.upper_dir},workdir={self.base / 'work'}"
            self.options = opts + "," + MOUNT_OPTIONS
            self.merged = self.base / "merged"
            self.merged.mkdir()
            r = _mount(self.options, self.merged)
            if r.returncode != 0:
                raise EngineUnavailable(f"mount -t overlay failed: {r.stderr.strip()}",
                                        fix="check `dmesg | tail` for the kernel's reason")
            self._mounted = True
            return self
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Unmount (lazily if busy) and remove the temporary directories."""
        if self._mounted and self.merged is not None:
            r = subprocess.run(["umount", str(self.merged)], capture_output=True)
            if r.returncode != 0:
                subprocess.run(["umount", "-l", str(self.merged)], capture_output=True)
            self._mounted = False
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
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
        return read_dir(self._need(), with_data=with_data)

    def upper(self, *, with_data: bool = True) -> LayerDir:
        """The upper directory as the kernel left it (whiteouts, opaque dirs) as a ``LayerDir``."""
        self._need()
        if self.upper_dir is None:
            return {}
        return read_dir(self.upper_dir, with_data=with_data)

    def upper_entries(self) -> list[RawEntry]:
        """The upper directory's entries as they are on the disk (``char 0/0``, opaque xattr)."""
        self._need()
        return [] if self.upper_dir is None else raw_entries(self.upper_dir)
