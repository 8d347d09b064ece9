"""Reference solutions of lesson 08's exercises (kept out of the learners' notebook).

Each function does the exercise on ``engine`` (building in ``work``, a scratch directory) and
returns the keyword arguments to pass to ``labkit.check``::

    kwargs = SOLUTIONS["08-b"](engine, work)
    labkit.check("08-b", engine=engine, **kwargs)
"""
from __future__ import annotations

from pathlib import Path

import labkit
from labkit.lessons.lesson08 import write_fake_key

# 08-b: the key only ever enters a throw-away stage; the final stage copies the result.
FIXED = """\
FROM labkit/base AS fetch
COPY id_rsa /root/.ssh/id_rsa
RUN mkdir -p /out && cat /root/.ssh/id_rsa > /dev/null && echo "private dependencies fetched" > /out/deps.txt

FROM labkit/base
WORKDIR /app
COPY --from=fetch /out/deps.txt /app/deps.txt
COPY app.sh /app/app.sh
CMD ["sh", "/app/app.sh"]
"""


def _context(work: Path, name: str) -> Path:
    context = labkit.example("secret-key", Path(work) / name)
    write_fake_key(context)
    return context


def solve_08a(engine, work: Path) -> dict:
    # never COPY the key: the app does not need it at run time
    context = _context(work, "08a")
    (context / "my.Dockerfile").write_text(
        'FROM labkit/base\nWORKDIR /app\nCOPY app.sh /app/app.sh\nCMD ["sh", "/app/app.sh"]\n')
    return {"image": engine.build(context, dockerfile="my.Dockerfile", tag="nokey").image}


def solve_08b(engine, work: Path) -> dict:
    context = _context(work, "08b")
    (context / "my.Dockerfile").write_text(FIXED)
    return {"image": engine.build(context, dockerfile="my.Dockerfile", tag="fetch-fixed").image}


SOLUTIONS = {"08-a": solve_08a, "08-b": solve_08b}
