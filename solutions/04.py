"""Reference solutions of lesson 04's exercises (kept out of the learners' notebook).

Each function does the exercise on ``engine`` (``work`` is a scratch directory) and returns
the keyword arguments to pass to ``labkit.check``::

    kwargs = SOLUTIONS["04-c"](engine, work)
    labkit.check("04-c", engine=engine, **kwargs)
"""
from __future__ import annotations

from pathlib import Path

import labkit


def solve_04a(engine, work: Path) -> dict:
    c = engine.start(engine.base_image())
    engine.exec(c, "rm /etc/group")
    return {"container": c}


def solve_04b(engine, work: Path) -> dict:
    c = solve_04a(engine, work)["container"]
    return {"image": engine.commit(c, tag="deleted04")}


def solve_04c(engine, work: Path) -> dict:
    record = engine.build(labkit.example("whiteouts04", Path(work) / "04c"), tag="whiteouts04")
    c = engine.start(record.image)
    engine.exec(c, "rm -rf /srv/data && mkdir /srv/data && echo fresh > /srv/data/fresh.txt")
    return {"image": engine.commit(c, tag="replaced04")}


SOLUTIONS = {"04-a": solve_04a, "04-b": solve_04b, "04-c": solve_04c}
