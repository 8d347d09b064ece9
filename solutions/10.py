"""Reference solution of lesson 10's exercise (kept out of the learners' notebook).

``SOLUTIONS["10-a"](engine, work)`` returns the keyword arguments for
``labkit.check("10-a", engine=engine, **kwargs)``.
"""
from __future__ import annotations

from pathlib import Path

import labkit

ORDERED = """FROM labkit/base
COPY notes.txt /data/notes.txt
RUN echo "small change" > /data/small.txt
RUN mkdir -p /data && dd if=/dev/zero of=/data/big.bin bs=1000 count=2000 2>/dev/null
"""


def solve_10a(engine, work: Path) -> dict:
    context = labkit.example("disk10", Path(work) / "10a")
    (context / "Dockerfile.ordered").write_text(ORDERED)
    record = engine.build(context, dockerfile="Dockerfile.ordered", tag="disk-ordered")
    return {"image": record.image}


SOLUTIONS = {"10-a": solve_10a}
