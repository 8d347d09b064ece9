"""Flatten a saved image: the merged filesystem a container of it starts with.

``flatten(source) -> Tree`` reads the layers (in worker processes where that is safe, via
``parallel.ordered_map``) with Docker overlay2's rules and merges them in order;
``to_json``/``json_text`` give the tree as JSON (path -> type, mode, size+sha256 | linkname | rdev);
``json_chunks`` gives the same text in pieces, to write it without holding it twice.
Every layer is read within the budgets of ``flatten(limits=...)`` (``oci.limits``), its
entries counted towards ``entries_per_image``.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

from ..errors import ImageError, LayerError
from ..fs.layers import check_layer_count, merge
from .image import open_image, reopenable
from .limits import Limits, Tally, current
from .parallel import can_start_quietly, cpu_count, ordered_map
from .tar.reader import gc_paused
from .tar.unpack import _read_layer, layer_rows, rows_layer

PARALLEL_MIN_BYTES = 16 << 20   # below this, starting worker processes costs more than it saves


def _read(img: Any, i: int, digest: bool) -> tuple[dict, int]:
    """Layer ``i`` unpacked with Docker's rules, its digests verified (raises otherwise),
    and its count of entries (``entries_per_image``)."""
    with img.open_layer(i) as f:
        try:
            layer = _read_layer(f, False, f"layer {i}", digest, img.limits, None)
        except LayerError:
            f.finish()     # a changed blob is named as a digest mismatch first
            raise
        f.finish()         # reads the rest and checks the layer's digests
    return layer


_WORKER: dict[str, Any] = {}   # in a worker process: the image it reads layers from


def _worker_open(source: str, tag: str | None, limits: Limits | None = None) -> None:
    _WORKER["image"] = open_image(source, tag=tag, verify=False, limits=limits)


def _worker_read(task: tuple[int, str, bool]) -> tuple[int, list[tuple]]:
    """In a worker: layer ``i`` as compact rows (Nodes are slow to pickle), and its count."""
    i, diff_id, digest = task
    img = _WORKER["image"]
    if img.layers[i].diff_id != diff_id:
        raise ImageError(f"{img.source} changed while it was being read (layer {i})",
                         fix="run the command again once the file is no longer being written")
    with gc_paused():
        layer, count = _read(img, i, digest)
        return count, layer_rows(layer)


# Costs relative to reading a layer in this process (measured with bench_flatten.py): merging
# it costs about 0.3, and a layer read by a worker about 1.1 (rows, pickling, unpickling).
_MERGE_COST, _REMOTE_COST = 0.3, 1.1


def _own_share(jobs: int) -> float:
    """The fraction of the layer bytes this process reads itself, besides merging everything,
    so that it and its ``jobs - 1`` workers finish together (no core idles, none oversubscribed)."""
    w = _REMOTE_COST / (jobs - 1)
    return max(0.0, (w - _MERGE_COST) / (1 + w))


def _split(img: Any, jobs: int) -> set[int]:
    """The layers this process reads itself: ``_own_share`` of the bytes, spread evenly."""
    share = _own_share(jobs) if jobs > 1 else 1.0
    mine: set[int] = set()
    done = own = 0
    for layer in img.layers:
        size = max(1, layer.blob_size)
        done += size
        if own + size / 2 <= share * done:
            mine.add(layer.index)
            own += size
    return mine


def _layers(img: Any, digest: bool, jobs: int, source: str, tag: str | None) -> Iterator[dict]:
    """Each layer unpacked, bottom first: in this process, or with ``jobs - 1`` workers reading
    most layers while this process reads its share (spread over the stack) and merges.
    Each layer's entries are counted towards ``entries_per_image`` as it comes."""
    n = len(img.layers)
    tally = Tally(img.limits, img.source or "the image")
    if jobs <= 1:
        for i in range(n):
            layer, count = _read(img, i, digest)
            tally.add_layer(count, f"layer {i}")
            yield layer
        return
    mine = _split(img, jobs)
    tasks = [(x.index, x.diff_id, digest) for x in img.layers if x.index not in mine]
    remote = ordered_map(_worker_read, tasks, jobs=jobs - 1, initializer=_worker_open,
                         initargs=(str(source), tag, img.limits))
    with remote:            # stops the workers when a layer failed or the caller stopped
        for i in range(n):
            if i in mine:
                layer, count = _read(img, i, digest)
            else:
                count, rows = next(remote)
                layer = rows_layer(rows)
                del rows
            tally.add_layer(count, f"layer {i}")
            yield layer
        next(remote, None)  # the end: the workers are joined, not left behind


