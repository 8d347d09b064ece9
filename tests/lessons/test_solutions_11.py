"""Lesson 11's capstone: the reference solution (solutions/11/) earns every point on BOTH
engines, hidden checks included; partial fixes earn partial points, with hints that get more
specific; the size limit is measured against the bad image built on the same engine."""
from __future__ import annotations

import json
import shutil

import pytest
from layout import ROOT
from solutionkit import load_solutions

import labkit
from labkit.lessons.lesson11 import capstone_context, edit_source


# a half fix: one RUN does everything, but COPY . still copies the key and precedes the install
HALF_FIX = """\
FROM labkit/base
COPY . /app/
RUN mkdir -p /opt/deps/lib && cp /app/deps.txt /opt/deps/installed && dd if=/dev/zero of=/tmp/b bs=1024 count=600 2>/dev/null && dd if=/tmp/b of=/opt/deps/lib/libdeps.so bs=1024 count=100 2>/dev/null && rm /tmp/b /app/id_rsa
CMD ["sh", "/app/src/main.sh"]
"""


def _solve():
    return load_solutions("11/solve.py").SOLUTIONS["11-a"]


@pytest.fixture(scope="module")
def solved(engine, tmp_path_factory):
    return _solve()(engine, tmp_path_factory.mktemp(f"s11-{engine.name}"))


def test_reference_solution_earns_every_point(engine, solved):
    result = labkit.check("11-a", engine=engine, **solved)
    assert result.passed and result.points == result.max_points == 9, str(result)
    assert result.hidden_pending == 2


def test_reference_solution_passes_the_hidden_checks_when_graded(engine, solved, tmp_path, monkeypatch):
    log = tmp_path / "grade.jsonl"
    monkeypatch.setenv("LABKIT_GRADE_LOG", str(log))
    result = labkit.check("11-a", engine=engine, **solved)
    assert result.passed and (result.points, result.max_points) == (11, 11), str(result)
    record = json.loads(log.read_text().splitlines()[-1])
    assert {c["name"] for c in record["checks"] if c["hidden"]} == {"app-runs", "few-layers"}


def test_the_bad_image_itself_earns_only_the_build_point(engine, solved):
    bad = solved["bad"]
    first = labkit.check("11-a", record=bad, bad=bad, engine=engine)
    assert (first.points, first.max_points) == (1, 9) and not first.passed
    assert any("limit is" in m for m in first.messages)
    assert any("/app/id_rsa" in m or "/root/.ssh/id_rsa" in m for m in first.messages)
    levels = [labkit.check("11-a", record=bad, bad=bad, engine=engine) for _ in range(3)]
    hints = [first.hint] + [r.hint for r in levels]
    assert [first.hint_level] + [r.hint_level for r in levels] == [1, 2, 3, 3]
    assert len(set(hints[:3])) == 3 and hints[2] == hints[3]


def test_a_half_fix_earns_partial_points(engine, solved, tmp_path):
    context = capstone_context(tmp_path / "half")
    (context / "half.Dockerfile").write_text(HALF_FIX)
    assert engine.build(context, dockerfile="half.Dockerfile", tag="half11").ok
    edit_source(context)
    again = engine.build(context, dockerfile="half.Dockerfile", tag="half11")
    result = labkit.check("11-a", record=again, bad=solved["bad"], engine=engine)
    assert not result.passed and result.points == 5, str(result)      # built, size, efficiency
    failed = [m for m in result.messages if m.startswith("\u2718")]
    assert len(failed) == 2
    assert any("layer 1 holds /app/id_rsa" in m for m in failed)
    assert any("a dependency step" in m and "was rebuilt" in m for m in failed)


def test_a_rebuild_without_a_source_edit_does_not_prove_the_cache(engine, solved, tmp_path):
    context = capstone_context(tmp_path / "same")
    shutil.copy(ROOT / "solutions" / "11" / "Dockerfile", context / "solution.Dockerfile")
    assert engine.build(context, dockerfile="solution.Dockerfile", tag="same11").ok
    unchanged = engine.build(context, dockerfile="solution.Dockerfile", tag="same11")
    assert all(st.cached for st in unchanged.steps if st.keyword in ("COPY", "RUN"))
    result = labkit.check("11-a", record=unchanged, bad=solved["bad"], engine=engine)
    assert not result.passed and result.points == 7, str(result)
    assert any("every COPY came from the cache" in m for m in result.messages)


# passes every visible check, but ships no dependencies and stacks empty layers
SNEAKY = (ROOT / "solutions" / "11" / "Dockerfile").read_text().replace(
    "COPY --from=deps /opt/deps/ /opt/deps/\n",
    "RUN mkdir -p /opt/a\nRUN mkdir -p /opt/b\nRUN mkdir -p /opt/c\nRUN mkdir -p /opt/d\n")


def test_hidden_checks_catch_what_the_visible_ones_miss(engine, solved, tmp_path, monkeypatch):
    assert "COPY --from" not in SNEAKY
    context = capstone_context(tmp_path / "sneaky")
    (context / "sneaky.Dockerfile").write_text(SNEAKY)
    from labkit.lessons.lesson11 import build_and_rebuild
    record = build_and_rebuild(engine, context, "sneaky.Dockerfile", tag="sneaky11")
    visible = labkit.check("11-a", record=record, bad=solved["bad"], engine=engine)
    assert visible.passed and visible.points == 9, str(visible)
    log = tmp_path / "grade.jsonl"
    monkeypatch.setenv("LABKIT_GRADE_LOG", str(log))
    graded = labkit.check("11-a", record=record, bad=solved["bad"], engine=engine)
    assert not graded.passed and (graded.points, graded.max_points) == (9, 11), str(graded)
    checks = {c["name"]: c["passed"] for c in json.loads(log.read_text().splitlines()[-1])["checks"]}
    assert checks["app-runs"] is False and checks["few-layers"] is False
