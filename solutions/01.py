"""Reference solutions of lesson 01's exercises (kept out of the learners' notebook).

Each function does the exercise on ``engine`` (building in ``work``, a scratch directory) and
returns the keyword arguments to pass to ``labkit.check``::

    kwargs = SOLUTIONS["01-a"](engine, work)
    labkit.check("01-a", engine=engine, **kwargs)
"""
from __future__ import annotations

from pathlib import Path

import labkit
from labkit.exercises.materials import material
from labkit.lessons.lesson01 import count_steps, path_history

DOCKERFILE_01A = """\
FROM labkit/base
ENV STAGE=lesson01
RUN mkdir -p /srv/logs && echo "started" > /srv/logs/start.log
COPY config.txt /srv/config.txt
RUN echo "checked" > /srv/logs/check.log
"""


def solve_01a(engine, work: Path) -> dict:
    context = labkit.example("layers01-exercise", Path(work) / "01a")
    (context / "Dockerfile").write_text(DOCKERFILE_01A)
    record = engine.build(context, tag="stack01")
    return {"image": record.image}


def solve_01b(engine, work: Path) -> dict:
    image = labkit.open_image(material("01-b", Path(work) / "01b"))
    try:
        last = path_history(image, "/etc/app.conf")[-1]
        return {"layer": last.layer, "empty_steps": count_steps(image.history).config_only}
    finally:
        image.close()


SOLUTIONS = {"01-a": solve_01a, "01-b": solve_01b}
