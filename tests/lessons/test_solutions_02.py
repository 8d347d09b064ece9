"""Lesson 02's reference solution passes its checks on BOTH engines; wrong attempts do not."""
from __future__ import annotations


from solutionkit import load_solutions

import labkit
from labkit.fs.node import Node
from labkit.fs.overlay import Mount


def _solutions():
    return load_solutions("02.py").SOLUTIONS


def test_reference_solution_passes(engine, tmp_path):
    kwargs = _solutions()["02-a"](engine, tmp_path)
    result = labkit.check("02-a", engine=engine, **kwargs)
    assert result.passed, str(result)
    assert result.points == result.max_points


def test_reference_mount_agrees_with_the_kernel(kernel_overlay, tmp_path):
    from labkit.fs.kernel import KernelOverlay
    m = _solutions()["02-a"](None, tmp_path)["mount"]
    with KernelOverlay(list(m.lowers), dict(m.upper)) as ovl:
        assert ovl.listdir("/conf") == ["a.conf", "b.conf", "c.conf"]
        assert not (ovl.merged / "conf" / "old.conf").exists()


def test_the_notebook_placeholder_fails_with_a_hint(sim_engine):
    r = labkit.check("02-a", mount=Mount([{}]), engine=sim_engine)
    assert not r.passed and r.points == 0 and r.hint


def test_old_conf_deleted_instead_of_hidden_fails(sim_engine):
    bottom = {"conf": Node.dir(), "conf/c.conf": Node.file(b"c\n")}
    top = {"conf": Node.dir(), "conf/b.conf": Node.file(b"b\n")}
    upper = {"conf": Node.dir(), "conf/a.conf": Node.file(b"a\n")}
    r = labkit.check("02-a", mount=Mount([top, bottom], upper), engine=sim_engine)
    assert not r.passed
    assert 0 < r.points < r.max_points
    assert any("holds no file /conf/old.conf" in m for m in r.messages)


def test_files_in_the_wrong_layers_fail(sim_engine):
    # everything in the bottom layer: the listing is right, the origins are not
    bottom = {"conf": Node.dir(), **{f"conf/{n}": Node.file(b"x") for n in ("a.conf", "b.conf", "c.conf")}}
    r = labkit.check("02-a", mount=Mount([{}, bottom], {}), engine=sim_engine)
    assert not r.passed
    assert any("a.conf comes from 1" in m for m in r.messages)


def test_not_a_mount_is_reported(sim_engine):
    r = labkit.check("02-a", mount={"conf": Node.dir()}, engine=sim_engine)
    assert not r.passed and any("labkit.Mount" in m for m in r.messages)
