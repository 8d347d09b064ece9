"""Classroom grading: run every submitted notebook in a fresh kernel and collect its checks.

``grade(submissions_dir)`` finds ``<dir>/<student>/*.ipynb`` and ``<dir>/<student>.ipynb``,
runs each notebook top to bottom with nbclient in its own worker process (``workers`` at a
time) with a per-notebook time limit, and reads back the ``CheckResult`` s its ``check()``
calls logged (``LABKIT_GRADE_LOG`` names a fresh JSON-lines file per run; hidden checks run
because that variable is set). A notebook that raises keeps the points of the checks it
reached; an endless one is stopped at the limit. Neither stops the batch. The grader writes
``grades.csv`` (student, exercise, points, max, status), ``summary.html`` (per exercise and
per student), pages ``students/<student>.html`` and ``exercises/<id>.html``, and the
executed notebooks under ``executed/``.

Statuses: ``passed``, ``partial``, ``failed`` (the check ran), ``missing`` (never checked),
``error`` / ``timeout`` (never checked because the notebook raised / ran out of time). A
failed run also gets one ``(notebook)`` row with its status.

Submitted notebooks are untrusted code: run the grader in a throwaway VM or container. The
log is written from inside the student's kernel, so a determined student could forge lines;
points are clamped to each exercise's registered maximum, but only an isolated re-check can
make grades tamper-proof.
"""
from __future__ import annotations

import csv
import html
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..engine.connect import connect
from ..errors import ExerciseError
from ..exercises.registry import get

GRADE_LOG_ENV = "LABKIT_GRADE_LOG"     # same name as labkit.exercises.runner reads
NOTEBOOK_ROW = "(notebook)"
CSV_FIELDS = ("student", "exercise", "points", "max", "status")
_GRACE = 60                            # seconds the worker gets beyond the notebook's limit
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


# --------------------------------------------------------------------------- values

@dataclass(frozen=True)
class Submission:
    student: str
    notebook: Path


@dataclass(frozen=True)
class RunOutcome:
    """How running one notebook went, and the check results it logged (last per exercise)."""
    student: str
    notebook: Path
    status: str                                   # "ok" | "error" | "timeout"
    seconds: float
    error: str = ""
    results: tuple[Mapping[str, Any], ...] = ()
    executed: Path | None = None


@dataclass(frozen=True)
class GradeRow:
    student: str
    exercise: str
    points: int
    max_points: int
    status: str
    messages: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class GradeReport:
    rows: tuple[GradeRow, ...]
    outcomes: tuple[RunOutcome, ...]
    csv_path: Path
    summary_path: Path
    student_pages: Mapping[str, Path]

    def total(self, student: str) -> tuple[int, int]:
        rows = [r for r in self.rows if r.student == student]
        return sum(r.points for r in rows), sum(r.max_points for r in rows)


# --------------------------------------------------------------------------- finding work

