"""Reference solutions of lesson 03's exercises (kept out of the learners' notebook).

Each function does the exercise on ``engine`` (``work`` is a scratch directory) and returns
the keyword arguments to pass to ``labkit.check``::

    kwargs = SOLUTIONS["03-b"](engine, work)
    labkit.check("03-b", engine=engine, **kwargs)
"""
from __future__ import annotations

from pathlib import Path

import labkit


def solve_03a(engine, work: Path) -> dict:
    c = engine.start(engine.base_image())
    engine.exec(c, "dd if=/dev/zero of=/tmp/big bs=1024 count=2048")
    return {"container": c}


def solve_03b(engine, work: Path) -> dict:
    record = engine.build(labkit.example("hardlinks03", Path(work) / "03b"), tag="links03")
    c = engine.start(record.image)
    engine.exec(c, "echo v2 >> /data/a")
    return {"container": c}


SOLUTIONS = {"03-a": solve_03a, "03-b": solve_03b}
