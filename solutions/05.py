"""Reference solutions of lesson 05's exercises (kept out of the learners' notebook).

Each function does the exercise on ``engine`` (building and saving in ``work``, a scratch
directory) and returns the keyword arguments to pass to ``labkit.check``::

    kwargs = SOLUTIONS["05-c"](engine, work)
    labkit.check("05-c", engine=engine, **kwargs)
"""
from __future__ import annotations

from pathlib import Path

import labkit
from labkit.exercises.materials import material


def solve_05a(engine, work: Path) -> dict:
    with labkit.open_image(material("05-a", Path(work) / "05a")) as image:
        return {"answer": image.layers[1].diff_id}


def solve_05b(engine, work: Path) -> dict:
    record = engine.build(labkit.example("share05", Path(work) / "05b"), dockerfile="Dockerfile.a",
                          tag="own05")
    with labkit.open_image(engine.save(record.image, Path(work) / "own05.tar")) as image:
        return {"image": record.image, "answer": image.diff_ids[-1]}


def solve_05c(engine, work: Path) -> dict:
    context = labkit.example("share05", Path(work) / "05c")
    a = engine.build(context, dockerfile="Dockerfile.a", tag="share-a")
    b = engine.build(context, dockerfile="Dockerfile.b", tag="share-b")   # cache: same COPY layer
    return {"image": a.image, "other": b.image}


SOLUTIONS = {"05-a": solve_05a, "05-b": solve_05b, "05-c": solve_05c}
