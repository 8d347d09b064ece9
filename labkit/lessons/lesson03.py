"""Lesson 03 helpers: what copy-up costs, measured.

``measure_copy_up(sizes)`` puts one file of each size in a lower layer and appends ONE byte
to each through the overlay, twice. The first append copies the whole file up to the upper
directory; the second finds it there already. On the kernel's overlayfs (Linux, root) the
cost is wall-clock time; elsewhere the simulator reports the bytes it copied up (its model
of the same work). The measurement's ``conclusions()`` are computed from the numbers, so
they read the same on every machine where the rule holds, while the numbers do not.
"""
from __future__ import annotations

import html
import statistics
import time
from dataclasses import dataclass
from typing import Sequence

from ..errors import KernelUnavailable, LabkitError
from ..fs.kernel import KernelOverlay
from ..fs.node import LayerDir, Node
from ..fs.overlay import Mount
from ..ui.viz import SvgChart

KIB = 1 << 10
MIB = 1 << 20
DEFAULT_SIZES = (4 * KIB, 256 * KIB, 4 * MIB, 32 * MIB)


@dataclass(frozen=True)
class CopyUpPoint:
    """One file size: the cost of the first append (copy-up) and of the second (none)."""
    size: int
    first: float
    second: float


@dataclass(frozen=True)
class CopyUpMeasurement:
    points: tuple[CopyUpPoint, ...]     # smallest file first
    unit: str                           # "seconds" (kernel) or "bytes copied" (simulator)
    source: str                         # "kernel overlayfs" or "simulator (why)"

    @property
    def grows(self) -> bool:
        """The biggest file's copy-up costs several times the smallest's."""
        small, big = self.points[0], self.points[-1]
        return big.first > 4 * max(small.first, 1e-9 if self.unit == "seconds" else 1)

    @property
    def second_is_cheap(self) -> bool:
        """Once the biggest file is in the upper, appending to it costs far less."""
        big = self.points[-1]
        return big.second * 4 < big.first

    def conclusions(self) -> str:
        """Machine-independent lines computed from the numbers."""
        return "\n".join([
            f"copy-up cost grows with file size: {self.grows}",
            f"the second append (file already in the upper layer) is much cheaper: {self.second_is_cheap}",
        ])

    def table(self) -> str:
        """The numbers themselves (they vary from run to run and machine to machine)."""
        fmt = _fmt_time if self.unit == "seconds" else (lambda v: f"{int(v):,} B copied")
        lines = [f"measured on: {self.source}",
                 f"{'file size':>10}  {'first append':>20}  {'second append':>20}"]
        lines += [f"{_fmt_size(p.size):>10}  {fmt(p.first):>20}  {fmt(p.second):>20}" for p in self.points]
        return "\n".join(lines)


def _fmt_size(n: int) -> str:
    return f"{n // MIB} MiB" if n >= MIB else f"{n // KIB} KiB"


def _fmt_time(s: float) -> str:
    return f"{s * 1000:.3f} ms"


def _layer(sizes: Sequence[int]) -> LayerDir:
    layer: LayerDir = {"data": Node.dir()}
    for n in sizes:
        layer[f"data/f{n}"] = Node.file(b"x" * n)
    return layer


def _append_kernel(path) -> float:
    t0 = time.perf_counter()
    with open(path, "ab") as f:
        f.write(b"!")
    return time.perf_counter() - t0


def measure_copy_up(sizes: Sequence[int] = DEFAULT_SIZES, *, repeats: int = 3,
                    kernel: bool = True) -> CopyUpMeasurement:
    """Append one byte to files of ``sizes`` bytes in a lower layer, twice each; the median
    cost over ``repeats`` fresh mounts. Uses the kernel when it can (``kernel=True`` and
    the kernel's overlayfs mounts here), else the simulator's bytes copied."""
    sizes = sorted(set(int(s) for s in sizes))
    if len(sizes) < 2 or sizes[0] <= 0:
        raise LabkitError("measure at least two positive file sizes",
                          fix="e.g. measure_copy_up([4096, 32 * 1024 * 1024])")
    layer = _layer(sizes)
    why = None if kernel else "kernel not asked for"
    firsts: dict[int, list[float]] = {n: [] for n in sizes}
    seconds: dict[int, list[float]] = {n: [] for n in sizes}
    try:                                  # each mount is its own probe: no separate check
        for _ in range(max(1, repeats) if why is None else 0):
            with KernelOverlay([layer], {}) as ovl:
                for n in sizes:
                    p = ovl.path(f"data/f{n}")
                    firsts[n].append(_append_kernel(p))
                    seconds[n].append(_append_kernel(p))
    except KernelUnavailable as exc:
        why = exc.why
    if why is None:
        unit, source = "seconds", "kernel overlayfs"
    else:
        for n in sizes:
            firsts[n], seconds[n] = [], []
            m = Mount([layer], {})
            for bucket in (firsts, seconds):
                m.take_events()
                m.write(f"data/f{n}", b"!", append=True)
                bucket[n].append(float(sum(e.size for e in m.take_events() if e.kind == "copy_up")))
        unit, source = "bytes copied", f"simulator ({why})"
    points = tuple(CopyUpPoint(n, statistics.median(firsts[n]), statistics.median(seconds[n]))
                   for n in sizes)
    return CopyUpMeasurement(points, unit, source)


def copy_up_chart(m: CopyUpMeasurement, *, width: int = 520, bar_height: int = 18):
    """The first-append cost per file size as a bar chart (``viz.SvgChart``)."""
    label_w, top = 90, 24
    height = top + len(m.points) * (bar_height + 6) + 6
    biggest = max((p.first for p in m.points), default=0) or 1
    room = width - label_w - 110
    fmt = _fmt_time if m.unit == "seconds" else (lambda v: f"{int(v):,} B")
    title = f"cost of the first 1-byte append ({m.source})"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="Helvetica, sans-serif" font-size="12">',
           f'<text x="4" y="16" font-weight="bold">{html.escape(title)}</text>']
    for i, p in enumerate(m.points):
        y = top + i * (bar_height + 6)
        w = max(1, round(room * p.first / biggest))
        ty = y + bar_height - 5
        out.append(f'<text x="{label_w - 6}" y="{ty}" text-anchor="end">{_fmt_size(p.size)}</text>'
                   f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_height}" fill="#e69138"/>'
                   f'<text x="{label_w + w + 4}" y="{ty}">{html.escape(fmt(p.first))}</text>')
    out.append("</svg>")
    return SvgChart("\n".join(out), title)


def hardlink_layer() -> LayerDir:
    """A layer in which /data/a and /data/b are one file (a hard link), holding "v1"."""
    return {"data": Node.dir(), "data/a": Node.file(b"v1\n", inode=1),
            "data/b": Node.file(b"v1\n", inode=1)}
