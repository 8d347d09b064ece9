"""Reference solutions for lesson 06 (build-cache invalidation), kept outside the learners'
notebook. Each ``solve_*`` makes the learner's end state on an engine and returns the keyword
arguments for ``labkit.check``; ``tests/test_solutions_06.py`` runs them on both engines.

The first build of each uses ``no_cache=True``: it makes a fresh chain of images, which the
next build's cache lookups then prefer (Docker picks the newest matching image), so earlier
runs on a shared daemon cannot change the outcome. Someone building the same first steps
*between* the two builds still could; ``unique=`` adds an ``ENV`` step with that value right
after ``FROM`` so the chain is this run's alone (the tests pass a random value).
"""
from __future__ import annotations

from pathlib import Path

import labkit

# 06-b: the cache-app example in the cache-friendly order (manifest, install, then the source)
DEPS_FIRST = """\
FROM labkit/base
WORKDIR /app
COPY app/deps.txt /app/deps.txt
RUN mkdir -p /opt/deps && cp /app/deps.txt /opt/deps/installed && dd if=/dev/zero of=/opt/deps/libdeps.so bs=1024 count=200 2>/dev/null
COPY app/ /app/
CMD ["sh", "/app/src/main.sh"]
"""


def _unique(text: str, unique: str) -> str:
    return text.replace("FROM labkit/base\n", f"FROM labkit/base\nENV SOLUTION_RUN={unique}\n", 1) \
        if unique else text


def solve_06a(engine, workdir: str | Path, *, unique: str = "") -> dict:
    """Two steps that do not read the file, then the COPY; build, edit the file, rebuild."""
    folder = Path(workdir) / "keep-cache"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(_unique("FROM labkit/base\nRUN echo prepared > /prepared\n"
                                               "RUN mkdir -p /app\nCOPY app.txt /app/app.txt\n", unique))
    (folder / "app.txt").write_text("version 1\n")
    engine.build(folder, tag="keep-cache", no_cache=True)
    (folder / "app.txt").write_text("version 2\n")
    return {"record": engine.build(folder, tag="keep-cache")}


def solve_06b(engine, workdir: str | Path, *, unique: str = "") -> dict:
    """Copy only the manifest before the install; build, edit the source, rebuild."""
    context = labkit.example("cache-app", Path(workdir) / "cache-app")
    (context / "my.Dockerfile").write_text(_unique(DEPS_FIRST, unique))
    engine.build(context, dockerfile="my.Dockerfile", tag="deps", no_cache=True)
    (context / "app" / "src" / "main.sh").write_text('#!/bin/sh\necho "edited by the solution"\n')
    return {"record": engine.build(context, dockerfile="my.Dockerfile", tag="deps")}
