"""measure_copy_up: the cost of a first write grows with the file's size, on the kernel."""
from __future__ import annotations

import pytest

from labkit.errors import LabkitError
from labkit.lessons.lesson03 import (CopyUpMeasurement, CopyUpPoint, copy_up_chart, hardlink_layer,
                                     measure_copy_up)

MIB = 1 << 20


def test_kernel_copy_up_cost_grows_with_file_size(kernel_overlay):
    m = measure_copy_up([4096, 16 * MIB], repeats=3)
    assert m.unit == "seconds" and m.source == "kernel overlayfs"
    small, big = m.points
    assert big.first > small.first
    assert m.grows and m.second_is_cheap, m.table()
    assert m.conclusions().splitlines()[0] == "copy-up cost grows with file size: True"


def test_simulator_counts_the_whole_file_copied_once():
    m = measure_copy_up([10, 1000, 100_000], kernel=False)
    assert m.unit == "bytes copied" and m.source.startswith("simulator")
    assert [(p.size, p.first, p.second) for p in m.points] == [(10, 10, 0), (1000, 1000, 0),
                                                                (100_000, 100_000, 0)]
    assert m.grows and m.second_is_cheap


def test_conclusions_are_computed_not_fixed():
    flat = CopyUpMeasurement((CopyUpPoint(10, 1.0, 1.0), CopyUpPoint(1000, 1.1, 1.0)), "seconds", "x")
    assert not flat.grows and not flat.second_is_cheap
    assert "grows with file size: False" in flat.conclusions()


def test_needs_two_sizes():
    with pytest.raises(LabkitError):
        measure_copy_up([4096], kernel=False)


def test_chart_has_one_bar_per_size():
    m = measure_copy_up([10, 1000], kernel=False)
    svg = copy_up_chart(m).svg
    assert svg.startswith("<svg") and svg.count("<rect") == 2 and "1,000 B" in svg


def test_hardlink_layer_breaks_on_the_kernel(kernel_overlay):
    from labkit.fs.kernel import KernelOverlay
    with KernelOverlay([hardlink_layer()], {}) as ovl:
        assert ovl.path("data/a").stat().st_ino == ovl.path("data/b").stat().st_ino
        with open(ovl.path("data/a"), "ab") as f:
            f.write(b"v2\n")
        assert ovl.path("data/b").read_bytes() == b"v1\n"
        assert ovl.path("data/a").read_bytes() == b"v1\nv2\n"
