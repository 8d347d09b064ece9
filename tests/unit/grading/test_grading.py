"""`labkit grade` on real notebooks in real kernels (nbclient), on the simulator engine.

The fixtures in tests/fixtures/grading/submissions are four students: alice does everything
right, bob gets some of it wrong and skips 04-b, carol's notebook raises after one check,
dave's loops forever after one check (stopped by --timeout 5). Expected points follow from
the exercises' published point values (each of 03-a, 04-a, 04-b, 05-a is worth 4 with its
hidden check) and what each notebook does.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import layout
import pytest

from labkit.errors import ExerciseError
from labkit.exercises.log import LogRecord, read_log
from labkit.grading.pages import write_student_pages
from labkit.grading.run import find_submissions
from labkit.grading.scores import GradeRow, RunOutcome

FIXTURES = layout.FIXTURES / "grading" / "submissions"

EXPECTED = {
    ("alice", "03-a"): (4, 4, "passed"), ("alice", "04-a"): (4, 4, "passed"),
    ("alice", "04-b"): (4, 4, "passed"), ("alice", "05-a"): (4, 4, "passed"),
    # 100 KB written: container exists (1) + hidden diff check (1); the size check fails
    ("bob", "03-a"): (2, 4, "partial"),
    # deleted /etc/passwd too: the hidden "only /etc/group" check fails
    ("bob", "04-a"): (3, 4, "partial"),
    ("bob", "04-b"): (0, 4, "missing"),
    # layer 0's diffID: right format (1), wrong layer
    ("bob", "05-a"): (1, 4, "partial"),
    ("carol", "05-a"): (4, 4, "passed"), ("carol", "03-a"): (0, 4, "error"),
    ("carol", "04-a"): (0, 4, "error"), ("carol", "04-b"): (0, 4, "error"),
    ("carol", "(notebook)"): (0, 0, "error"),
    ("dave", "05-a"): (4, 4, "passed"), ("dave", "03-a"): (0, 4, "timeout"),
    ("dave", "04-a"): (0, 4, "timeout"), ("dave", "04-b"): (0, 4, "timeout"),
    ("dave", "(notebook)"): (0, 0, "timeout"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One real batch through the CLI: 4 notebooks, 2 workers, 5 s per notebook."""
    work = tmp_path_factory.mktemp("grading")
    subs = work / "submissions"
    shutil.copytree(FIXTURES, subs)
    out = work / "out"
    tmpdir = work / "tmpdir"                # the grader's temp dir: submissions must not use it
    tmpdir.mkdir()
    env = {**os.environ, "LABKIT_ENGINE": "docker",     # the grader must override it with --engine
           "TMPDIR": str(tmpdir)}
    env.pop("LABKIT_GRADE_LOG", None)
    proc = subprocess.run([sys.executable, "-m", "labkit", "grade", str(subs), "--engine", "sim",
                           "--timeout", "5", "--workers", "2", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"out": out, "stdout": proc.stdout, "subs": subs, "tmpdir": tmpdir}


def test_csv_has_every_student_and_exercise(graded):
    with open(graded["out"] / "grades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["student", "exercise", "points", "max", "status"]
    got = {(r["student"], r["exercise"]): (int(r["points"]), int(r["max"]), r["status"]) for r in rows}
    assert got == EXPECTED
    assert len(rows) == len(EXPECTED)


def test_cli_prints_each_run_and_the_totals(graded):
    out = graded["stdout"]
    assert "dave: dave.ipynb timeout" in out and "still running after 5 s" in out
    assert "carol: lab.ipynb error" in out and "ZeroDivisionError" in out
    assert [line.split()[0] for line in out.splitlines() if line.startswith("  ")] == \
        ["alice", "bob", "carol", "dave"]
    assert "alice                      16 / 16" in out


def test_no_submission_leaves_temp_files_behind(graded):
    """Every fixture notebook makes a temp dir (tempfile.mkdtemp); each run's temp dir is the
    submission's own, removed when it ends: nothing stays in the output or the temp dir."""
    assert not (graded["out"] / "tmp").exists()
    assert sorted(p.name for p in graded["out"].iterdir()) == [
        "executed", "exercises", "grades.csv", "logs", "students", "summary.html"]
    assert list(graded["tmpdir"].iterdir()) == []      # the grader's own TMPDIR stayed clean


def test_endless_notebook_is_stopped_and_its_kernel_killed(graded):
    pids = list((graded["out"] / "logs").glob("dave-*.kernel-pid"))
    assert len(pids) == 1
    pid = int(pids[0].read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)                     # the spinning kernel is gone, not orphaned


def test_html_pages_per_student_and_per_exercise(graded):
    out = graded["out"]
    summary = (out / "summary.html").read_text()
    for s in ("alice", "bob", "carol", "dave"):
        assert f"students/{s}.html" in summary and (out / "students" / f"{s}.html").is_file()
    bob = (out / "students" / "bob.html").read_text()
    assert "16 / 16" not in bob and "<b>6 / 16</b>" in bob
    assert "nothing but /etc/group should be deleted" in bob        # hidden outcomes for teachers
    carol = (out / "students" / "carol.html").read_text()
    assert "ZeroDivisionError" in carol
    ex05 = (out / "exercises" / "05-a.html").read_text()
    assert ex05.count("<tr>") == 5                                    # header + 4 students
    executed = out / "executed" / "alice" / "lab.ipynb"
    assert executed.is_file() and "PASSED" in executed.read_text()


def test_submissions_layout_and_errors(tmp_path):
    (tmp_path / "zoe").mkdir()
    (tmp_path / "zoe" / "a.ipynb").write_text("{}")
    (tmp_path / "zoe" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "zoe" / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("{}")
    (tmp_path / "yan.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    assert [(s.student, s.notebook.name) for s in find_submissions(tmp_path)] == \
        [("yan", "yan.ipynb"), ("zoe", "a.ipynb")]
    with pytest.raises(ExerciseError, match="does not exist"):
        find_submissions(tmp_path / "nope")
    from labkit.grading.run import grade
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExerciseError, match="no notebooks"):
        grade(tmp_path / "empty", out=tmp_path / "o")
    with pytest.raises(ExerciseError, match="unknown engine"):
        grade(tmp_path, engine="podman", out=tmp_path / "o")


def test_log_keeps_the_last_result_per_exercise(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"exercise": "03-a", "points": 1}\nnot json\n{"exercise": "05-a", "points": 4}\n'
                   '{"exercise": "03-a", "points": 3}\n{"no": "exercise"}\n')
    assert [(r.exercise, r.points) for r in read_log(log)] == [("03-a", 3), ("05-a", 4)]


def test_the_record_check_writes_is_the_record_the_grader_reads(tmp_path, monkeypatch):
    from labkit.exercises import log as grade_log
    from labkit.exercises.spec import CheckOutcome, CheckResult
    path = grade_log.create(tmp_path / "log.jsonl")
    result = CheckResult("03-a", False, 1, 2, ("\u2714 exists",), attempt=2, outcomes=(
        CheckOutcome("exists", True, 1, 1, False, "\u2714 exists"),
        CheckOutcome("secret", False, 0, 1, True, "\u2718 secret")))
    grade_log.write(result, "sim")                     # not grading: nothing is written
    assert path.read_text() == ""
    monkeypatch.setenv(grade_log.GRADE_LOG_ENV, str(path))
    grade_log.write(result, "sim")
    with path.open("a") as fh:                         # a forged line with a garbled value
        fh.write('{"exercise": "05-a", "points": "lots"}\n')
    line = json.loads(path.read_text().splitlines()[0])
    assert list(line) == ["exercise", "passed", "points", "max_points", "status", "attempt",
                          "messages", "checks", "engine", "time"]
    assert line["checks"][1] == {"name": "secret", "passed": False, "points": 0, "max_points": 1,
                                 "hidden": True, "message": "\u2718 secret"}
    (record,) = read_log(path)
    assert record == LogRecord("03-a", False, 1, 2, "partial", 2, ("\u2714 exists",),
                               result.outcomes, "sim", line["time"])


def test_student_text_is_escaped_in_html(tmp_path):
    rows = [GradeRow("<script>x</script>", "03-a", 0, 4, "failed", ("<img src=x onerror=alert(1)>",))]
    runs = [RunOutcome("<script>x</script>", tmp_path / "a.ipynb", "error", 1.0, "<b>boom</b>")]
    page = write_student_pages(rows, runs, tmp_path / "s")["<script>x</script>"].read_text()
    assert "<script>" not in page and "<img" not in page and "<b>boom" not in page
    assert "&lt;script&gt;" in page


def test_docker_grading_gives_the_same_grades_and_cleans_up(docker_client, tmp_path):
    """alice's notebook on the real daemon: same points as on the simulator, and everything
    her kernel made (labelled with the run's session) is removed after the run."""
    from labkit.grading.run import grade
    subs = tmp_path / "subs"
    shutil.copytree(FIXTURES / "alice", subs / "alice")
    report = grade(subs, engine="docker", timeout=120, workers=1, out=tmp_path / "out")
    assert {r.exercise: (r.points, r.max_points, r.status) for r in report.rows} == \
        {ex: v for (student, ex), v in EXPECTED.items() if student == "alice"}
    (run,) = report.outcomes
    assert run.status == "ok" and {r.engine for r in run.results} == {"docker"}
    label = "org.labkit.session"
    api = docker_client.api     # one listing call each: other tests may remove objects meanwhile
    left = [c["Id"] for c in api.containers(all=True, filters={"label": label})
            if (c.get("Labels") or {}).get(label, "").startswith("grade")]
    left += [i["Id"] for i in api.images(all=True, filters={"label": label})
             if (i.get("Labels") or {}).get(label, "").startswith("grade")]
    assert left == []


def test_logged_points_are_clamped_to_the_registered_maximum(tmp_path):
    from labkit.exercises.registry import get
    from labkit.grading.scores import make_rows
    forged = (LogRecord("03-a", passed=True, points=99, max_points=99),
              LogRecord("05-a", passed=False, points=2, max_points=4))
    rows = make_rows([RunOutcome("mallory", tmp_path / "m.ipynb", "ok", 1.0, "", forged)])
    got = {r.exercise: (r.points, r.max_points, r.status) for r in rows}
    top = get("03-a").max_points
    assert got == {"03-a": (top, top, "passed"), "05-a": (2, get("05-a").max_points, "partial")}


def test_exercises_nobody_checked_are_listed_as_missing(tmp_path):
    from labkit.exercises.registry import get
    from labkit.grading.scores import make_rows
    runs = [RunOutcome("ann", tmp_path / "a.ipynb", "ok", 1.0, "",
                       (LogRecord("05-a", passed=True, points=4, max_points=4),)),
            RunOutcome("ben", tmp_path / "b.ipynb", "timeout", 5.0, "still running", ())]
    rows = make_rows(runs, exercises=["07-a"])
    got = [(r.student, r.exercise, r.points, r.max_points, r.status) for r in rows]
    assert got == [("ann", "05-a", 4, 4, "passed"), ("ann", "07-a", 0, get("07-a").max_points, "missing"),
                   ("ben", "05-a", 0, 4, "timeout"), ("ben", "07-a", 0, get("07-a").max_points, "timeout"),
                   ("ben", "(notebook)", 0, 0, "timeout")]
