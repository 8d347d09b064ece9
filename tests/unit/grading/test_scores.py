"""grades.csv rows from logged results: one named case per rule of ``labkit.grading.scores``.

The expected rows are written out by hand from the rules in the module's docstring; the
registry's maxima come from the registry, never from the code under test.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from labkit.exercises.log import LogRecord
from labkit.exercises.registry import get
from labkit.exercises.spec import CheckOutcome
from labkit.grading.scores import RunOutcome, make_rows, write_csv

NB = Path("nb.ipynb")


def _rows(runs, exercises=()):
    return [(r.student, r.exercise, r.points, r.max_points, r.status)
            for r in make_rows(runs, exercises)]


def test_a_course_exercise_the_teacher_names_keeps_the_maximum_its_log_gave():
    runs = [RunOutcome("ann", NB, "ok", 1.0, "", (LogRecord("course-1", True, 3, 3),)),
            RunOutcome("ben", NB, "ok", 1.0, "", ())]
    assert _rows(runs, ["course-1"]) == [("ann", "course-1", 3, 3, "passed"),
                                         ("ben", "course-1", 0, 3, "missing")]


def test_an_id_nobody_registered_or_named_counts_for_nothing_and_touches_nobody_else():
    forged = (LogRecord("00-a", True, 1, 1), LogRecord("bonus", True, 1_000_000, 1_000_000))
    runs = [RunOutcome("eve", NB, "ok", 1.0, "", forged),
            RunOutcome("bob", NB, "ok", 1.0, "", (LogRecord("00-a", True, 1, 1),))]
    top = get("00-a").max_points
    assert _rows(runs) == [("bob", "00-a", min(1, top), top, "passed" if top == 1 else "partial"),
                           ("eve", "00-a", min(1, top), top, "passed" if top == 1 else "partial"),
                           ("eve", "bonus", 0, 0, "ignored")]
    assert "do not count" in make_rows(runs)[-1].messages[0]


def test_a_student_who_checked_nothing_still_has_a_row():
    runs = [RunOutcome("ann", NB, "ok", 1.0, "", ())]
    assert _rows(runs) == [("ann", "(notebook)", 0, 0, "no checks")]


@pytest.mark.parametrize("status", ["error", "timeout"])
def test_a_broken_run_marks_every_unchecked_exercise_with_its_status(status):
    runs = [RunOutcome("ann", NB, status, 1.0, "boom", (LogRecord("05-a", True, 4, 4),))]
    top = get("07-a").max_points
    assert _rows(runs, ["07-a"]) == [("ann", "05-a", 4, 4, "passed"), ("ann", "07-a", 0, top, status),
                                     ("ann", "(notebook)", 0, 0, status)]
    assert make_rows(runs)[-1].messages == ("nb.ipynb: boom",)


@pytest.mark.parametrize("points, passed, expect", [
    (-5, False, (0, "failed")),        # below zero is clamped up, and zero points is a fail
    (0, False, (0, "failed")),
    (1, False, (1, "partial")),
    (4, False, (4, "partial")),        # every point but the check says not passed
    (4, True, (4, "passed")),
])
def test_points_are_clamped_and_the_status_follows_them(points, passed, expect):
    top = get("05-a").max_points
    assert top == 4
    runs = [RunOutcome("ann", NB, "ok", 1.0, "", (LogRecord("05-a", passed, points, top),))]
    assert _rows(runs) == [("ann", "05-a", *expect[:1], top, expect[1])]


def test_messages_come_from_the_checks_else_from_the_record():
    checks = (CheckOutcome("size", True, 1, 1, False, "small enough"),
              CheckOutcome("secret", False, 0, 1, True, "key still in layer 2"))
    runs = [RunOutcome("ann", NB, "ok", 1.0, "", (LogRecord("05-a", False, 1, 4, checks=checks),
                                                  LogRecord("07-a", False, 0, 4, messages=("m",))))]
    rows = {r.exercise: r.messages for r in make_rows(runs)}
    assert rows == {"05-a": ("small enough", "key still in layer 2"), "07-a": ("m",)}


def test_the_last_run_of_a_student_wins_and_students_are_sorted():
    runs = [RunOutcome("zoe", NB, "ok", 1.0, "", (LogRecord("05-a", False, 1, 4),)),
            RunOutcome("amy", NB, "ok", 1.0, "", (LogRecord("05-a", False, 2, 4),)),
            RunOutcome("zoe", NB, "ok", 1.0, "", (LogRecord("05-a", True, 4, 4),))]
    assert _rows(runs) == [("amy", "05-a", 2, 4, "partial"), ("zoe", "05-a", 4, 4, "passed")]


def test_grades_csv_has_the_header_and_one_line_per_row(tmp_path):
    runs = [RunOutcome("ann", NB, "timeout", 1.0, "slow", (LogRecord("05-a", True, 4, 4),))]
    out = write_csv(make_rows(runs), tmp_path / "grades.csv")
    with open(out, newline="", encoding="utf-8") as fh:
        lines = list(csv.reader(fh))
    assert lines == [["student", "exercise", "points", "max", "status"],
                     ["ann", "05-a", "4", "4", "passed"],
                     ["ann", "(notebook)", "0", "0", "timeout"]]


@pytest.mark.parametrize("name", ['=HYPERLINK("http://127.0.0.1/x","click")', "+1", "-2+3", "@SUM(A1)",
                                  "\tx", "\r=1"])
def test_grades_csv_cells_never_start_a_formula(tmp_path, name):
    runs = [RunOutcome(name, NB, "ok", 1.0, "", (LogRecord("05-a", True, 4, 4),))]
    out = write_csv(make_rows(runs), tmp_path / "grades.csv")
    with open(out, newline="", encoding="utf-8") as fh:
        cell = list(csv.reader(fh))[1][0]
    assert cell == "'" + name          # shown as the text it is, never run


def test_a_named_exercise_nobody_logged_is_missing_with_no_points_to_give():
    runs = [RunOutcome("ann", NB, "ok", 1.0, "", (LogRecord("05-a", True, 4, 4),))]
    assert _rows(runs, ["course-9"]) == [("ann", "05-a", 4, 4, "passed"), ("ann", "course-9", 0, 0, "missing")]


def test_a_forged_id_does_not_hide_the_records_after_it():
    forged = (LogRecord("bonus", True, 9, 9), LogRecord("05-a", True, 4, 4))
    runs = [RunOutcome("eve", NB, "ok", 1.0, "", forged)]
    assert _rows(runs) == [("eve", "05-a", 4, 4, "passed"), ("eve", "bonus", 0, 0, "ignored")]


def test_the_no_checks_row_says_why():
    rows = make_rows([RunOutcome("ann", NB, "ok", 1.0, "", ())])
    assert rows[0].messages == ("the notebook ran but checked no exercise",)
