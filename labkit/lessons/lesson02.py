"""Lesson 02 helpers: the same overlay on the kernel and on the simulator, side by side.

``side_by_side(lowers, upper, ops)`` runs a few filesystem calls on ``overlay.Mount`` and,
when this machine can mount overlayfs (Linux, root), on the kernel's own overlay through
``kernelmount.KernelOverlay``; it compares the merged views and the upper directories the
two leave behind. Where the kernel cannot be used the result says why and shows the
simulator's answer alone.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
from dataclasses import dataclass, field
from typing import Sequence

from ..errors import KernelUnavailable, LabkitError
from ..fs.kernel import KernelOverlay, RawEntry
from ..fs.node import LayerDir, Node, Tree, norm_path
from ..fs.overlay import Mount
from ..ui.viz import entry_sources

Op = tuple  # ("append", path, data) | ("write", path, data) | ("unlink", path) | ("mkdir", path)
#             | ("rmdir", path) | ("rm_rf", path) | ("touch", path)
OPS = ("write", "append", "unlink", "mkdir", "rmdir", "rm_rf", "touch")


def _check_ops(ops: Sequence[Op]) -> None:
    for op in ops:
        if not op or op[0] not in OPS:
            raise LabkitError(f"unknown operation {op!r}",
                              fix=f"use one of {', '.join(OPS)}, e.g. ('append', 'etc/hosts', b'x')")


def _sim_rm_rf(mount, path: str) -> None:
    node = mount.stat(path, follow=False)
    if node.kind == "dir":
        for name in mount.listdir(path):
            _sim_rm_rf(mount, f"{path}/{name}")
        mount.rmdir(path)
    else:
        mount.unlink(path)


def _run_sim(mount, op: Op) -> None:
    name, path, *rest = op
    if name == "write":
        mount.write(path, rest[0])
    elif name == "append":
        mount.write(path, rest[0], append=True)
    elif name == "unlink":
        mount.unlink(path)
    elif name == "mkdir":
        mount.mkdir(path)
    elif name == "rmdir":
        mount.rmdir(path)
    elif name == "rm_rf":
        _sim_rm_rf(mount, path)
    elif name == "touch":
        mount.utime(path, rest[0] if rest else 1_700_000_000)


def _run_kernel(ovl, op: Op) -> None:
    name, path, *rest = op
    real = ovl.path(path)
    if name in ("write", "append"):
        with open(real, "ab" if name == "append" else "wb") as f:
            f.write(rest[0])
    elif name == "unlink":
        os.unlink(real)
    elif name == "mkdir":
        os.mkdir(real, 0o755)
    elif name == "rmdir":
        os.rmdir(real)
    elif name == "rm_rf":
        if os.path.isdir(real) and not os.path.islink(real):
            shutil.rmtree(real)
        else:
            os.unlink(real)
    elif name == "touch":
        t = rest[0] if rest else 1_700_000_000
        os.utime(real, (t, t), follow_symlinks=False)


def _outcome(fn, *args) -> str:
    try:
        fn(*args)
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc.errno))


def _sig(node: Node) -> tuple:
    """What must agree between the kernel and the model (not times, owners, inode numbers)."""
    if node.kind == "file":
        return ("file", node.size, node.sha256)
    if node.kind == "symlink":
        return ("symlink", node.linkname)
    if node.kind == "dir":
        return ("dir", node.opaque)
    return (node.kind,)


def model_entries(layer: LayerDir | Tree) -> list[RawEntry]:
    """A layer of the model as ``kernel.raw_entries`` lists a real directory: the same
    ``RawEntry`` values (a whiteout is ``char 0/0``), sorted the same way."""
    return [RawEntry(p, "char 0/0" if n.kind == "whiteout" else n.kind,
                     n.size if n.kind == "file" else 0, n.opaque)
            for p, n in sorted(layer.items(), key=lambda kv: tuple(kv[0].split("/")))]


def signature(layer: LayerDir | Tree) -> dict[str, tuple]:
    """A layer or a merged view reduced to what both sides must agree on."""
    return {p: _sig(n) for p, n in layer.items()}


@dataclass(frozen=True)
class SideBySide:
    """The simulator's and (when it could run) the kernel's answers to one sequence of calls."""
    ops: tuple[Op, ...]
    sim_outcomes: tuple[str, ...]
    sim_tree: Tree
    sim_upper: LayerDir
    kernel_outcomes: tuple[str, ...] | None = None
    kernel_tree: Tree | None = None
    kernel_upper: LayerDir | None = None
    why_no_kernel: str = ""
    kernel_upper_raw: tuple = ()                    # kernelmount.RawEntry values read from disk
    sources: dict = field(default_factory=dict)     # path -> layers it comes from (simulator)

    @property
    def agree(self) -> bool | None:
        """True/False when the kernel ran, None when it could not."""
        if self.kernel_tree is None:
            return None
        return (self.sim_outcomes == self.kernel_outcomes
                and signature(self.sim_tree) == signature(self.kernel_tree)
                and signature(self.sim_upper) == signature(self.kernel_upper or {}))

    def differences(self) -> list[str]:
        """Where the two disagree (empty when they agree or the kernel did not run)."""
        if self.kernel_tree is None:
            return []
        out = [f"op {op!r}: simulator {s}, kernel {k}"
               for op, s, k in zip(self.ops, self.sim_outcomes, self.kernel_outcomes or ())
               if s != k]
        for what, a, b in (("merged", self.sim_tree, self.kernel_tree),
                           ("upper", self.sim_upper, self.kernel_upper or {})):
            sa, sb = signature(a), signature(b)
            for p in sorted(set(sa) | set(sb)):
                if sa.get(p) != sb.get(p):
                    out.append(f"{what} /{p}: simulator {sa.get(p)}, kernel {sb.get(p)}")
        return out

    def verdict(self) -> str:
        """One line that says which side ran and, when both did, whether they agree:
        ``kernel and simulator agree: True``, ``... False (N differences: ...)``, or
        ``... not checked, the simulator ran alone (why the kernel could not)``."""
        if self.agree is None:
            return ("kernel and simulator agree: not checked, the simulator ran alone "
                    f"({self.why_no_kernel})")
        if self.agree:
            return "kernel and simulator agree: True"
        return (f"kernel and simulator agree: False ({len(self.differences())} differences: "
                "see .differences())")

    def upper_on_disk(self) -> str:
        """The upper directory as it is stored on disk, one entry a line (whiteouts as
        ``char 0/0``, the opaque xattr): read from the kernel's upper directory when the kernel
        ran, else the simulator's upper in the same words. The first line says which."""
        if self.kernel_tree is None:
            head = ("upper directory as the simulator holds it, in the disk's words "
                    f"(the kernel did not run: {self.why_no_kernel}):")
            entries = model_entries(self.sim_upper)
        else:
            head = "upper directory as the kernel left it on disk:"
            entries = list(self.kernel_upper_raw)
        return "\n".join([head] + ([str(e) for e in entries] or ["(empty)"]))

    def where_from(self) -> str:
        return format_sources(self.sources)

    def __str__(self) -> str:
        return self.verdict()


