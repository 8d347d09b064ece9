"""Scores: the check results each run logged -> one ``GradeRow`` per student and exercise,
and ``grades.csv``.

Points are clamped to each exercise's registered maximum (a logged line cannot raise it).
Statuses: ``passed``, ``partial``, ``failed`` (the check ran), ``missing`` (never checked),
``error`` / ``timeout`` (never checked because the notebook raised / ran out of time). A failed
run also gets one ``(notebook)`` row with its status.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ..exercises.log import LogRecord
from ..exercises.registry import get

NOTEBOOK_ROW = "(notebook)"
CSV_FIELDS = ("student", "exercise", "points", "max", "status")


@dataclass(frozen=True)
class RunOutcome:
    """How running one notebook went, and the check results it logged (last per exercise)."""
    student: str
    notebook: Path
    status: str                                   # "ok" | "error" | "timeout"
    seconds: float
    error: str = ""
    results: tuple[LogRecord, ...] = ()
    executed: Path | None = None

    @property
    def logged_points(self) -> tuple[int, int]:
        """Points and maximum as the run logged them (before any clamping)."""
        return sum(r.points for r in self.results), sum(r.max_points for r in self.results)


@dataclass(frozen=True)
class GradeRow:
    student: str
    exercise: str
    points: int
    max_points: int
    status: str
    messages: tuple[str, ...] = field(default=(), compare=False)


def _max_points(exercise: str, seen: Mapping[str, int]) -> int:
    """The registry's maximum (a log line cannot raise it), else what the logs said."""
    try:
        return get(exercise).max_points
    except Exception:  # an exercise the course defined in a notebook
        return seen.get(exercise, 0)


def make_rows(outcomes: Sequence[RunOutcome], exercises: Iterable[str] = ()) -> list[GradeRow]:
    """One row per student and exercise (every exercise anyone checked, plus ``exercises``)."""
    wanted = list(dict.fromkeys(exercises))
    seen_max: dict[str, int] = {}
    for o in outcomes:
        for r in o.results:
            seen_max.setdefault(r.exercise, r.max_points)
            if r.exercise not in wanted:
                wanted.append(r.exercise)
    wanted.sort()
    students = list(dict.fromkeys(o.student for o in sorted(outcomes, key=lambda o: o.student)))
    rows: list[GradeRow] = []
    for student in students:
        runs = [o for o in outcomes if o.student == student]
        got: dict[str, LogRecord] = {}
        for o in runs:
            for r in o.results:
                got[r.exercise] = r
        bad = next((o.status for o in runs if o.status in ("timeout", "error")), None)
        for ex in wanted:
            r = got.get(ex)
            if r is None:
                rows.append(GradeRow(student, ex, 0, _max_points(ex, seen_max), bad or "missing"))
            else:
                msgs = tuple(c.message for c in r.checks) or r.messages
                mx = _max_points(ex, {ex: r.max_points})
                pts = max(0, min(r.points, mx))
                status = "passed" if pts == mx and r.passed else ("partial" if pts else "failed")
                rows.append(GradeRow(student, ex, pts, mx, status, msgs))
        for o in runs:
            if o.status != "ok":
                rows.append(GradeRow(student, NOTEBOOK_ROW, 0, 0, o.status,
                                     (f"{o.notebook.name}: {o.error}",)))
    return rows


def write_csv(rows: Sequence[GradeRow], path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_FIELDS)
        for r in rows:
            w.writerow((r.student, r.exercise, r.points, r.max_points, r.status))
    return path
