"""Lesson 04's reference solutions pass their checks on BOTH engines; wrong attempts do not."""
from __future__ import annotations


import pytest
from solutionkit import load_solutions

import labkit


def _solutions():
    return load_solutions("04.py").SOLUTIONS


@pytest.mark.parametrize("exercise", ["04-a", "04-b", "04-c"])
def test_reference_solution_passes(engine, exercise, tmp_path):
    kwargs = _solutions()[exercise](engine, tmp_path)
    result = labkit.check(exercise, engine=engine, **kwargs)
    assert result.passed, str(result)
    assert result.points == result.max_points


def test_04c_deleting_without_recreating_fails(engine, tmp_path):
    record = engine.build(labkit.example("whiteouts04", tmp_path / "ctx"), tag="whiteouts04w")
    c = engine.start(record.image)
    engine.exec(c, "rm -rf /srv/data")
    img = engine.commit(c, tag="deleted04c")
    r = labkit.check("04-c", image=img, engine=engine)
    assert not r.passed and r.hint
    assert any("the top layer holds a whiteout for /srv/data" in m for m in r.messages)


def test_04c_emptying_the_dir_file_by_file_is_not_opaque(sim_engine, tmp_path):
    # deleting the contents keeps the merged directory: whiteouts per name, no opaque marker
    record = sim_engine.build(labkit.example("whiteouts04", tmp_path / "ctx"), tag="whiteouts04e")
    c = sim_engine.start(record.image)
    sim_engine.exec(c, "rm /srv/data/b.txt && echo fresh > /srv/data/fresh.txt")
    r = labkit.check("04-c", image=sim_engine.commit(c), engine=sim_engine)
    assert not r.passed
    assert any("holds a plain directory for /srv/data" in m for m in r.messages)


def test_04c_from_the_base_image_fails_old_below(sim_engine):
    c = sim_engine.start(sim_engine.base_image())
    sim_engine.exec(c, "mkdir -p /srv/data && echo fresh > /srv/data/fresh.txt")
    r = labkit.check("04-c", image=sim_engine.commit(c), engine=sim_engine)
    assert not r.passed
    assert any("no lower layer stores /srv/data/b.txt" in m for m in r.messages)
