"""Reference solution of lesson 02's exercise (kept out of the learners' notebook).

Each function does the exercise on ``engine`` (``work`` is a scratch directory) and returns
the keyword arguments to pass to ``labkit.check``::

    kwargs = SOLUTIONS["02-a"](engine, work)
    labkit.check("02-a", engine=engine, **kwargs)
"""
from __future__ import annotations

from pathlib import Path

from labkit.fs.node import Node
from labkit.fs.overlay import Mount


def solve_02a(engine, work: Path) -> dict:
    bottom = {"conf": Node.dir(), "conf/c.conf": Node.file(b"c\n"),
              "conf/old.conf": Node.file(b"old\n")}
    top = {"conf": Node.dir(), "conf/b.conf": Node.file(b"b\n"), "conf/old.conf": Node.whiteout()}
    upper = {"conf": Node.dir(), "conf/a.conf": Node.file(b"a\n")}
    return {"mount": Mount([top, bottom], upper)}


SOLUTIONS = {"02-a": solve_02a}
