"""Lesson 05: layers are named by the digest of their content (diffID, chainID)."""
from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

from ..oci.write import write_image_tar
from .answers import HashedAnswer, normalize
from .spec import Check, Exercise, Verdict, failed, passed

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_EPOCH = 946684800
PUZZLE = "layer-puzzle.tar"
# sha256(salt + the diffID of the puzzle's layer 1); the answer itself is not stored
_PUZZLE_ANSWER = HashedAnswer("9c4e1f0a7b3d5e21",
                              "8294a8316a60847db58f5285346c6bdec81f396870f745cbb7b1e73f5804a3e5")


def _tar(entries: list[tuple[str, bytes | None, int]]) -> bytes:
    """A deterministic layer tar: (name, data or None for a directory, mode)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = _EPOCH, mode, 0, 0, "", ""
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_puzzle(dest: Path) -> Path:
    """Three layers: a base with /etc/motd, an app layer, and a layer that edits and deletes."""
    layers = [
        _tar([("etc/", None, 0o755), ("etc/motd", b"Welcome to the layer puzzle\n", 0o644)]),
        _tar([("app/", None, 0o755), ("app/config.ini", b"[app]\ncolor = blue\n", 0o644),
              ("app/run.sh", b"#!/bin/sh\necho running\n", 0o755)]),
        _tar([("app/", None, 0o755), ("app/.wh.config.ini", b"", 0o644),
              ("etc/", None, 0o755), ("etc/motd", b"Layers all the way down\n", 0o644)]),
    ]
    created = "2000-01-01T00:00:00Z"
    config = {"created": created, "config": {"Cmd": ["/app/run.sh"]},
              "history": [{"created": created, "created_by": "ADD motd /etc/motd"},
                          {"created": created, "created_by": "COPY app/ /app/"},
                          {"created": created, "created_by": "RUN rm /app/config.ini && edit /etc/motd"}]}
    path = dest / PUZZLE
    write_image_tar(layers, config, path, repo_tags=("labkit/puzzle:05",))
    return path


def _is_digest(s) -> Verdict:
    text = normalize(s.arg("answer"))
    return passed() if _DIGEST.fullmatch(text) else failed(f"{text[:20]!r} is not sha256:<64 hex digits>")


def _puzzle(s) -> Verdict:
    return passed() if _PUZZLE_ANSWER.matches(s.arg("answer")) else failed("that is not layer 1's diffID")


def _has_own_layer(s) -> Verdict:
    n = s.layer_count()
    return passed() if n >= 2 else failed(f"your image has {n} layer(s): build at least one on the base")


def _top_diff_id(s) -> Verdict:
    actual = s.image().diff_ids[-1]
    given = normalize(s.arg("answer"))
    if given == actual:
        return passed()
    if given in s.image().diff_ids:
        return failed("that is the diffID of another layer of your image")
    return failed("that is not the diffID of your image's top layer")


def _other_exists(s) -> Verdict:
    s.image_ref("other")
    return passed()


def _shared_chain(s) -> int:
    a, b = s.image(), s.image("other")
    n = 0
    while n < min(len(a.chain_ids), len(b.chain_ids)) and a.chain_ids[n] == b.chain_ids[n]:
        n += 1
    return n


def _share_two(s) -> Verdict:
    n = _shared_chain(s)
    return passed() if n >= 2 else failed(f"your images share their bottom {n} layer(s)")


def _tops_differ(s) -> Verdict:
    a, b = s.image(), s.image("other")
    n = _shared_chain(s)
    if n == len(a.layers) or n == len(b.layers):
        return failed("one image's layers are all layers of the other: give each a top layer of its own")
    return passed()


def _own_tops_new(s) -> Verdict:
    a, b = s.image(), s.image("other")
    return (passed() if a.diff_ids[-1] not in b.diff_ids and b.diff_ids[-1] not in a.diff_ids
            else failed("a top layer of one image is also somewhere in the other"))


EXERCISES = (
    Exercise(
        id="05-a", title="Name that layer",
        task=f"material('05-a') writes {PUZZLE}, a saved image of 3 layers. Find the diffID of "
             f"its layer 1 (layers count from 0 at the bottom).",
        params=("answer",),
        checks=(
            Check("format", _is_digest, 1, success="the answer is a sha256 digest",
                  failure="the answer should look like sha256:<64 hex digits>",
                  hints=("A diffID is written sha256: followed by 64 hexadecimal digits.",)),
            Check("diff-id", _puzzle, 3, success="that is layer 1's diffID",
                  failure="not the right diffID",
                  hints=("A diffID is the SHA-256 of a layer's UNCOMPRESSED tar, as listed in the "
                         "config's rootfs.diff_ids.",
                         "Layers count from the bottom, starting at 0; manifest.json lists the "
                         "layer tars in the same order.",
                         "labkit.open_image(path).layers[1].diff_id, or hashlib.sha256 over the "
                         "second tar named in manifest.json's Layers.")),
        )),
    Exercise(
        id="05-b", title="Your own diffID",
        task="Build an image with at least one layer of your own and give the diffID of its top "
             "layer.",
        params=("image", "answer"),
        checks=(
            Check("own-layer", _has_own_layer, 1, success="the image has a layer of its own",
                  failure="the image should add a layer to the base",
                  hints=("Add a RUN or COPY instruction after FROM.",)),
            Check("top-diff-id", _top_diff_id, 3, success="that is your top layer's diffID",
                  failure="not your top layer's diffID",
                  hints=("Save the image (engine.save) and open it with labkit.open_image.",
                         "open_image(path).diff_ids lists the layers bottom first; the top one is last.",
                         "labkit.open_image(engine.save(image, 'img.tar')).diff_ids[-1]")),
        )),
    Exercise(
        id="05-c", title="Shared below, different on top",
        task="Build two images that share their bottom 2 layers or more (the same chainIDs) and "
             "each end with a layer of their own. labkit.example('share05') is a start.",
        params=("image", "other"),
        checks=(
            Check("both-exist", _other_exists, 1, success="both images exist",
                  failure="no such second image",
                  hints=("Build both images, then check('05-c', image='a', other='b', engine=engine).",)),
            Check("share-two", _share_two, 3, success="they share at least their bottom 2 layers",
                  failure="they should share at least their bottom 2 layers (same chainIDs)",
                  hints=("A chainID names a layer together with everything below it: two images "
                         "share a layer only when the layers below match too.",
                         "Layers from the same base already match; the next shared layer must be "
                         "the very same layer, not just the same instruction.",
                         "Build the second image with the same first step as the first one and the "
                         "build cache on (no_cache=False): the cached step reuses the layer.")),
            Check("tops-differ", _tops_differ, 1, success="each image has a top layer of its own",
                  failure="each image should end with a layer the other does not have",
                  hints=("Make the last step of the two Dockerfiles different.",)),
            Check("own-tops", _own_tops_new, 1, hidden=True, success="the top layers are new content",
                  failure="the top layers should hold content the other image does not have"),
        )),
)

MATERIALS = {"05-a": make_puzzle}
