"""labkit.lessons.lesson06 on BOTH engines: CacheLab's prediction beside the real build.

The expected hit/miss lists are written by hand from the classic builder's rules (a step is
reused when its parent and key match; the first miss rebuilds the rest of the stage), and
checked against what the engine itself reports (``BuildRecord.steps[i].cached``).
"""
from __future__ import annotations

import uuid

import pytest

import labkit
from labkit.errors import BuildError
from labkit.lessons.lesson06 import CacheLab, touch


def unique_context(tmp_path):
    """The cache-app example, its Dockerfile made unique to this test (an ENV after WORKDIR),
    so no other build on a shared daemon can feed or steal its cache."""
    context = labkit.example("cache-app", tmp_path / "cache-app")
    text = (context / "Dockerfile").read_text()
    (context / "Dockerfile").write_text(text.replace("WORKDIR /app\n", f"WORKDIR /app\nENV T={uuid.uuid4().hex}\n"))
    return context


def built(run) -> list[bool]:
    return [s.built for s in run.steps]


def test_prediction_and_engine_agree_on_the_lessons_edits(engine, tmp_path):
    context = unique_context(tmp_path)
    lab = CacheLab(engine, context)
    # WORKDIR, ENV, COPY deps, RUN install, COPY app/, ARG, RUN version, CMD
    first = lab.build(no_cache=True)
    assert [s.instruction.split()[0] for s in first.steps] == \
        ["WORKDIR", "ENV", "COPY", "RUN", "COPY", "ARG", "RUN", "CMD"]     # build labels left out
    assert built(first) == [False] * 8
    assert built(lab.build()) == [True] * 8
    (context / "app" / "src" / "main.sh").write_text("#!/bin/sh\necho edited\n")
    edited = lab.build()
    assert built(edited) == [True, True, True, True, False, False, False, False]
    assert "app/src/main.sh" in edited.reasons()
    touch(context / "app" / "src" / "main.sh")
    (context / "app" / "build.log").write_text("ignored by .dockerignore\n")
    assert built(lab.build()) == [True] * 8
    arg = lab.build(build_args={"APP_VERSION": "9"})
    assert built(arg) == [True, True, True, True, True, True, False, False]
    (context / ".dockerignore").unlink()
    assert built(lab.build()) == [True, True, True, True, False, False, False, False]
    assert all(run.agree for run in lab.history) and len(lab.history) == 6
    out = engine.run(arg.record.image, "cat /app/version", keep=False).output
    assert out == "app 9\n"


def test_touch_changes_only_the_time(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("same")
    old, new = touch(f)
    assert new == old + 3600 and f.stat().st_mtime == new and f.read_text() == "same"


def test_a_failed_build_and_a_missing_dockerfile_are_build_errors(engine, tmp_path):
    context = tmp_path / "broken"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM labkit/base\nRUN echo {uuid.uuid4().hex} && false\n")
    lab = CacheLab(engine, context)
    with pytest.raises(BuildError):        # the sim raises it, Docker's failed record is turned into it
        lab.build()
    with pytest.raises(BuildError, match="cannot read"):
        lab.predict("nope.Dockerfile")
    assert lab.history == []