def find_submissions(root: str | Path) -> list[Submission]:
    """``root/<student>/*.ipynb`` (every notebook, sorted) and ``root/<student>.ipynb``."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise ExerciseError(f"submissions directory {root} does not exist",
                            fix="give the folder that holds one sub-folder (or notebook) per student")
    found: list[Submission] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix == ".ipynb":
            found.append(Submission(entry.stem, entry))
        elif entry.is_dir():
            for nb in sorted(entry.rglob("*.ipynb")):
                if ".ipynb_checkpoints" not in nb.parts:
                    found.append(Submission(entry.name, nb))
    return found


def safe_name(student: str) -> str:
    return _SAFE.sub("_", student).strip("._") or "student"


# --------------------------------------------------------------------------- running one

def run_submission(sub: Submission, *, engine: str, timeout: float, workdir: Path,
                   kernel: str = "python3") -> RunOutcome:
    """Run one notebook in a worker process (which starts a fresh kernel); never raises for
    what the notebook does."""
    tag = f"{safe_name(sub.student)}-{secrets.token_hex(3)}"
    log = workdir / "logs" / f"{tag}.jsonl"
    pidfile = workdir / "logs" / f"{tag}.kernel-pid"
    executed = workdir / "executed" / safe_name(sub.student) / sub.notebook.name
    for p in (log.parent, executed.parent):
        p.mkdir(parents=True, exist_ok=True)
    log.touch()
    env = {**os.environ, GRADE_LOG_ENV: str(log), "LABKIT_ENGINE": engine,
           "LABKIT_SESSION": "grade" + re.sub(r"[^a-z0-9]", "", tag.lower())}
    cmd = [sys.executable, "-m", "labkit.grading.run", "--notebook", str(sub.notebook),
           "--timeout", str(timeout), "--executed", str(executed), "--pidfile", str(pidfile),
           "--kernel", kernel, "--engine", engine]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True, cwd=str(sub.notebook.parent))
    try:
        out, err = proc.communicate(timeout=timeout + _GRACE)
        report = _last_json(out) or {"status": "error",
                                     "error": f"grader worker exited {proc.returncode}: {err[-2000:]}"}
    except subprocess.TimeoutExpired:
        _kill(proc, pidfile)
        proc.communicate()
        report = {"status": "timeout", "error": f"stopped after {timeout + _GRACE:.0f} s (hard limit)"}
    seconds = time.monotonic() - start
    return RunOutcome(sub.student, sub.notebook, report.get("status", "error"), round(seconds, 2),
                      report.get("error", ""), tuple(read_log(log)),
                      executed if executed.exists() else None)


def _last_json(text: str) -> dict | None:
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def _kill(proc: subprocess.Popen, pidfile: Path) -> None:
    """Kill the worker's process group and the kernel it started (its own session)."""
    try:
        kernel = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        kernel = None
    for target, kill in ((proc.pid, os.killpg), (kernel, os.kill)):
        if target:
            try:
                kill(target, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def read_log(path: Path) -> list[Mapping[str, Any]]:
    """The check results a run logged, the LAST one per exercise (the final state), in the
    order the exercises were first checked. Malformed lines are skipped."""
    last: dict[str, Mapping[str, Any]] = {}
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("exercise"), str):
            last[rec["exercise"]] = rec
    return list(last.values())


# --------------------------------------------------------------------------- the worker

def _worker(argv: Sequence[str]) -> int:
    """Inside the worker process: execute one notebook, print one JSON line with the outcome."""
    import argparse
    p = argparse.ArgumentParser(prog="python -m labkit.grading.run")
    p.add_argument("--notebook", required=True)
    p.add_argument("--timeout", type=float, required=True)
    p.add_argument("--executed", required=True)
    p.add_argument("--pidfile", required=True)
    p.add_argument("--kernel", default="python3")
    p.add_argument("--engine", default="sim")
    a = p.parse_args(argv)
    report = _execute(Path(a.notebook), a.timeout, Path(a.executed), Path(a.pidfile), a.kernel)
    if a.engine == "docker":
        report["cleaned"] = _clean_docker_session()
    print(json.dumps(report), flush=True)
    return 0


def _execute(nb_path: Path, timeout: float, executed: Path, pidfile: Path, kernel: str) -> dict:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    try:
        nb = nbformat.read(str(nb_path), as_version=4)
    except Exception as exc:  # unreadable JSON, not a notebook ...
        return {"status": "error", "error": f"cannot read {nb_path.name}: {type(exc).__name__}: {exc}"}
    deadline = [time.monotonic() + timeout]   # restarted once the kernel is up

    def remaining(_cell: Any) -> int:
        return max(1, int(deadline[0] - time.monotonic() + 0.999))

    def started(**_kw: Any) -> None:
        deadline[0] = time.monotonic() + timeout
        pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
        if pid:
            pidfile.write_text(str(pid))

    client = NotebookClient(nb, kernel_name=kernel, timeout_func=remaining, startup_timeout=60,
                            allow_errors=False, interrupt_on_timeout=False,
                            shutdown_kernel="immediate", on_notebook_start=started,
                            resources={"metadata": {"path": str(nb_path.parent)}})
    report: dict[str, Any] = {"status": "ok", "error": ""}
    try:
        client.execute()
    except CellTimeoutError:
        report = {"status": "timeout", "error": f"still running after {timeout:g} s"}
    except DeadKernelError as exc:
        over = time.monotonic() >= deadline[0]
        report = {"status": "timeout" if over else "error", "error": f"the kernel died: {exc}"}
    except CellExecutionError as exc:
        report = {"status": "error", "error": _short_error(exc)}
    except Exception as exc:  # the kernel would not start, ...
        report = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    try:
        nbformat.write(nb, str(executed))
    except Exception:  # the executed copy is a convenience only
        pass
    return report


