"""Lesson 05's reference solutions pass their checks on BOTH engines; wrong attempts do not."""
from __future__ import annotations


import pytest
from solutionkit import load_solutions

import labkit


def _solutions():
    return load_solutions("05.py").SOLUTIONS


@pytest.mark.parametrize("exercise", ["05-a", "05-b", "05-c"])
def test_reference_solution_passes(engine, exercise, tmp_path):
    kwargs = _solutions()[exercise](engine, tmp_path)
    result = labkit.check(exercise, engine=engine, **kwargs)
    assert result.passed, str(result)
    assert result.points == result.max_points


def test_images_sharing_only_the_base_fail_05c(engine, tmp_path):
    context = labkit.example("share05", tmp_path / "ctx")
    (context / "Dockerfile.c").write_text("FROM labkit/base\nRUN mkdir -p /srv/c && echo c > /srv/c/own\n")
    a = engine.build(context, dockerfile="Dockerfile.a", tag="share-a")
    c = engine.build(context, dockerfile="Dockerfile.c", tag="share-c")
    result = labkit.check("05-c", image=a.image, other=c.image, engine=engine)
    assert not result.passed
    assert any("bottom 1 layer" in m for m in result.messages)


def test_one_image_twice_fails_05c(engine, tmp_path):
    a = engine.build(labkit.example("share05", tmp_path / "ctx"), dockerfile="Dockerfile.a", tag="share-a")
    result = labkit.check("05-c", image=a.image, other=a.image, engine=engine)
    assert not result.passed
    assert any("a top layer of its own" in m for m in result.messages)
