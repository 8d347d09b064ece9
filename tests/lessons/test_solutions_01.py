"""Lesson 01's reference solutions pass their checks on BOTH engines; wrong attempts do not."""
from __future__ import annotations


import pytest
from solutionkit import load_solutions

import labkit


def _solutions():
    return load_solutions("01.py").SOLUTIONS


@pytest.mark.parametrize("exercise", ["01-a", "01-b"])
def test_reference_solution_passes(engine, exercise, tmp_path):
    kwargs = _solutions()[exercise](engine, tmp_path)
    result = labkit.check(exercise, engine=engine, **kwargs)
    assert result.passed, str(result)
    assert result.points == result.max_points


def test_the_starting_example_does_not_pass_01a(engine):
    # the example as shipped: 3 layers, /srv/config.txt in layer 1, no ENV
    record = engine.build(labkit.example("layers01-exercise"), tag="start01")
    result = labkit.check("01-a", image=record.image, engine=engine)
    assert not result.passed
    assert 0 < result.points < result.max_points          # it exists, nothing else is right
    assert any("3 layer" in m for m in result.messages)
    assert result.hint                                    # a failing check gives a hint


def test_config_in_the_wrong_layer_fails_01a(engine, tmp_path):
    context = labkit.example("layers01-exercise", tmp_path / "ctx")
    (context / "Dockerfile").write_text(
        "FROM labkit/base\nENV STAGE=lesson01\nCOPY config.txt /srv/config.txt\n"
        "RUN echo one > /srv/one\nRUN echo two > /srv/two\n")
    record = engine.build(context, tag="wrong01")
    result = labkit.check("01-a", image=record.image, engine=engine)
    assert not result.passed
    assert any("first appears in layer 1" in m for m in result.messages)


def test_hints_get_more_specific_and_wrong_hunt_answers_fail(sim_engine):
    first = labkit.check("01-b", layer=1, empty_steps=5, engine=sim_engine)
    second = labkit.check("01-b", layer=2, empty_steps=3, engine=sim_engine)
    assert not first.passed and not second.passed
    assert first.points == 0 and second.points == 0
    assert (first.hint_level, second.hint_level) == (1, 2) and first.hint != second.hint
    not_a_number = labkit.check("01-b", layer="the top one", empty_steps=4, engine=sim_engine)
    assert any("not a layer number" in m for m in not_a_number.messages)
