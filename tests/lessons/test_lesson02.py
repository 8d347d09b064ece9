"""side_by_side: the simulator's answers against the kernel's on the same layers."""
from __future__ import annotations

import os

import pytest

from labkit.errors import LabkitError
from labkit.fs.kernel import kernel_unavailable, raw_entries
from labkit.fs.node import Node
from labkit.fs.realfs import write_dir
from labkit.lessons.lesson02 import format_layer, format_sources, model_entries, side_by_side, signature
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
    # the upper as stored on disk: the kernel's own entries, in the words the model uses too
    disk = r.upper_on_disk().splitlines()
    assert disk[0] == "upper directory as the kernel left it on disk:"
    assert disk[1:] == [str(e) for e in r.kernel_upper_raw]
    assert disk[1:] == [str(e) for e in model_entries(r.sim_upper)]


def test_a_disagreement_is_reported(kernel_overlay):
    base = {"d": Node.dir(), "d/f": Node.file(b"1")}
    r = side_by_side([base], {}, [("append", "d/f", b"2")])
    assert r.agree
    # forge a different kernel answer: the comparison must notice it
    from dataclasses import replace
    bad = replace(r, kernel_tree={**r.kernel_tree, "d/f": Node.file(b"13")})
    assert bad.agree is False
    assert any("merged /d/f" in line for line in bad.differences())
    assert bad.verdict() == "kernel and simulator agree: False (1 differences: see .differences())"


def test_without_the_kernel_it_says_so():
    r = side_by_side([{"a": Node.file(b"x")}], {}, [("unlink", "a")], kernel=False)
    assert r.agree is None
    assert r.verdict() == "kernel and simulator agree: not checked, the simulator ran alone (not asked for)"
    assert r.sim_upper["a"].kind == "whiteout"
    assert r.upper_on_disk().splitlines() == [
        ("upper directory as the simulator holds it, in the disk's words (the kernel did not run: "
         "not asked for):"),
        "a                        char 0/0"]


def test_an_empty_upper_says_so():
    r = side_by_side([{"a": Node.file(b"x")}], {}, kernel=False)
    assert r.upper_on_disk().splitlines()[1:] == ["(empty)"]


def test_model_entries_read_like_a_real_directory(tmp_path):
    """The model's words for a layer equal raw_entries of the same layer written to disk
    (owners, device nodes and trusted xattrs need root: without it, only what a user can make)."""
    me = {"uid": os.getuid(), "gid": os.getgid()}
    layer = {"d": Node.dir(**me), "d/f": Node.file(b"12", **me), "d/l": Node.symlink("f", **me),
             "e": Node.dir(**me)}
    if os.geteuid() == 0:
        layer.update({"d/gone": Node.whiteout(), "e": Node.dir().with_opaque()})
    write_dir(layer, tmp_path / "layer")
    assert model_entries(layer) == raw_entries(tmp_path / "layer")


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


def test_the_verdict_says_which_side_ran_on_this_machine():
    """Whoever runs it: the kernel's answer when this machine can mount overlayfs, else the
    simulator's alone with the reason; the simulator's upper is the same either way."""
    m = demo_mount()
    why = kernel_unavailable()
    r = side_by_side(m.lowers, m.upper, [("unlink", "etc/passwd")])
    if why is None:
        assert r.verdict() == "kernel and simulator agree: True", r.differences()
        assert r.upper_on_disk().splitlines()[0] == "upper directory as the kernel left it on disk:"
    else:
        assert r.verdict() == f"kernel and simulator agree: not checked, the simulator ran alone ({why})"
        assert r.upper_on_disk().splitlines()[0].startswith("upper directory as the simulator holds it")
    assert r.sim_upper["etc/passwd"].kind == "whiteout"
    assert r.upper_on_disk().splitlines()[1:] == ["etc                      dir",
                                                  "etc/passwd               char 0/0"]
