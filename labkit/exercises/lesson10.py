"""Lesson 10: storage drivers — vfs copies the whole tree into every layer, so what a layer
stack costs there depends on the ORDER of the layers."""
from __future__ import annotations

from ..daemon.storage import model_use
from ..fs.layers import merge
from .spec import Check, Exercise, Verdict, failed, passed

BIG = "data/big.bin"
BIG_SIZE = 2_000_000
FILES = ("data/big.bin", "data/notes.txt", "data/small.txt")


def _tree(s):
    return s.memo("tree", lambda: merge(s.layer_dirs()))


def _same_files(s) -> Verdict:
    tree = _tree(s)
    missing = [f"/{p}" for p in FILES if p not in tree or tree[p].kind != "file"]
    if missing:
        return failed(f"your image lacks {', '.join(missing)}")
    if tree[BIG].size != BIG_SIZE:
        return failed(f"/{BIG} holds {tree[BIG].size} bytes, not {BIG_SIZE}")
    return passed()


def _layers(s) -> Verdict:
    n = s.layer_count() - 1
    return passed() if n >= 3 else failed(f"your image has {n} layer(s) of its own, not 3")


def _big_last(s) -> Verdict:
    dirs = s.layer_dirs()
    where = [i for i, layer in enumerate(dirs) if BIG in layer and layer[BIG].kind == "file"]
    if not where:
        return failed(f"no layer adds /{BIG}")
    return passed() if where == [len(dirs) - 1] else failed(
        f"/{BIG} is written in layer {where[0]} of {len(dirs) - 1}: every vfs layer above it copies it")


def _cheaper(s) -> Verdict:
    dirs = s.layer_dirs()
    vfs, overlay2 = sum(model_use(dirs, "vfs")), sum(model_use(dirs, "overlay2"))
    # with the big file last it is stored once by vfs too: vfs pays only the small layers' copies
    return passed() if vfs - overlay2 < BIG_SIZE else failed(
        "under vfs your image still stores the big file more than once")


EXERCISES = (
    Exercise(
        id="10-a", title="Order layers for vfs",
        task="Rebuild disk10's image (the same three files) with 3 layers of its own, ordered so "
             "that under vfs the 2 MB file is stored only once.",
        params=("image",),
        checks=(
            Check("same-files", _same_files, 1, success="the image has disk10's three files",
                  failure="the image should hold /data/big.bin (2,000,000 bytes), /data/notes.txt "
                          "and /data/small.txt",
                  hints=("Start from labkit.example('disk10') and keep its three steps.",)),
            Check("own-layers", _layers, 1, success="three layers of its own",
                  failure="keep three layers of its own (one per step)",
                  hints=("Each RUN and COPY makes one layer: do not merge the steps.",)),
            Check("big-last", _big_last, 3, success="the big file is written by the top layer",
                  failure="the big file should be written by the top layer",
                  hints=("Under vfs each layer's directory is a full copy of everything below it.",
                         "A file written early is copied into every later layer's directory.",
                         "Move the RUN that writes /data/big.bin to the end of the Dockerfile.")),
            Check("stored-once", _cheaper, 1, hidden=True, success="vfs stores the big file once",
                  failure="vfs should store the big file once"),
        )),
)
