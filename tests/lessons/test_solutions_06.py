"""Lesson 06's reference solutions pass their checks on BOTH engines; wrong attempts do not.

Whether a step really came from the cache is confirmed independently of labkit.exercises: a
cached step reuses the earlier image's layer, so the saved layer tars (read with tarfile +
hashlib) of the two builds are byte-identical up to the first rebuilt step.
"""
from __future__ import annotations

import hashlib
import json
import tarfile
import uuid
from pathlib import Path

from solutionkit import load_solutions

import labkit
import labkit.exercises as ex


def solutions():
    return load_solutions("06.py")


def layer_digests(engine, image, tmp_path: Path) -> list[str]:
    dest = tmp_path / f"saved-{uuid.uuid4().hex[:8]}.tar"
    engine.save(image, dest)
    with tarfile.open(dest) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        return [hashlib.sha256(tar.extractfile(n).read()).hexdigest() for n in manifest[0]["Layers"]]


def test_06a_solution_passes(engine, tmp_path):
    kw = solutions().solve_06a(engine, tmp_path, unique=uuid.uuid4().hex)
    result = ex.check("06-a", engine=engine, **kw)
    assert result.passed and result.points == result.max_points == 4, str(result)
    # what the engine reported: both RUN steps reused, the COPY of the edited file rebuilt
    steps = [s for s in kw["record"].steps if s.keyword not in ("FROM", "ENV")]
    assert [(s.keyword, s.cached) for s in steps[:3]] == [("RUN", True), ("RUN", True), ("COPY", False)]


def test_06b_solution_passes_with_hidden_checks(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_GRADE_LOG", str(tmp_path / "grade.jsonl"))   # grading: hidden checks run
    sol = solutions()
    first_dir = tmp_path / "first"
    kw = sol.solve_06b(engine, first_dir, unique=uuid.uuid4().hex)
    result = ex.check("06-b", engine=engine, **kw)
    assert result.passed and result.points == result.max_points == 5, str(result)
    # independent: build once more after another source edit; every layer below the source COPY
    # (base, the manifest COPY, the install RUN) is byte-identical, the source layer is not
    context = first_dir / "cache-app"
    before = layer_digests(engine, kw["record"].image, tmp_path)
    (context / "app" / "src" / "main.sh").write_text("#!/bin/sh\necho original again\n")
    again = engine.build(context, dockerfile="my.Dockerfile", tag="deps")
    after = layer_digests(engine, again.image, tmp_path)
    assert len(before) == len(after) >= 4
    assert before[:-1] == after[:-1] and before[-1] != after[-1]


def test_06b_bad_order_rebuilds_the_install_and_fails(engine, tmp_path):
    context = labkit.example("cache-app", tmp_path / "cache-app")
    # a unique first step keeps this chain apart from every other build on a shared daemon
    bad = (context / "Dockerfile.bad").read_text().replace(
        "WORKDIR /app", f"WORKDIR /app\nENV RUN_ID={uuid.uuid4().hex}")
    (context / "my.Dockerfile").write_text(bad)
    first = engine.build(context, dockerfile="my.Dockerfile", tag="deps-bad")
    (context / "app" / "src" / "main.sh").write_text('#!/bin/sh\necho "edited"\n')
    rebuilt = engine.build(context, dockerfile="my.Dockerfile", tag="deps-bad")
    assert first.ok and rebuilt.ok
    # what the engine reported: WORKDIR and ENV reused, the COPY of app/ and the install re-ran
    assert [s.cached for s in rebuilt.steps if s.keyword != "FROM"][:4] == [True, True, False, False]
    result = ex.check("06-b", record=rebuilt, engine=engine)
    assert not result.passed and result.points == 1, str(result)
    assert any("was rebuilt" in m for m in result.messages)
    assert result.hint and result.hint_level == 1


def test_06a_touch_only_is_not_an_edit(engine, tmp_path):
    from labkit.lessons.lesson06 import touch
    folder = tmp_path / "touched"
    folder.mkdir()
    (folder / "Dockerfile").write_text(f"FROM labkit/base\nRUN echo {uuid.uuid4().hex} > /id\n"
                                       "RUN mkdir -p /app\nCOPY app.txt /app/app.txt\n")
    (folder / "app.txt").write_text("same\n")
    engine.build(folder, tag="touched")
    old, new = touch(folder / "app.txt")
    assert new > old and (folder / "app.txt").read_text() == "same\n"
    result = ex.check("06-a", record=engine.build(folder, tag="touched"), engine=engine)
    assert not result.passed
    assert any("every step came from the cache" in m for m in result.messages)