def _short_error(exc: Exception) -> str:
    name, value = getattr(exc, "ename", ""), getattr(exc, "evalue", "")
    if name:
        return f"{name}: {value}"[:2000]
    return re.sub(r"\x1b\[[0-9;]*m", "", str(exc))[-2000:]


def _clean_docker_session() -> int:
    """Remove what this run's kernel made in Docker (same LABKIT_SESSION, so same label)."""
    try:
        return len(connect("docker", quiet=True).clean(session_only=True))
    except Exception:
        return -1


# --------------------------------------------------------------------------- the batch

def grade(submissions: str | Path, *, engine: str = "sim", timeout: float = 300, workers: int = 2,
          out: str | Path | None = None, exercises: Iterable[str] = (), kernel: str = "python3",
          progress: Any = None) -> GradeReport:
    """Run every submission (``workers`` at a time) and write grades.csv and the HTML pages."""
    if engine not in ("sim", "docker"):
        raise ExerciseError(f"unknown engine {engine!r}", fix="use --engine sim or --engine docker")
    subs = find_submissions(submissions)
    if not subs:
        raise ExerciseError(f"no notebooks in {submissions}",
                            fix="put <student>/*.ipynb or <student>.ipynb in it")
    out = Path(out) if out else Path(submissions).resolve().parent / "grades"
    out.mkdir(parents=True, exist_ok=True)
    work = out
    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        futures = [pool.submit(run_submission, s, engine=engine, timeout=timeout, workdir=work,
                               kernel=kernel) for s in subs]
        outcomes = []
        for f in futures:
            outcome = f.result()
            outcomes.append(outcome)
            if progress:
                progress(outcome)
    rows = make_rows(outcomes, exercises)
    csv_path = write_csv(rows, out / "grades.csv")
    pages = write_student_pages(rows, outcomes, out / "students")
    write_exercise_pages(rows, out / "exercises")
    summary = write_summary(rows, outcomes, out / "summary.html")
    return GradeReport(tuple(rows), tuple(outcomes), csv_path, summary, pages)


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
            seen_max.setdefault(r["exercise"], int(r.get("max_points", 0)))
            if r["exercise"] not in wanted:
                wanted.append(r["exercise"])
    wanted.sort()
    students = list(dict.fromkeys(o.student for o in sorted(outcomes, key=lambda o: o.student)))
    rows: list[GradeRow] = []
    for student in students:
        runs = [o for o in outcomes if o.student == student]
        got: dict[str, Mapping[str, Any]] = {}
        for o in runs:
            for r in o.results:
                got[r["exercise"]] = r
        bad = next((o.status for o in runs if o.status in ("timeout", "error")), None)
        for ex in wanted:
            r = got.get(ex)
            if r is None:
                rows.append(GradeRow(student, ex, 0, _max_points(ex, seen_max), bad or "missing"))
            else:
                msgs = tuple(str(c.get("message", "")) for c in r.get("checks", ())) or \
                    tuple(map(str, r.get("messages", ())))
                mx = _max_points(ex, {ex: int(r.get("max_points", 0))})
                pts = max(0, min(int(r.get("points", 0)), mx))
                status = "passed" if pts == mx and r.get("passed") else ("partial" if pts else "failed")
                rows.append(GradeRow(student, ex, pts, mx, status, msgs))
        for o in runs:
            if o.status != "ok":
                rows.append(GradeRow(student, NOTEBOOK_ROW, 0, 0, o.status,
                                     (f"{o.notebook.name}: {o.error}",)))
    return rows


# --------------------------------------------------------------------------- writing

def write_csv(rows: Sequence[GradeRow], path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_FIELDS)
        for r in rows:
            w.writerow((r.student, r.exercise, r.points, r.max_points, r.status))
    return path


_CSS = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left}"
        ".passed{background:#dafbe1}.partial{background:#fff8c5}.failed,.error,.timeout"
        "{background:#ffebe9}.missing{background:#f6f8fa}")


def _page(title: str, body: str) -> str:
    t = html.escape(title)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{t}</title>"
            f"<style>{_CSS}</style></head><body><h1>{t}</h1>{body}</body></html>\n")


def _cell(text: Any, cls: str = "") -> str:
    return f"<td class='{html.escape(cls)}'>{html.escape(str(text))}</td>" if cls else \
        f"<td>{html.escape(str(text))}</td>"


