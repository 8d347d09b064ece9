"""Reference solutions of lesson 05's exercises (kept out of the learners' notebook).

Each function does the exercise on ``engine`` (building and saving in ``work``, a scratch
directory) and returns the keyword arguments to pass to ``labkit.check``::

    kwargs = SOLUTIONS["05-c"](engine, work)
    labkit.check("05-c", engine=engine, **kwargs)
"""
from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path

import labkit
from labkit.exercises.materials import material


def diff_ids(saved: Path) -> list[str]:
    """The diffIDs of a ``docker save`` tar, bottom first, computed without labkit: the sha256
    of each layer's uncompressed tar, in the order manifest.json lists the layers."""
    with tarfile.open(saved) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        out = []
        for member in manifest[0]["Layers"]:
            data = tar.extractfile(member).read()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            out.append("sha256:" + hashlib.sha256(data).hexdigest())
        return out


def solve_05a(engine, work: Path) -> dict:
    return {"answer": diff_ids(material("05-a", Path(work) / "05a"))[1]}


def solve_05b(engine, work: Path) -> dict:
    record = engine.build(labkit.example("share05", Path(work) / "05b"), dockerfile="Dockerfile.a",
                          tag="own05")
    saved = engine.save(record.image, Path(work) / "own05.tar")
    return {"image": record.image, "answer": diff_ids(saved)[-1]}


def solve_05c(engine, work: Path) -> dict:
    context = labkit.example("share05", Path(work) / "05c")
    a = engine.build(context, dockerfile="Dockerfile.a", tag="share-a")
    b = engine.build(context, dockerfile="Dockerfile.b", tag="share-b")   # cache: same COPY layer
    return {"image": a.image, "other": b.image}


SOLUTIONS = {"05-a": solve_05a, "05-b": solve_05b, "05-c": solve_05c}
