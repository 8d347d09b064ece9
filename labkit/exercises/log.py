"""The grade log: the one owner of its format, for the writer and for the reader.

While a notebook is being graded, ``LABKIT_GRADE_LOG`` (``GRADE_LOG_ENV``) names a file, and
every ``check()`` call in the student's kernel appends its result to it (``write``) as one
JSON line (one ``write`` call per line, so appending is safe)::

    {"exercise": "03-a", "passed": false, "points": 2, "max_points": 4, "status": "partial",
     "attempt": 1, "messages": ["..."],
     "checks": [{"name": "...", "passed": true, "points": 1, "max_points": 1,
                 "hidden": false, "message": "..."}, ...],
     "engine": "sim", "time": 1700000000.0}

The grader (``labkit.grading``) sets the variable, makes the empty file (``create``) and reads
the records back (``read_log``). Nothing else opens, parses or formats this file.

The file is written from inside the student's kernel, so a line may be forged or garbled:
``read_log`` skips lines it cannot read as a record, and the grader clamps points itself.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .spec import CheckOutcome, CheckResult

GRADE_LOG_ENV = "LABKIT_GRADE_LOG"


@dataclass(frozen=True)
class LogRecord:
    """One logged ``check()`` result, hidden outcomes included."""
    exercise: str
    passed: bool = False
    points: int = 0
    max_points: int = 0
    status: str = ""
    attempt: int = 0
    messages: tuple[str, ...] = ()
    checks: tuple[CheckOutcome, ...] = ()
    engine: str = ""                    # the engine's name ("sim", "docker")
    time: float = 0.0                   # when it was checked (time.time())

    @classmethod
    def of(cls, result: CheckResult, engine: str, when: float) -> LogRecord:
        return cls(result.exercise, result.passed, result.points, result.max_points,
                   result.status, result.attempt, result.messages, result.outcomes, engine, when)


# --------------------------------------------------------------------------- the writer

def enabled() -> bool:
    """True while a notebook is being graded (the variable names a log)."""
    return bool(os.environ.get(GRADE_LOG_ENV))


def write(result: CheckResult, engine: str) -> None:
    """Append ``result`` (checked on the engine named ``engine``) to the log, if grading."""
    path = os.environ.get(GRADE_LOG_ENV)
    if not path:
        return
    line = json.dumps(_to_json(LogRecord.of(result, engine, time.time())), ensure_ascii=False) + "\n"
    with open(path, "a", encoding="utf-8") as fh:   # one write per line: safe to append
        fh.write(line)


def _to_json(r: LogRecord) -> dict[str, Any]:
    return {"exercise": r.exercise, "passed": r.passed, "points": r.points,
            "max_points": r.max_points, "status": r.status, "attempt": r.attempt,
            "messages": list(r.messages),
            "checks": [{"name": c.name, "passed": c.passed, "points": c.points,
                        "max_points": c.max_points, "hidden": c.hidden, "message": c.message}
                       for c in r.checks],
            "engine": r.engine, "time": r.time}


# --------------------------------------------------------------------------- the reader

def create(path: Path) -> Path:
    """Make the (empty) log a graded run will append to."""
    path.touch()
    return path


def read_log(path: Path) -> list[LogRecord]:
    """The records a run logged, the LAST one per exercise (the final state), in the order
    the exercises were first checked. Lines that are not a record are skipped."""
    last: dict[str, LogRecord] = {}
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        record = _from_line(line)
        if record is not None:
            last[record.exercise] = record
    return list(last.values())


def _from_line(line: str) -> LogRecord | None:
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("exercise"), str):
        return None
    try:
        return LogRecord(
            rec["exercise"], bool(rec.get("passed")), int(rec.get("points", 0)),
            int(rec.get("max_points", 0)), str(rec.get("status", "")), int(rec.get("attempt", 0)),
            tuple(map(str, rec.get("messages", ()))),
            tuple(_check_from_json(c) for c in rec.get("checks", ())),
            str(rec.get("engine", "")), float(rec.get("time", 0.0)))
    except (AttributeError, TypeError, ValueError, OverflowError):   # a garbled or forged line
        return None


def _check_from_json(c: Mapping[str, Any]) -> CheckOutcome:
    return CheckOutcome(str(c.get("name", "")), bool(c.get("passed")), int(c.get("points", 0)),
                        int(c.get("max_points", 0)), bool(c.get("hidden")), str(c.get("message", "")))
