"""Scores: the check results each run logged -> one ``GradeRow`` per student and exercise,
and ``grades.csv``.

Points are clamped to each exercise's registered maximum (a logged line cannot raise it).
Only registered exercises, and the ones the teacher names (``exercises``), count: a logged id
that is neither gets an ``ignored`` row (0 of 0, saying why) for that student alone, so a forged
id can neither add points nor a ``missing`` row to everyone.
Statuses: ``passed``, ``partial``, ``failed`` (the check ran), ``missing`` (never checked),
``error`` / ``timeout`` (never checked because the notebook raised / ran out of time). A failed
run also gets one ``(notebook)`` row with its status, and so does a student with no other row
(``no checks``). grades.csv escapes cells a spreadsheet would run as a formula.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ..errors import LabkitError
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


def _registered(exercise: str) -> int | None:
    """The registry's maximum for ``exercise``, or None when it is not registered."""
    try:
        return get(exercise).max_points
    except LabkitError:
        return None


def _max_points(exercise: str, seen: Mapping[str, int]) -> int:
    """The registry's maximum (a log line cannot raise it), else what the logs said (an
    exercise the course defined in a notebook and the teacher named)."""
    top = _registered(exercise)
    return seen.get(exercise, 0) if top is None else top


def make_rows(outcomes: Sequence[RunOutcome], exercises: Iterable[str] = ()) -> list[GradeRow]:
    """One row per student and exercise (every exercise anyone checked, plus ``exercises``)."""
    named = set(exercises)
    wanted = list(dict.fromkeys(exercises))
    seen_max: dict[str, int] = {}
    for o in outcomes:
        for r in o.results:
            if r.exercise not in named and _registered(r.exercise) is None:
                continue
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
        for ex in sorted(set(got) - set(wanted)):
            rows.append(GradeRow(student, ex, 0, 0, "ignored", (
                f"{ex!r} is not an exercise of this course (not registered, not named with "
                f"--exercise): its {got[ex].points} logged point(s) do not count",)))
        for o in runs:
            if o.status != "ok":
                rows.append(GradeRow(student, NOTEBOOK_ROW, 0, 0, o.status,
                                     (f"{o.notebook.name}: {o.error}",)))
        if not any(r.student == student for r in rows):
            rows.append(GradeRow(student, NOTEBOOK_ROW, 0, 0, "no checks",
                                 ("the notebook ran but checked no exercise",)))
    return rows


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: object) -> object:
    """A text cell a spreadsheet would run as a formula (``=HYPERLINK(...)``) gets a leading
    apostrophe, which spreadsheets show as text; numbers stay numbers."""
    if isinstance(cell, str) and cell.startswith(_FORMULA):
        return "'" + cell
    return cell


def write_csv(rows: Sequence[GradeRow], path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_FIELDS)
        for r in rows:
            w.writerow(tuple(map(spreadsheet_safe, (r.student, r.exercise, r.points, r.max_points,
                                                     r.status))))
    return path
