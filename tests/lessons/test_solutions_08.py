"""Lesson 08's reference solutions pass their checks on BOTH engines; wrong attempts do not."""
from __future__ import annotations


import pytest
from solutionkit import load_solutions

import labkit
from labkit.lessons.lesson08 import write_fake_key


def _solutions():
    return load_solutions("08.py").SOLUTIONS


@pytest.mark.parametrize("exercise", ["08-a", "08-b"])
def test_reference_solution_passes(engine, exercise, tmp_path):
    kwargs = _solutions()[exercise](engine, tmp_path)
    result = labkit.check(exercise, engine=engine, **kwargs)
    assert result.passed, str(result)
    assert result.points == result.max_points


def test_leaky_example_fails_08b_with_escalating_hints(engine, tmp_path):
    context = labkit.example("secret-key", tmp_path / "ctx")
    write_fake_key(context)
    leaky = engine.build(context, tag="leaky08")
    first = labkit.check("08-b", image=leaky.image, engine=engine)
    assert not first.passed
    # the app still works (the deps file is there), but the key's layer is found
    assert first.points == 1
    assert any("layer 2 holds /root/.ssh/id_rsa" in m for m in first.messages), first.messages
    second = labkit.check("08-b", image=leaky.image, engine=engine)
    assert (first.hint_level, second.hint_level) == (1, 2) and first.hint != second.hint


def test_dropping_the_fetch_step_fails_08b(engine, tmp_path):
    # no key in any layer, but the dependencies were never fetched: not a fix
    context = labkit.example("secret-key", tmp_path / "ctx")
    (context / "lazy.Dockerfile").write_text("FROM labkit/base\nCOPY app.sh /app/app.sh\n")
    lazy = engine.build(context, dockerfile="lazy.Dockerfile", tag="lazy08")
    result = labkit.check("08-b", image=lazy.image, engine=engine)
    assert not result.passed and (result.points, result.max_points) == (3, 4)   # hidden not run
    assert any("/app/deps.txt" in m for m in result.messages)
