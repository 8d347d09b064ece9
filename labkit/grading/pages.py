"""HTML pages of a graded batch: ``summary.html`` (per exercise and per student), one page
per student (``students/<student>.html``: rows, check messages, runs) and one per exercise
(``exercises/<id>.html``). Every student-supplied text is escaped.
"""
from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any, Sequence

from .scores import NOTEBOOK_ROW, GradeRow, RunOutcome

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CSS = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left}"
        ".passed{background:#dafbe1}.partial{background:#fff8c5}.failed,.error,.timeout"
        "{background:#ffebe9}.missing{background:#f6f8fa}")


def safe_name(student: str) -> str:
    """A student's (or exercise's) name as a file name: pages, logs and executed notebooks."""
    return _SAFE.sub("_", student).strip("._") or "student"


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
