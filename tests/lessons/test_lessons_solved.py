"""Every lesson run top to bottom in a fresh kernel on each engine, then answered in that same
kernel by its reference solutions (solutions/, kept outside the learners' notebooks): every
exercise must pass there, next to the state the lesson itself made. (nbval, run by test.sh,
checks the lessons' outputs as a learner first sees them, exercises unanswered.)"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest
from layout import ROOT
from nbclient import NotebookClient



def _solution_file(nb: Path) -> Path | None:
    lesson = nb.stem[:2]
    for path in (ROOT / "solutions" / f"{lesson}.py", ROOT / "solutions" / lesson / "solve.py"):
        if path.exists():
            return path
    return None


LESSONS = [nb for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")) if _solution_file(nb)]

ANSWER = '''
import importlib.util, inspect, pathlib, re, tempfile
import labkit
_spec = importlib.util.spec_from_file_location("lesson_solutions", {path!r})
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
_results = []
for _name, _fn in sorted(vars(_mod).items()):
    _m = re.fullmatch(r"solve_(\\d\\d)([a-z])", _name)
    if not _m or not callable(_fn):
        continue
    _extra = {{}}
    if "registry" in inspect.signature(_fn).parameters:   # the lesson stopped its own at the end
        from labkit.daemon.registry import open_registry
        _extra["registry"] = open_registry(engine).start()
    try:
        _kwargs = _fn(engine, pathlib.Path(tempfile.mkdtemp(prefix="labkit-solve-")), **_extra)
        _r = labkit.check(f"{{_m[1]}}-{{_m[2]}}", engine=engine, **_kwargs)
    finally:
        if "registry" in _extra:
            _extra["registry"].stop()
    _results.append((_r.exercise, _r.passed, _r.points, _r.max_points, str(_r)))
print(repr(_results))
'''


def test_every_lesson_with_exercises_has_solutions():
    lessons = {p.stem[:2] for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")}
    assert lessons - {nb.stem[:2] for nb in LESSONS} == {"00"}


@pytest.mark.parametrize("engine_name", ["sim", "docker"])
@pytest.mark.parametrize("notebook", LESSONS, ids=lambda p: p.stem[:2])
def test_lesson_answered_by_its_reference_solutions(notebook, engine_name, request, monkeypatch):
    if engine_name == "docker":
        request.getfixturevalue("docker_client")   # the usual skip/fail rule for Docker
    session = f"solved{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LABKIT_ENGINE", engine_name)
    monkeypatch.setenv("LABKIT_SESSION", session)
    monkeypatch.delenv("LABKIT_GRADE_LOG", raising=False)
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(ANSWER.format(path=str(_solution_file(notebook)))))
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(notebook.parent)}}).execute()
    finally:
        subprocess.run([sys.executable, "-m", "labkit", "clean", "--session"], capture_output=True,
                       env={**os.environ}, timeout=300)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("name") == "stdout")
    results = ast.literal_eval(text.strip())
    assert results, "the solutions file defines no solve_NNx function"
    assert all(r[0].startswith(notebook.stem[:2]) for r in results)
    for exercise, passed, points, max_points, shown in results:
        assert passed and points == max_points, f"{exercise} on {engine_name}:\n{shown}"
