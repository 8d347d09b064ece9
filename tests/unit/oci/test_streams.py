"""Readers on streams that cannot seek: ``docker save x | labkit flatten /dev/stdin``.

A saved image arrives through a pipe (a file object, or a path such as ``/dev/fd/N``), and a
layer tar (plain or gzip) through a pipe that returns a few bytes per read. Expected names and
digests come from the standard library's tarfile and hashlib.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from tarkit import make_layer

from labkit.analysis.efficiency import analyze
from labkit.errors import LimitExceeded
from labkit.oci.flatten import flatten
from labkit.oci.image import open_image
from labkit.oci.limits import Limits
from labkit.oci.tar.reader import iter_entries

LAYERS = [make_layer(("d", "app"), ("f", "app/main.py", b"print('hi')\n"), ("f", "app/big", bytes(300_000))),
          make_layer(("d", "app"), ("w", "app/big"), ("f", "app/new", b"new\n"))]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_bytes(layers: list[bytes]) -> bytes:
    """A legacy docker-save tar, written with tarfile."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha(la) for la in layers]}}).encode()
    name = hashlib.sha256(config).hexdigest() + ".json"
    members = {"manifest.json": json.dumps([{"Config": name, "RepoTags": ["pipe:1"],
                                             "Layers": [f"l{i}/layer.tar" for i in range(len(layers))]}]).encode(),
               name: config, **{f"l{i}/layer.tar": la for i, la in enumerate(layers)}}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for n, data in members.items():
            info = tarfile.TarInfo(n)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@contextmanager
def pipe(data: bytes, step: int = 4096) -> Iterator[int]:
    """The read end of a pipe a thread writes ``data`` into, ``step`` bytes at a time."""
    r, w = os.pipe()

    def feed() -> None:
        try:
            for i in range(0, len(data), step):
                os.write(w, data[i:i + step])
        except BrokenPipeError:
            pass
        finally:
            os.close(w)
    t = threading.Thread(target=feed, daemon=True)
    t.start()
    try:
        yield r
    finally:
        try:
            os.close(r)
        except OSError:
            pass
        t.join(10)


def expected() -> dict[str, str]:
    """path -> sha256 of each regular file in the merged image (tarfile + hashlib)."""
    with tarfile.open(fileobj=io.BytesIO(LAYERS[1])) as tf:
        new = tf.extractfile("app/new").read()
    return {"app/main.py": hashlib.sha256(b"print('hi')\n").hexdigest(), "app/new": hashlib.sha256(new).hexdigest()}


def files(tree: dict) -> dict[str, str]:
    return {p: n.sha256 for p, n in tree.items() if n.kind == "file"}


def test_an_image_from_a_pipe_file_object() -> None:
    data = image_bytes(LAYERS)
    with pipe(data) as r, os.fdopen(r, "rb", closefd=False) as f:
        assert not f.seekable()
        with open_image(f) as img:
            assert img.diff_ids == tuple(sha(la) for la in LAYERS)
            assert img.layers[0].tar_size == len(LAYERS[0])
    with pipe(data) as r, os.fdopen(r, "rb", closefd=False) as f:
        assert files(flatten(f)) == expected()


def test_an_image_from_a_pipe_path() -> None:
    # docker save x | labkit flatten /dev/stdin: the path names a pipe, which cannot seek
    data = image_bytes(LAYERS)
    with pipe(data) as r:
        assert files(flatten(f"/dev/fd/{r}", jobs=2)) == expected()   # no worker can reopen it
    with pipe(data) as r:
        with open_image(f"/dev/fd/{r}", verify=False) as img:
            result = analyze(img)
    assert result.final_files == 2 and result.reclaimable_bytes == 300_000


def test_the_copy_of_a_stream_keeps_to_unpacked_bytes() -> None:
    data = image_bytes(LAYERS)
    with pipe(data) as r, os.fdopen(r, "rb", closefd=False) as f:
        with pytest.raises(LimitExceeded) as err:
            open_image(f, limits=Limits(unpacked_bytes=len(data) - 1))
    assert err.value.limit == "unpacked_bytes"
    with pipe(data) as r, os.fdopen(r, "rb", closefd=False) as f:
        open_image(f, limits=Limits(unpacked_bytes=len(data))).close()


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("step", [1, 7, 512, 65536])
def test_a_layer_from_a_pipe_that_returns_little_per_read(compress: bool, step: int) -> None:
    blob = gzip.compress(LAYERS[0]) if compress else LAYERS[0]
    with tarfile.open(fileobj=io.BytesIO(LAYERS[0])) as tf:
        want = [(m.name, hashlib.sha256(tf.extractfile(m).read()).hexdigest() if m.isfile() else "")
                for m in tf]
    with pipe(blob, step) as r, os.fdopen(r, "rb", buffering=0, closefd=False) as f:
        got = [(e.path, e.node.sha256) for e in iter_entries(f)]
    assert got == want


def test_a_layer_file_given_by_path_to_flatten_keeps_workers(tmp_path: Path) -> None:
    # a regular file can be reopened by workers; the result is the same as through a pipe
    data = image_bytes(LAYERS)
    path = tmp_path / "img.tar"
    path.write_bytes(data)
    assert files(flatten(str(path), jobs=2)) == expected()