def auto_jobs(img: Any) -> int:
    if len(img.layers) < 2 or sum(layer.blob_size for layer in img.layers) < PARALLEL_MIN_BYTES:
        return 1
    return cpu_count() if can_start_quietly() else 1


def flatten(source: Any, *, tag: str | None = None, digest: bool = True,
            jobs: int | None = None, limits: Limits | None = None) -> dict:
    """The merged ``Tree`` of a saved image (metadata and sha256 only; ``digest=False``
    leaves ``sha256`` empty and skips hashing each file: the layers are still verified).

    ``jobs``: processes reading layers in parallel, this one included (it also merges them,
    in order, as they come). ``None`` uses every CPU for images of at least
    ``PARALLEL_MIN_BYTES`` when workers can start quietly (single-threaded: ``fork``;
    IPython/Jupyter: a fork server) and reads in this process otherwise; ``1`` never starts
    a process. The result is the same either way, and so is
    any error (``UnsafeEntry`` naming the entry and the layer, ``DigestMismatch``,
    ``LimitExceeded`` ...).

    ``source`` is what ``open_image`` takes: a path (a pipe such as ``/dev/stdin`` too) or a
    file object; ``limits`` (default ``limits.current()``) bounds the whole read."""
    if limits is None:
        limits = current()
    with open_image(source, tag=tag, verify=False, limits=limits) as img:
        check_layer_count(len(img.layers), "docker")
        n = auto_jobs(img) if jobs is None else max(1, jobs)
        if n > 1 and not reopenable(source):
            n = 1          # workers open the image by its path: a pipe or stream cannot be

        with gc_paused():
            return merge(_layers(img, digest, n, source, tag))


def to_json(tree: dict) -> dict[str, dict[str, Any]]:
    """path -> {"type", "mode", "size"+"sha256" (files) | "linkname" (symlinks) | "rdev"}."""
    out: dict[str, dict[str, Any]] = {}
    for path, n in tree.items():
        d: dict[str, Any] = {"type": n.kind, "mode": n.mode & 0o7777}
        if n.kind == "file":
            d["size"], d["sha256"] = n.size, n.sha256
        elif n.kind == "symlink":
            d["linkname"] = n.linkname
        elif n.kind in ("char", "block"):
            d["rdev"] = list(n.rdev)
        out[path] = d
    return out


def _plain(s: str) -> bool:
    """True when ``json.dumps(s)`` is ``s`` in quotes (nothing to escape)."""
    return s.isascii() and s.isprintable() and '"' not in s and "\\" not in s


def json_text(tree: dict) -> str:
    """``json.dumps(to_json(tree), sort_keys=True)``, the same text, three times faster: the
    common entries are formatted directly instead of through one dict each."""
    return "".join(json_chunks(tree))


def json_chunks(tree: dict, entries: int = 4096) -> Iterator[str]:
    """``json_text(tree)`` in pieces of ``entries`` entries each: written one by one (e.g. to
    stdout), the text is never held whole; joined, each entry's small string is freed as
    its piece is made."""
    dumps = json.dumps
    parts: list[str] = []
    add = parts.append
    first = True
    for path in sorted(tree):
        if len(parts) >= entries:
            yield ("{" if first else ", ") + ", ".join(parts)
            first = False
            parts.clear()
        n = tree[path]
        kind = n.kind
        p = f'"{path}"' if _plain(path) else dumps(path)
        mode = n.mode & 0o7777
        if kind == "file":
            add(f'{p}: {{"mode": {mode}, "sha256": "{n.sha256}", "size": {n.size}, "type": "file"}}')
        elif kind == "dir":
            add(f'{p}: {{"mode": {mode}, "type": "dir"}}')
        elif kind == "symlink" and _plain(n.linkname):
            add(f'{p}: {{"linkname": "{n.linkname}", "mode": {mode}, "type": "symlink"}}')
        else:
            add(f"{p}: {dumps(to_json({path: n})[path], sort_keys=True)}")
    yield ("{" if first else (", " if parts else "")) + ", ".join(parts) + "}"
