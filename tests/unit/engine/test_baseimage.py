"""The base layer is made once per busybox file: repeated calls reuse it, a changed busybox
(rewritten in place, or replaced by another file) gives a new layer, and the cached diffID is
the one the real daemon computes for the base image."""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import time

import pytest

from labkit.engine import baseimage
from labkit.engine.baseimage import base_diff_id, base_layer, base_layer_tar, base_tag, find_busybox


@pytest.fixture
def busybox_copy(tmp_path, monkeypatch):
    """A private copy of the static busybox, used through LABKIT_BUSYBOX."""
    path = tmp_path / "bb" / "busybox"
    path.parent.mkdir()
    shutil.copy2(find_busybox(), path)
    monkeypatch.setenv("LABKIT_BUSYBOX", str(path))
    return path


def _member(tar_bytes: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        return tar.extractfile(name).read()   # type: ignore[union-attr]


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def test_a_second_call_does_not_rebuild(busybox_copy):
    first, cold = _timed(base_layer_tar)                  # a new file: nothing cached for it
    warm = min(_timed(base_layer_tar)[1] for _ in range(5))
    assert base_layer_tar() is first                      # the very same bytes, not made again
    assert base_diff_id() == "sha256:" + hashlib.sha256(first).hexdigest()
    assert warm * 5 < cold, (cold, warm)
    assert _member(first, "bin/busybox") == busybox_copy.read_bytes()
    # callers get their own dict: changing it does not change the next caller's layer
    mine = base_layer()
    mine.pop("bin/busybox")
    assert "bin/busybox" in base_layer() and base_layer_tar() is first


def test_a_changed_busybox_gives_a_new_layer(busybox_copy):
    original = busybox_copy.read_bytes()
    d1 = base_diff_id()
    # rewritten in place (same inode): the size and mtime change
    with open(busybox_copy, "ab") as f:
        f.write(b"\0labkit")
    assert subprocess.run([str(busybox_copy), "true"]).returncode == 0   # still runs
    d2 = base_diff_id()
    assert d2 != d1 and base_tag(d2) != base_tag(d1)
    assert _member(base_layer_tar(), "bin/busybox") == original + b"\0labkit"
    # replaced by another file of the same size and mtime: the inode tells them apart
    st = busybox_copy.stat()
    other = busybox_copy.with_name("next")
    other.write_bytes(original + b"\0LABKIT")
    os.chmod(other, 0o755)
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, busybox_copy)
    d3 = base_diff_id()
    assert d3 not in (d1, d2)
    assert _member(base_layer_tar(), "bin/busybox") == original + b"\0LABKIT"
    # the same bytes again make the same layer (the digest depends on content only)
    fresh = busybox_copy.with_name("again")
    fresh.write_bytes(original)
    os.chmod(fresh, 0o755)
    os.replace(fresh, busybox_copy)
    assert base_diff_id() == d1


def test_the_cached_diff_id_is_the_daemons(docker_engine, docker_client):
    ref = docker_engine.base_image()
    assert docker_client.api.inspect_image(ref.id)["RootFS"]["Layers"] == [base_diff_id()]
    assert base_tag(base_diff_id()) in ref.tags


def test_a_missing_busybox_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_BUSYBOX", str(tmp_path / "nothing"))
    with pytest.raises(baseimage.EngineUnavailable, match="LABKIT_BUSYBOX"):
        base_diff_id()
