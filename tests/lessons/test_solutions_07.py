"""Lesson 07's reference solutions pass their checks on BOTH engines; wrong attempts do not.

Expected facts are read from the saved image with tarfile only (which paths each layer holds).
"""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from solutionkit import load_solutions

import labkit
import labkit.exercises as ex


def solutions():
    return load_solutions("07.py")


@pytest.fixture(autouse=True)
def _grading(monkeypatch, tmp_path):
    monkeypatch.setenv("LABKIT_GRADE_LOG", str(tmp_path / "grade.jsonl"))   # hidden checks run
    ex.reset_attempts()
    yield
    ex.reset_attempts()


def layer_members(engine, image, tmp_path: Path) -> list[dict[str, int]]:
    """Each layer's regular files (path -> size), bottom first."""
    dest = tmp_path / "saved.tar"
    engine.save(image, dest)
    out = []
    with tarfile.open(dest) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        for name in manifest[0]["Layers"]:
            with tarfile.open(fileobj=tar.extractfile(name)) as layer:
                out.append({m.name.lstrip("./"): m.size for m in layer.getmembers()})
    return out


def test_07a_solution_passes(engine, tmp_path):
    kw = solutions().solve_07a(engine, tmp_path)
    layers = layer_members(engine, kw["image"].image, tmp_path)
    assert len(layers) >= 3 and layers[-1]["app/data"] >= 100_000
    result = ex.check("07-a", engine=engine, **kw)
    assert result.passed and result.points == result.max_points == 5, str(result)


def test_07b_solution_passes(engine, tmp_path):
    kw = solutions().solve_07b(engine, tmp_path)
    layers = layer_members(engine, kw["image"].image, tmp_path)
    assert len(layers) == 2 and not any(p.startswith(("toolchain", "src")) for p in layers[1])
    result = ex.check("07-b", engine=engine, **kw)
    assert result.passed and result.points == result.max_points == 5, str(result)


def test_07b_clean_up_step_is_not_enough(engine, tmp_path):
    context = labkit.example("slim-app", tmp_path / "slim-app")
    record = engine.build(context, dockerfile="cleanup.Dockerfile", tag="only-app-rm")
    layers = layer_members(engine, record.image, tmp_path)
    assert layers[1]["toolchain/cc"] == 400 * 1024            # still shipped in layer 1
    # the program is at /out/app, not on the PATH as 'app'; the toolchain is deleted at the top
    result = ex.check("07-b", image=record, engine=engine)
    names = {o.name: o.passed for o in result.outcomes}
    assert names == {"app-runs": False, "no-build-files": True, "added-bytes": False,
                     "no-build-layers": False}, str(result)
    assert result.points == 1


def test_07b_squash_removes_the_dead_weight(engine, tmp_path):
    """squash=True on both engines: the toolchain's bytes leave the image, not just the view."""
    context = labkit.example("slim-app", tmp_path / "slim-app")
    (context / "squash.Dockerfile").write_text(
        (context / "cleanup.Dockerfile").read_text().replace("RUN rm ", "RUN cp /out/app /bin/app && rm "))
    record = engine.build(context, dockerfile="squash.Dockerfile", tag="only-app-squash", squash=True)
    layers = layer_members(engine, record.image, tmp_path)
    assert len(layers) == 2 and "toolchain/cc" not in layers[1] and layers[1]["bin/app"] > 0
    result = ex.check("07-b", image=record, engine=engine)
    assert result.passed, str(result)
