"""Reference solution of lesson 09's exercise (kept out of the learners' notebook).

``SOLUTIONS["09-a"](engine, work, registry)`` builds two versions sharing all but the top
layer, pushes both to ``registry`` (a started ``labkit.registry`` registry) and returns the
keyword arguments for ``labkit.check("09-a", engine=engine, **kwargs)``.
"""
from __future__ import annotations

from pathlib import Path

import labkit
from labkit.daemon.registry import push


def solve_09a(engine, work: Path, registry) -> dict:
    context = labkit.example("dist09", Path(work) / "09a")
    v1 = engine.build(context, dockerfile="Dockerfile.v1", tag="ship:v1")
    v2 = engine.build(context, dockerfile="Dockerfile.v2", tag="ship:v2")   # cache: same COPY layer
    push(engine, registry, v1.image, "ship:v1")
    push(engine, registry, v2.image, "ship:v2")
    return {"registry": registry, "image": "ship:v1", "other": "ship:v2"}


SOLUTIONS = {"09-a": solve_09a}
