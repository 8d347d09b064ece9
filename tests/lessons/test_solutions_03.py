"""Lesson 03's reference solutions pass their checks on BOTH engines; wrong attempts do not."""
from __future__ import annotations


import pytest
from solutionkit import load_solutions

import labkit


def _solutions():
    return load_solutions("03.py").SOLUTIONS


@pytest.mark.parametrize("exercise", ["03-a", "03-b"])
def test_reference_solution_passes(engine, exercise, tmp_path):
    kwargs = _solutions()[exercise](engine, tmp_path)
    try:
        result = labkit.check(exercise, engine=engine, **kwargs)
        assert result.passed, str(result)
        assert result.points == result.max_points
    finally:
        engine.remove(kwargs["container"])


def test_03b_writing_through_b_or_both_fails(engine, tmp_path):
    record = engine.build(labkit.example("hardlinks03", tmp_path / "ctx"), tag="links03w")
    c = engine.start(record.image)
    try:
        untouched = labkit.check("03-b", container=c, engine=engine)
        assert not untouched.passed and untouched.hint
        assert any("still holds only 'v1'" in m for m in untouched.messages)
        # rewriting /data/b too: the names now differ, but b lost the image's content
        assert engine.exec(c, "echo v2 >> /data/a && echo other > /data/b").exit_code == 0
        both = labkit.check("03-b", container=c, engine=engine)
        assert not both.passed
        assert any("/data/b holds 'other" in m for m in both.messages)
    finally:
        engine.remove(c)


def test_03b_a_container_of_another_image_fails(sim_engine):
    c = sim_engine.start(sim_engine.base_image())
    r = labkit.check("03-b", container=c, engine=sim_engine)
    assert not r.passed and r.points == 0
    assert any("has no /data/b" in m for m in r.messages)
