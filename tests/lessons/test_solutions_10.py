"""Lesson 10's reference solution passes on BOTH engines; the lesson's own order does not."""
from __future__ import annotations


from solutionkit import load_solutions

import labkit


def _solutions():
    return load_solutions("10.py").SOLUTIONS


def test_reference_solution_passes(engine, tmp_path):
    kwargs = _solutions()["10-a"](engine, tmp_path)
    result = labkit.check("10-a", engine=engine, **kwargs)
    assert result.passed, str(result)
    assert result.points == result.max_points


def test_big_file_first_fails(engine, tmp_path):
    record = engine.build(labkit.example("disk10", tmp_path / "ctx"), tag="disk-first")
    result = labkit.check("10-a", image=record.image, engine=engine)
    assert not result.passed
    assert result.points == 2                     # same files, three layers: only the order is wrong
    assert any("every vfs layer above it copies it" in m for m in result.messages), str(result)


def test_one_layer_fails(engine, tmp_path):
    context = labkit.example("disk10", tmp_path / "ctx1")
    (context / "Dockerfile.one").write_text(
        "FROM labkit/base\nRUN mkdir -p /data && echo x > /data/small.txt\n")
    record = engine.build(context, dockerfile="Dockerfile.one", tag="disk-one")
    result = labkit.check("10-a", image=record.image, engine=engine)
    assert not result.passed and result.points < result.max_points - 1
