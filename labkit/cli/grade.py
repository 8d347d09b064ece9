"""Grade submitted notebooks: run each in a fresh kernel and collect its check() results."""
from __future__ import annotations

import argparse
import os

from ..formatting import escape_controls as esc
from ..grading.run import grade
from .common import check_output, count, seconds


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (__doc__ or "") + (
        " Reads SUBMISSIONS_DIR/<student>/*.ipynb or SUBMISSIONS_DIR/<student>.ipynb; writes "
        "grades.csv, summary.html and students/<student>.html to --out. Notebooks are "
        "untrusted code: grade in a throwaway VM or container.")
    parser.add_argument("submissions", metavar="SUBMISSIONS_DIR")
    parser.add_argument("--engine", choices=("sim", "docker"), default="sim",
                        help="engine the notebooks' labkit.connect() uses (default: sim)")
    parser.add_argument("--timeout", type=seconds, default=300, metavar="S",
                        help="seconds each notebook may run in total (default: 300)")
    parser.add_argument("--workers", type=count(1), default=max(1, min(4, os.cpu_count() or 1)),
                        metavar="N", help="notebooks run at the same time (default: CPUs, at most 4)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="where to write the grades (default: grades/ beside SUBMISSIONS_DIR)")
    parser.add_argument("--exercises", default="", metavar="IDS",
                        help="comma-separated exercise ids every student should have checked")
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name (default: python3)")


def run(args: argparse.Namespace) -> int:

    def progress(o) -> None:
        pts, mx = o.logged_points
        note = f" ({esc(o.error.splitlines()[0][:100])})" if o.error else ""
        print(f"{esc(o.student)}: {esc(o.notebook.name)} {o.status} in {o.seconds:.1f} s, "
              f"{pts}/{mx} points checked{note}", flush=True)

    if args.out is not None:
        check_output(args.out, "grades", directory=True)     # before any notebook runs
    report = grade(args.submissions, engine=args.engine, timeout=args.timeout,
                   workers=args.workers, out=args.out, kernel=args.kernel, progress=progress,
                   exercises=[e.strip() for e in args.exercises.split(",") if e.strip()])
    students = list(dict.fromkeys(r.student for r in report.rows))
    for s in students:
        pts, mx = report.total(s)
        print(f"  {esc(s):<24} {pts:>4} / {mx}")
    print(f"{len(students)} student(s) graded: {esc(str(report.csv_path))}, {esc(str(report.summary_path))}")
    return 0
