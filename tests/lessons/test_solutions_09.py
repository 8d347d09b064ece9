"""Lesson 09's reference solution passes on BOTH engines (model registry / real docker-registry);
wrong attempts do not."""
from __future__ import annotations


import pytest

from requirekit import skip_unless_required
from solutionkit import load_solutions

import labkit
from labkit.daemon.registry import RealRegistry, open_registry, push


def _solutions():
    return load_solutions("09.py").SOLUTIONS


@pytest.fixture
def registry(engine):
    if engine.name == "docker" and not RealRegistry.available():
        skip_unless_required("LABKIT_REQUIRE_DOCKER", "docker-registry is not installed")
    with open_registry(engine) as reg:
        yield reg


def test_reference_solution_passes(engine, registry, tmp_path):
    kwargs = _solutions()["09-a"](engine, tmp_path, registry)
    result = labkit.check("09-a", engine=engine, **kwargs)
    assert result.passed, str(result)
    assert result.points == result.max_points


def test_unrelated_versions_fail(engine, registry, tmp_path):
    context = labkit.example("dist09", tmp_path / "ctx")
    v1 = engine.build(context, dockerfile="Dockerfile.v1", tag="ship-w:v1")
    # a different shared file: v2's COPY layer is new content, so it shares nothing but the base
    # (--no-cache alone would not do: the simulator's layers are deterministic, equal content
    # gives the same blob)
    (context / "app.txt").write_text((context / "app.txt").read_text() + "changed for v2\n")
    v2 = engine.build(context, dockerfile="Dockerfile.v2", tag="ship-w:v2")
    push(engine, registry, v1.image, "ship-w:v1")
    push(engine, registry, v2.image, "ship-w:v2")
    result = labkit.check("09-a", registry=registry, image="ship-w:v1", other="ship-w:v2", engine=engine)
    assert not result.passed
    assert any("uploaded again" in m for m in result.messages), str(result)


def test_nothing_pushed_fails_gracefully(engine, registry):
    result = labkit.check("09-a", registry=registry, image="ship-none:v1", other=None, engine=engine)
    assert not result.passed and result.points == 0
