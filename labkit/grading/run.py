"""Running the batch: find the submitted notebooks, run each one in its own worker process
(a fresh kernel, with a time limit), then score the runs (``scores``) and write the pages
(``pages``).

Each run gets a fresh grade log (``labkit.exercises.log``: ``LABKIT_GRADE_LOG`` names it, so
hidden checks run in the kernel) and its ``LABKIT_SESSION``. The worker is this module,
started as ``python -m labkit.grading.run``: it executes the notebook with nbclient and prints
one JSON line with the outcome. A notebook that raises keeps the points of the checks it
reached; an endless one is stopped at the limit (the worker's process group and the kernel it
started are killed after a grace period). Neither stops the batch.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..engine.connect import connect
from ..errors import ExerciseError
from ..exercises.log import GRADE_LOG_ENV, create, read_log
from .pages import safe_name, write_exercise_pages, write_student_pages, write_summary
from .scores import GradeRow, RunOutcome, make_rows, write_csv

_GRACE = 60                            # seconds the worker gets beyond the notebook's limit


# --------------------------------------------------------------------------- values

@dataclass(frozen=True)
class Submission:
    student: str
    notebook: Path


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
    # absolute: each run works in its student's folder, where a relative path means another place
    out = Path(out).resolve() if out else Path(submissions).resolve().parent / "grades"
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
    with contextlib.suppress(OSError):
        (work / "tmp").rmdir()             # each run removed its own temp dir
    rows = make_rows(outcomes, exercises)
    csv_path = write_csv(rows, out / "grades.csv")
    pages = write_student_pages(rows, outcomes, out / "students")
    write_exercise_pages(rows, out / "exercises")
    summary = write_summary(rows, outcomes, out / "summary.html")
    return GradeReport(tuple(rows), tuple(outcomes), csv_path, summary, pages)


# --------------------------------------------------------------------------- running one

def run_submission(sub: Submission, *, engine: str, timeout: float, workdir: Path,
                   kernel: str = "python3") -> RunOutcome:
    """Run one notebook in a worker process (which starts a fresh kernel); never raises for
    what the notebook does."""
    tag = f"{safe_name(sub.student)}-{secrets.token_hex(3)}"
    log = workdir / "logs" / f"{tag}.jsonl"
    pidfile = workdir / "logs" / f"{tag}.kernel-pid"
    executed = workdir / "executed" / safe_name(sub.student) / sub.notebook.name
    tmp = workdir / "tmp" / tag        # the submission's temp dir: removed after its run
    for p in (log.parent, executed.parent, tmp):
        p.mkdir(parents=True, exist_ok=True)
    create(log)
    env = {**os.environ, GRADE_LOG_ENV: str(log), "LABKIT_ENGINE": engine, "TMPDIR": str(tmp),
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
    shutil.rmtree(tmp, ignore_errors=True)
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


# --------------------------------------------------------------------------- the worker

def _worker(argv: Sequence[str]) -> int:
    """Inside the worker process: execute one notebook, print one JSON line with the outcome."""
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


if __name__ == "__main__":
    raise SystemExit(_worker(sys.argv[1:]))
