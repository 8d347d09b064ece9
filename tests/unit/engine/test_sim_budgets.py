"""The simulator engine's memory budget: ``SimEngine(limits=...)`` (default
``oci.limits.current()`` at each call) bounds the file content one image holds, checked
before the content is read (``labkit.sim.budget``)."""
from __future__ import annotations

import gzip
import io
import tarfile
import tracemalloc

import pytest

from labkit.engine.sim import SimEngine
from labkit.errors import LimitExceeded
from labkit.fs.node import Node
from labkit.oci.image import Image
from labkit.oci.limits import Limits
from labkit.oci.tar.writer import layer_bytes
from labkit.oci.write import write_image_tar
from labkit.sim.budget import content_bytes

KIB, MIB = 1 << 10, 1 << 20


def _saved(tmp_path, *layers: dict, name: str = "img.tar"):
    dest = tmp_path / name
    write_image_tar([layer_bytes(layer) for layer in layers], {"config": {}}, dest,
                    repo_tags=["budget/test:1"])
    return dest


def test_load_over_the_budget_names_the_image_the_limit_and_the_fix(tmp_path):
    src = _saved(tmp_path, {"a": Node.file(bytes(600 * KIB))}, {"b": Node.file(bytes(600 * KIB))})
    engine = SimEngine(limits=Limits(memory_bytes=MIB))
    with pytest.raises(LimitExceeded) as err:
        engine.load(src)
    exc = err.value
    assert (exc.limit, exc.value, exc.allowed) == ("memory_bytes", 1200 * KIB, MIB)
    assert f"image {src}" in str(exc) and "up to layer 1" in str(exc)
    assert "--limit memory_bytes=N" in str(exc) and "LABKIT_LIMITS=memory_bytes=N" in str(exc)
    assert engine.images() == []


def test_load_checks_before_reading_any_content(tmp_path, monkeypatch):
    size = 96 * MIB
    src = _saved(tmp_path, {"big": Node.file(bytes(size))})
    read = []
    real = Image.layer_dir
    monkeypatch.setattr(Image, "layer_dir", lambda self, *a, **k: read.append(a) or real(self, *a, **k))
    engine = SimEngine(limits=Limits(memory_bytes=MIB))
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded):
            engine.load(src)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read == []            # no layer was read with its content
    assert peak < size, f"held {peak} bytes"   # (the verification's own buffers are fixed)


def test_load_just_under_the_budget(tmp_path):
    src = _saved(tmp_path, {"a": Node.file(bytes(600 * KIB))}, {"b": Node.file(bytes(424 * KIB))})
    engine = SimEngine(limits=Limits(memory_bytes=MIB))
    refs = engine.load(src)
    img = engine.image(refs[0])
    assert content_bytes(img.layers) == MIB
    assert img.layers[0]["a"].data == bytes(600 * KIB)


def test_limits_default_to_the_environment_at_each_call(monkeypatch):
    engine = SimEngine()
    monkeypatch.setenv("LABKIT_LIMITS", "memory_bytes=1234")
    assert engine.limits.memory_bytes == 1234
    monkeypatch.delenv("LABKIT_LIMITS")
    assert engine.limits == Limits()
    assert SimEngine(limits=Limits(memory_bytes=5)).limits.memory_bytes == 5


def test_build_keeps_to_the_engine_budget(tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    with gzip.open(ctx / "z.tar.gz", "wb") as gz, tarfile.open(fileobj=gz, mode="w|") as tf:
        ti = tarfile.TarInfo("zero")
        ti.size = 2 * MIB
        tf.addfile(ti, io.BytesIO(bytes(2 * MIB)))
    (ctx / "Dockerfile").write_text("FROM scratch\nADD z.tar.gz /x/\n")
    with pytest.raises(LimitExceeded) as err:
        SimEngine(limits=Limits(memory_bytes=MIB)).build(ctx)
    assert err.value.limit == "memory_bytes" and "ADD z.tar.gz" in str(err.value)
    record = SimEngine(limits=Limits(memory_bytes=4 * MIB)).build(ctx)
    assert record.ok
