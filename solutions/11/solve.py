"""Reference solution of lesson 11's capstone (kept out of the learners' notebook).

``solve_11a(engine, work)`` builds the bad example and this folder's Dockerfile in a fresh
copy of the capstone context under ``work``, edits a source file, rebuilds, and returns the
keyword arguments for ``labkit.check("11-a", engine=engine, **kwargs)``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from labkit.lessons.lesson11 import capstone_context, edit_source

HERE = Path(__file__).resolve().parent


def solve_11a(engine, work: Path) -> dict:
    context = capstone_context(Path(work) / "capstone")
    bad = engine.build(context, tag="capstone-bad")
    shutil.copy(HERE / "Dockerfile", context / "solution.Dockerfile")
    first = engine.build(context, dockerfile="solution.Dockerfile", tag="capstone")
    assert first.ok, first.failure
    edit_source(context)              # new content each time: a real source-only edit
    again = engine.build(context, dockerfile="solution.Dockerfile", tag="capstone")
    return {"record": again, "bad": bad}


SOLUTIONS = {"11-a": solve_11a}