def side_by_side(lowers: Sequence[LayerDir], upper: LayerDir | None = None,
                 ops: Sequence[Op] = (), *, kernel: bool = True) -> SideBySide:
    """Run ``ops`` on a fresh ``overlay.Mount(lowers, upper)`` and, when possible, on the
    kernel's overlayfs mounted from the same layers; return both merged views and uppers.
    Calls that fail give the kernel's errno name ("ENOTEMPTY") instead of raising."""
    ops = tuple(ops)
    _check_ops(ops)
    start = None if upper is None else dict(upper)
    mount = Mount(list(lowers), None if start is None else dict(start))
    sim_out = tuple(_outcome(_run_sim, mount, op) for op in ops)
    result = dict(ops=ops, sim_outcomes=sim_out, sim_tree=mount.tree(),
                  sim_upper=dict(mount.upper) if start is not None else {},
                  sources=entry_sources(mount))
    if not kernel:
        return SideBySide(**result, why_no_kernel="not asked for")
    with contextlib.ExitStack() as stack:  # the mount is its own probe: one attempt, not two
        try:
            ovl = stack.enter_context(KernelOverlay(list(lowers), start))
        except KernelUnavailable as exc:
            return SideBySide(**result, why_no_kernel=exc.why)
        k_out = tuple(_outcome(_run_kernel, ovl, op) for op in ops)
        return SideBySide(**result, kernel_outcomes=k_out, kernel_tree=ovl.tree(),
                          kernel_upper=ovl.upper(), kernel_upper_raw=tuple(ovl.upper_entries()))


# -- text ---------------------------------------------------------------------------------

def describe(node: Node) -> str:
    """A short, engine-independent description of one entry."""
    if node.kind == "whiteout":
        return "whiteout (char 0/0)"
    if node.kind == "dir":
        return "dir, opaque (trusted.overlay.opaque=y)" if node.opaque else "dir"
    if node.kind == "symlink":
        return f"symlink -> {node.linkname}"
    if node.kind == "file":
        return f"file, {node.size} bytes"
    return node.kind


def format_layer(layer: LayerDir | Tree, *, title: str = "", under: str = "") -> str:
    """One line per entry, sorted: ``/path   what it is``. ``under`` limits to a subtree."""
    top = norm_path(under)
    rows = [(p, n) for p, n in sorted(layer.items(), key=lambda kv: tuple(kv[0].split("/")))
            if not top or p == top or p.startswith(top + "/")]
    lines = [title] if title else []
    lines += [f"  /{p:<22} {describe(n)}" for p, n in rows] or ["  (empty)"]
    return "\n".join(lines)


def format_sources(sources: dict) -> str:
    """``viz.entry_sources(mount)`` as text: each merged path and the layers it comes from."""
    return "\n".join(f"/{p:<22} <- {', '.join(s)}" for p, s in sorted(sources.items()))
