"""Reference solutions for lesson 07 (multi-stage builds and slimming), kept outside the
learners' notebook. Each ``solve_*`` builds the learner's end state on an engine and returns the
keyword arguments for ``labkit.check``; ``tests/test_solutions_07.py`` runs them on both engines.
"""
from __future__ import annotations

from pathlib import Path

import labkit

# 07-a: make and keep /app/data in its own step; nothing is written twice or deleted later
NO_DEAD_WEIGHT = """\
FROM labkit/base
RUN mkdir -p /app
RUN dd if=/dev/zero of=/app/data bs=1024 count=100 2>/dev/null
"""


def solve_07a(engine, workdir: str | Path) -> dict:
    folder = Path(workdir) / "no-dead-weight"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(NO_DEAD_WEIGHT)
    return {"image": engine.build(folder, tag="no-dead-weight")}


def solve_07b(engine, workdir: str | Path) -> dict:
    """The slim-app example's multi-stage Dockerfile: build with the toolchain, copy out the app."""
    context = labkit.example("slim-app", Path(workdir) / "slim-app")
    (context / "my.Dockerfile").write_text((context / "Dockerfile").read_text())
    return {"image": engine.build(context, dockerfile="my.Dockerfile", tag="only-app")}
