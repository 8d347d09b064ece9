"""side_by_side: the simulator's answers against the kernel's on the same layers."""
from __future__ import annotations

import pytest

from labkit.errors import LabkitError
from labkit.fs.node import Node
from labkit.lessons.lesson02 import format_layer, format_sources, side_by_side, signature
from labkit.ui.widgets import demo_mount


def test_demo_mount_merged_view_matches_the_kernel(kernel_overlay):
    m = demo_mount()
    r = side_by_side(m.lowers, m.upper)
    assert r.kernel_tree is not None and r.agree is True, r.differences()
    assert r.verdict() == "kernel and simulator agree: True"
    assert "tmp/cache" not in r.kernel_tree and "var/log/old.log" not in r.kernel_tree


def test_calls_leave_the_same_upper_on_both(kernel_overlay):
    m = demo_mount()
    ops = [("append", "etc/hosts", b"x\n"), ("unlink", "etc/passwd"), ("rmdir", "etc"),
           ("rm_rf", "var/log"), ("mkdir", "var/log"), ("touch", "etc/motd")]
    r = side_by_side(m.lowers, m.upper, ops)
    assert r.kernel_outcomes == ("ok", "ok", "ENOTEMPTY", "ok", "ok", "ok")
    assert r.agree, r.differences()
    assert r.kernel_upper["etc/passwd"].kind == "whiteout"
    assert r.kernel_upper["var/log"].opaque


def test_a_disagreement_is_reported(kernel_overlay):
    base = {"d": Node.dir(), "d/f": Node.file(b"1")}
    r = side_by_side([base], {}, [("append", "d/f", b"2")])
    assert r.agree
    # forge a different kernel answer: the comparison must notice it
    from dataclasses import replace
    bad = replace(r, kernel_tree={**r.kernel_tree, "d/f": Node.file(b"13")})
    assert bad.agree is False
    assert any("merged /d/f" in line for line in bad.differences())


def test_without_the_kernel_it_says_so():
    r = side_by_side([{"a": Node.file(b"x")}], {}, [("unlink", "a")], kernel=False)
    assert r.agree is None and "not checked" in r.verdict()
    assert r.sim_upper["a"].kind == "whiteout"


def test_unknown_operation_is_refused():
    with pytest.raises(LabkitError):
        side_by_side([{}], {}, [("chmod", "a", 0o600)], kernel=False)


def test_signature_ignores_times_but_not_content():
    a = {"f": Node.file(b"x", mtime=1)}
    assert signature(a) == signature({"f": Node.file(b"x", mtime=2)})
    assert signature(a) != signature({"f": Node.file(b"y", mtime=1)})


def test_text_helpers():
    text = format_layer({"a": Node.dir().with_opaque(), "a/.x": Node.whiteout(), "b": Node.file(b"12")},
                        title="t", under="a")
    assert text.splitlines() == ["t", "  /a                      dir, opaque (trusted.overlay.opaque=y)",
                                 "  /a/.x                   whiteout (char 0/0)"]
    assert format_layer({}) == "  (empty)"
    assert format_sources({"etc": ("upper", "lower 0")}).startswith("/etc")


def test_without_root_the_lesson_still_runs_on_the_simulator(monkeypatch):
    import os
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    m = demo_mount()
    r = side_by_side(m.lowers, m.upper, [("unlink", "etc/passwd")])
    assert r.verdict() == "kernel and simulator agree: not checked (mounting overlayfs needs root)"
    assert r.sim_upper["etc/passwd"].kind == "whiteout"