def write_student_pages(rows: Sequence[GradeRow], outcomes: Sequence[RunOutcome],
                        folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    pages: dict[str, Path] = {}
    for student in dict.fromkeys(r.student for r in rows):
        mine = [r for r in rows if r.student == student]
        pts, mx = sum(r.points for r in mine), sum(r.max_points for r in mine)
        body = [f"<p>Total: <b>{pts} / {mx}</b> points</p><table><tr><th>exercise</th><th>points</th>"
                "<th>max</th><th>status</th><th>details</th></tr>"]
        for r in mine:
            details = "<br>".join(html.escape(m) for m in r.messages)
            body.append(f"<tr>{_cell(r.exercise)}{_cell(r.points)}{_cell(r.max_points)}"
                        f"{_cell(r.status, r.status)}<td>{details}</td></tr>")
        body.append("</table><h2>Runs</h2><ul>")
        for o in outcomes:
            if o.student == student:
                err = f": {html.escape(o.error)}" if o.error else ""
                body.append(f"<li>{html.escape(o.notebook.name)} &mdash; {html.escape(o.status)} in "
                            f"{o.seconds:.1f} s{err}</li>")
        body.append("</ul>")
        path = folder / f"{safe_name(student)}.html"
        path.write_text(_page(f"labkit grades: {student}", "".join(body)), encoding="utf-8")
        pages[student] = path
    return pages


def write_exercise_pages(rows: Sequence[GradeRow], folder: Path) -> dict[str, Path]:
    """One page per exercise: every student's points, status and check messages."""
    folder.mkdir(parents=True, exist_ok=True)
    pages: dict[str, Path] = {}
    for ex in dict.fromkeys(r.exercise for r in rows if r.exercise != NOTEBOOK_ROW):
        body = ["<table><tr><th>student</th><th>points</th><th>max</th><th>status</th>"
                "<th>details</th></tr>"]
        for r in (r for r in rows if r.exercise == ex):
            details = "<br>".join(html.escape(m) for m in r.messages)
            body.append(f"<tr>{_cell(r.student)}{_cell(r.points)}{_cell(r.max_points)}"
                        f"{_cell(r.status, r.status)}<td>{details}</td></tr>")
        body.append("</table>")
        path = folder / f"{safe_name(ex)}.html"
        path.write_text(_page(f"labkit grades: exercise {ex}", "".join(body)), encoding="utf-8")
        pages[ex] = path
    return pages


def write_summary(rows: Sequence[GradeRow], outcomes: Sequence[RunOutcome], path: Path) -> Path:
    exercises = [e for e in dict.fromkeys(r.exercise for r in rows) if e != NOTEBOOK_ROW]
    students = list(dict.fromkeys(r.student for r in rows))
    statuses = ("passed", "partial", "failed", "missing", "error", "timeout")
    body = ["<h2>Per exercise</h2><table><tr><th>exercise</th><th>max</th><th>mean points</th>"
            + "".join(f"<th>{s}</th>" for s in statuses) + "</tr>"]
    for ex in exercises:
        mine = [r for r in rows if r.exercise == ex]
        mean = sum(r.points for r in mine) / len(mine) if mine else 0.0
        counts = "".join(_cell(sum(1 for r in mine if r.status == s)) for s in statuses)
        link = f"<a href='exercises/{html.escape(safe_name(ex))}.html'>{html.escape(ex)}</a>"
        body.append(f"<tr><td>{link}</td>{_cell(max(r.max_points for r in mine))}{_cell(f'{mean:.2f}')}"
                    f"{counts}</tr>")
    body.append("</table><h2>Per student</h2><table><tr><th>student</th><th>points</th><th>max</th>"
                "<th>run</th><th>seconds</th></tr>")
    for st in students:
        mine = [r for r in rows if r.student == st]
        runs = [o for o in outcomes if o.student == st]
        run = next((o.status for o in runs if o.status != "ok"), "ok")
        link = f"<a href='students/{html.escape(safe_name(st))}.html'>{html.escape(st)}</a>"
        body.append(f"<tr><td>{link}</td>{_cell(sum(r.points for r in mine))}"
                    f"{_cell(sum(r.max_points for r in mine))}{_cell(run, '' if run == 'ok' else run)}"
                    f"{_cell(f'{sum(o.seconds for o in runs):.1f}')}</tr>")
    body.append("</table>")
    path.write_text(_page("labkit grades", "".join(body)), encoding="utf-8")
    return path


if __name__ == "__main__":
    raise SystemExit(_worker(sys.argv[1:]))
