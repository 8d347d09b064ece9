"""Saved images: ``docker save`` tars (legacy and OCI layouts) and OCI layout directories.

``open_image(source)`` reads an image without ever extracting it: member offsets of the
outer tar are indexed once and each blob is streamed from its offset. Every digest is
checked (``verify=True``, the default): the config hashes to the image id, each blob hashes to
the digest the manifest names, each uncompressed layer hashes to ``rootfs.diff_ids[i]``.
A changed byte raises ``DigestMismatch`` ("layer 2 digest mismatch: expected ..., actual
..."); anything missing or malformed raises ``ImageError`` naming the file (every JSON
document is checked by ``validate`` first). There is never a partial result.

An image is read within the budgets of an ``oci.limits.Limits`` (``open_image(limits=...)``,
default ``limits.current()``), kept as ``Image.limits`` for every later read of its layers;
going over one raises ``LimitExceeded`` naming the limit and how to raise it.

The blobs are read and verified by ``blobs``; ``write.write_image_tar`` is the inverse.
"""
from __future__ import annotations

import hashlib
import io
import os
import platform
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Callable, Iterator, Mapping, Sequence

from ..errors import DigestMismatch, ImageError, LabkitError, LayerError, LimitExceeded
from ..fs.node import LayerDir
from ..values import HistoryEntry, ImageRef
from . import validate
from .blobs import (
    _CHUNK,
    _GZIP_MAGIC,
    LayerChecks,
    LayerStream,
    _Blob,
    _clean,
    _decompressor,
    _DirStore,
    _GuardedRead,
    _Hashing,
    _Store,
    _TarStore,
)
from .limits import Limits, Tally, current
from .tar.reader import MAGIC_BYTES, iter_entries
from .tar.unpack import checked, read_layer

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"


# --------------------------------------------------------------------------- values

@dataclass(frozen=True)
class Layer:
    """One layer of an image, bottom first (``index`` 0 is the base)."""

    index: int
    diff_id: str            # "sha256:..." of the uncompressed tar (config rootfs.diff_ids)
    digest: str             # "sha256:..." of the blob as stored (== diff_id when uncompressed)
    size: int               # bytes of content, as ``docker history`` counts them (-1 if unverified)
    blob_size: int          # bytes of the blob as stored
    media_type: str
    created_by: str         # the history instruction that made it ("" when unknown)
    tar_size: int = -1      # bytes of the uncompressed tar (-1 if unverified)


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """ChainID(L0) = diffID(L0); ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + diffID(Ln))."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else
                   "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


# --------------------------------------------------------------------------- the image

@dataclass(frozen=True, eq=False)
class Image:
    """A saved image: config, manifest, layers (bottom first) and history (oldest first).

    ``history`` follows the config's order (oldest first); ``docker history`` prints it
    newest first. Close it (or use ``with``) to release the source file early.
    """

    ref: ImageRef
    config: Mapping[str, Any]
    manifest: Mapping[str, Any]
    layers: tuple[Layer, ...]
    history: tuple[HistoryEntry, ...]
    source: str = ""
    layout: str = ""                            # "docker-save", "docker-save+oci", "oci-dir"
    _store: _Store | None = field(default=None, repr=False, compare=False)
    _blobs: tuple[_Blob, ...] = field(default=(), repr=False, compare=False)
    limits: Limits = field(default_factory=Limits, repr=False, compare=False)   # for every read

    # -- streams
    def open_layer(self, i: int, *, verify: bool = True) -> LayerStream | IO[bytes]:
        """Layer ``i`` as an uncompressed tar stream; reading to the end verifies it.

        ``verify=False`` gives a plain stream with no digest checks, seekable when the blob
        is stored uncompressed (for a second look at a layer that is verified elsewhere).
        Either way the stream keeps to ``self.limits`` (``unpacked_bytes``, and the ratio for
        a compressed blob: ``LimitExceeded``); gzip, bzip2, xz and zstd blobs are
        decompressed (the diffID is the digest of the tar that comes out, as in Docker)."""
        if self._store is None:
            raise ImageError("this Image has no source to read layers from")
        if not 0 <= i < len(self._blobs):
            raise ImageError(f"layer {i} does not exist: the image has {len(self._blobs)} layers")
        b = self._blobs[i]
        label = f"layer {i}"
        limits = self.limits
        if not verify:
            raw = self._store.open(b.name)
            head = _head(raw)
            try:
                inner = _decompressor(raw, head, f"{label} ({b.name})")
            except BaseException:
                raw.close()
                raise
            if inner is raw:
                try:
                    self._check_plain(i, label)
                except BaseException:
                    raw.close()
                    raise
                return raw
            return io.BufferedReader(  # type: ignore[return-value]
                _GuardedRead(inner, f"{label} ({b.name}) of {self.source}", lambda: None, limits,
                             raw.tell), _CHUNK)

        def check_blob(actual: str, _n: int) -> None:
            if b.digest and actual != b.digest:
                raise DigestMismatch(label, b.digest, actual)

        def check_diff(actual: str, _n: int) -> None:
            if actual != b.diff_id:
                raise DigestMismatch(label, b.diff_id, actual)

        raw = self._store.open(b.name)
        blob = _Hashing(raw, check_blob)
        head = _head(raw)
        blob_buf = io.BufferedReader(blob, _CHUNK)
        try:
            inner = _decompressor(blob_buf, head, f"{label} ({b.name})")
        except BaseException:
            raw.close()
            raise
        if inner is blob_buf:      # stored uncompressed: one hash serves both digests
            blob_buf.detach()
            try:
                self._check_plain(i, label)
            except BaseException:
                raw.close()
                raise

            def check_both(actual: str, n: int) -> None:
                check_blob(actual, n)
                check_diff(actual, n)
            blob = _Hashing(raw, check_both)
            return LayerStream(blob, blob, (raw,))

        def blame() -> None:  # a decompression error: was the blob changed?
            while blob.read(_CHUNK):
                pass

        outer = _Hashing(_GuardedRead(inner, f"{label} ({b.name}) of {self.source}", blame, limits,
                                      lambda: blob.count), check_diff)
        return LayerStream(outer, blob, (inner, blob_buf, raw))

    def _check_plain(self, i: int, label: str) -> None:
        """An uncompressed blob is its tar: its size is known before reading it."""
        assert self._store is not None
        size = self._store.size(self._blobs[i].name)
        self.limits.check_stream(size, 0, f"{label} ({self._blobs[i].name})")

    def layer_checks(self, workers: int | None = None) -> LayerChecks:
        """Start checking the digests of the plain layer blobs in background threads (see
        ``LayerChecks``); parse those layers with ``open_layer(i, verify=False)`` meanwhile."""
        if self._store is None:
            raise ImageError("this Image has no source to read layers from")
        return LayerChecks(self, workers)

    def iter_entries(self, i: int, *, with_data: bool = False, digest: bool = True,
                     head: int = 0, verify: bool = True, tally: Tally | None = None) -> Iterator[Any]:
        """Stream ``tar.reader.TarEntry`` values of layer ``i``, each checked against Docker's
        unpack rules (``tar.unpack.checked``: what ``layer_dir`` and ``flatten`` refuse, this
        refuses too) and ``self.limits``. Verifies the layer's digests at the end (the check
        raises from the last step of the iteration), unless ``verify=False`` (for a layer
        whose digests are checked elsewhere, e.g. by ``layer_checks``). ``tally`` counts the
        entries towards the image's ``entries_per_image``."""
        name = f"layer {i}"
        with self.open_layer(i, verify=verify) as f:
            entries = iter_entries(f, with_data=with_data, name=name, digest=digest, head=head,
                                   limits=self.limits)
            if not verify:
                yield from checked(entries, name=name, limits=self.limits, tally=tally)
                return
            try:
                yield from checked(entries, name=name, limits=self.limits, tally=tally)
            except LayerError:
                f.finish()        # a changed blob is named as a digest mismatch first
                raise
            f.finish()

    def layer_dir(self, i: int, with_data: bool = False, *, tally: Tally | None = None) -> LayerDir:
        """Layer ``i`` as an overlay2 layer directory (whiteouts, opaque dirs), read within
        ``self.limits`` (``tally`` counts its entries towards ``entries_per_image``)."""
        with self.open_layer(i) as f:
            try:
                layer = read_layer(f, with_data=with_data, name=f"layer {i}", limits=self.limits,
                                   tally=tally)
            except LayerError:
                f.finish()
                raise
            f.finish()
        return layer

    # -- derived values
    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple(layer.diff_id for layer in self.layers)

    @property
    def chain_ids(self) -> tuple[str, ...]:
        return tuple(chain_ids(self.diff_ids))

    @property
    def size(self) -> int:
        """Sum of the layers' content sizes (what ``docker images`` calls SIZE)."""
        return sum(max(layer.size, 0) for layer in self.layers)

    def verify(self) -> None:
        """Read every layer to its end; raises ``DigestMismatch`` on the first bad one."""
        with self.layer_checks() as checks:
            for i in range(len(self.layers)):
                if checks.covers(i):
                    checks.result(i)
                    continue
                try:
                    with self.open_layer(i) as f:
                        f.finish()
                except ImageError:
                    checks.check_through(i)     # a lower bad layer is named first
                    raise

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> "Image":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- opening

def open_image(source: str | Path | BinaryIO, *, tag: str | None = None, verify: bool = True,
               limits: Limits | None = None) -> Image:
    """Open a docker-save tar (legacy or OCI layout), an OCI layout directory, or a file
    object streaming a docker-save tar.

    A source that cannot seek (a file object such as ``docker save`` piped from the engine,
    or a path that is a pipe, like ``/dev/stdin``) is spooled to an anonymous temporary file
    first, since blobs are read by offset (at most ``limits.unpacked_bytes``); a seekable
    real file is used in place. ``tag`` picks one image when the source holds several. With
    ``verify=True`` (default) every layer is read once now: digests are checked, Docker's
    unpack rules applied, and the content sizes of ``Layer.size`` / ``HistoryEntry.size``
    computed. ``limits`` (default ``limits.current()``) bounds this read and every later
    read of the image's layers (``Image.limits``).
    """
    if limits is None:
        limits = current()
    store = _make_store(source, limits)
    try:
        image = _load(store, tag, limits)
        if verify:
            image = _verified(image)
        return image
    except BaseException:
        store.close()
        raise


def reopenable(source: object) -> bool:
    """Whether ``source`` can be opened again by its name (a regular file or a directory,
    not a pipe or a file object): worker processes open the image that way."""
    if not isinstance(source, (str, os.PathLike)):
        return False
    try:
        mode = os.stat(source).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(mode) or stat.S_ISDIR(mode)


def _make_store(source: str | Path | BinaryIO, limits: Limits) -> _Store:
    if isinstance(source, (str, Path)):
        p = Path(source)
        if p.is_dir():
            return _DirStore(p)
        if not p.exists():
            if isinstance(source, str) and ":" in source or "/" not in str(source):
                raise ImageError(f"{source}: no such file or directory",
                                 fix="pass a docker-save tar or an OCI layout directory; to inspect an "
                                     "image by name use `labkit inspect NAME` with the Docker engine")
            raise ImageError(f"{source}: no such file or directory")
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError as exc:
            raise ImageError(f"{p}: cannot be read ({exc.strerror})") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):       # a pipe, a FIFO, /dev/stdin ...
            with os.fdopen(fd, "rb") as stream:
                return _spooled(stream, str(p), limits)
        head = os.pread(fd, 4, 0)
        if head.startswith(_GZIP_MAGIC):
            os.close(fd)
            raise ImageError(f"{p} is gzip-compressed", fix=f"gunzip it first: gunzip -k {p}")
        return _TarStore(fd, str(p), owns_fd=True, limits=limits)
    name = getattr(source, "name", "<stream>")
    label = str(name) if isinstance(name, (str, Path)) else "<stream>"
    try:
        fd = source.fileno()
        if stat.S_ISREG(os.fstat(fd).st_mode) and source.seekable() and os.fstat(fd).st_size > 0 \
                and os.lseek(fd, 0, os.SEEK_CUR) == 0:
            return _TarStore(os.dup(fd), label, owns_fd=True, limits=limits)
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        pass
    return _spooled(source, label, limits)


def _spooled(stream: IO[bytes], label: str, limits: Limits) -> _Store:
    """``stream`` copied to an anonymous temporary file (removed when closed), at most
    ``limits.unpacked_bytes`` of it, and indexed."""
    spool = tempfile.TemporaryFile(prefix="labkit-image-")
    try:
        total = 0
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > limits.unpacked_bytes:
                raise LimitExceeded(f"{label}: bytes of the image stream", "unpacked_bytes", total,
                                    limits.unpacked_bytes)
            spool.write(chunk)
        spool.flush()
        fd = os.dup(spool.fileno())
    except OSError as exc:
        raise ImageError(f"{label}: cannot be read ({exc.strerror or exc})") from None
    finally:
        spool.close()
    return _TarStore(fd, label, owns_fd=True, limits=limits)


def _load(store: _Store, tag: str | None, limits: Limits) -> Image:
    if store.has("index.json") and store.has("oci-layout"):
        return _load_oci(store, tag, limits)
    if store.has("manifest.json"):
        return _load_legacy(store, tag, limits)
    what = "directory" if isinstance(store, _DirStore) else "tar"
    raise ImageError(f"{store.label}: this {what} is not a saved image: it has neither manifest.json "
                     "(docker save) nor index.json + oci-layout (OCI layout)",
                     fix="create it with `docker save IMAGE -o image.tar`")


def _pick(entries: list[Any], tag: str | None, tags_of: Callable[[Any], list[str]], label: str) -> Any:
    if not entries:
        raise ImageError(f"{label}: the manifest lists no image")
    if tag is not None:
        for e in entries:
            if tag in tags_of(e) or any(t.endswith("/" + tag) or t.split(":")[0] == tag for t in tags_of(e)):
                return e
        raise ImageError(f"{label}: no image tagged {tag!r}; it holds "
                         + ", ".join(sorted({t for e in entries for t in tags_of(e)}) or ["untagged images"]))
    if len(entries) > 1:
        raise ImageError(f"{label} holds {len(entries)} images",
                         fix="pick one with tag=... (tags: "
                         + ", ".join(t for e in entries for t in tags_of(e)) + ")")
    return entries[0]


def _digest_of(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _load_legacy(store: _Store, tag: str | None, limits: Limits) -> Image:
    manifest_list = validate.legacy_manifest(store.read_json("manifest.json", limits)[0], store.label)
    entry = _pick(manifest_list, tag, lambda e: list(e.get("RepoTags") or []), store.label)
    cfg_name = entry["Config"]
    layer_names = entry["Layers"]
    config, raw = store.read_json(cfg_name, limits)
    image_id = _digest_of(raw)
    named = _clean(cfg_name).rsplit("/", 1)[-1].removesuffix(".json")
    if len(named) == 64 and f"sha256:{named}" != image_id:
        raise DigestMismatch(f"config {cfg_name}", f"sha256:{named}", image_id)
    validate.config(config, store.label, cfg_name, len(layer_names))
    diff_ids = config["rootfs"]["diff_ids"]
    blobs: list[_Blob] = []
    metas: list[tuple[str, int, str]] = []
    for i, name in enumerate(layer_names):
        if not store.has(name):
            raise ImageError(f"{store.label}: layer {i} ({name}) is listed in manifest.json but absent",
                             fix="the tar is incomplete; save the image again")
        expected = ""
        n = _clean(name)
        if n.startswith("blobs/sha256/"):          # Docker 25+: manifest.json points at blobs
            expected = "sha256:" + n.rsplit("/", 1)[-1]
        blobs.append(_Blob(name, expected, diff_ids[i]))
        metas.append((expected or diff_ids[i], store.size(name), DOCKER_LAYER))
    layout = "docker-save+oci" if store.has("oci-layout") else "docker-save"
    return _assemble(store, config, dict(entry), image_id, tuple(entry.get("RepoTags") or ()),
                     blobs, metas, layout, limits=limits)


def _load_oci(store: _Store, tag: str | None, limits: Limits) -> Image:
    validate.oci_layout(store.read_json("oci-layout", limits)[0], store.label)
    index = validate.index(store.read_json("index.json", limits)[0], store.label)

    def tags_of(d: Mapping[str, Any]) -> list[str]:
        ann = d.get("annotations") or {}
        return [t for t in (ann.get("io.containerd.image.name"), ann.get("org.opencontainers.image.ref.name")) if t]

    desc = _pick(index["manifests"], tag, tags_of, store.label)
    tags = tuple(t for t in tags_of(desc) if ":" in t or "/" in t) or tuple(tags_of(desc))
    manifest = _read_blob(store, desc, "image manifest", limits, validate.manifest)[0]
    for _depth in range(4):                        # follow nested indexes to one platform
        if not validate.is_index(manifest):
            break
        desc = _platform(manifest["manifests"], store.label)
        manifest = _read_blob(store, desc, "image manifest", limits, validate.manifest)[0]
    else:
        if validate.is_index(manifest):
            raise ImageError(f"{store.label}: image indexes nest more than 4 deep",
                             fix="the layout is malformed; save the image again")
    ldescs = manifest["layers"]
    config, raw = _read_blob(store, manifest["config"], "config", limits,
                             lambda d, label, name: validate.config(d, label, name, len(ldescs)))
    image_id = _digest_of(raw)
    diff_ids = config["rootfs"]["diff_ids"]
    blobs, metas = [], []
    for i, ld in enumerate(ldescs):
        name = _blob_name(ld, store.label)
        if not store.has(name):
            raise ImageError(f"{store.label}: layer {i} ({name}) is listed in the manifest but absent",
                             fix="the layout is incomplete; save the image again")
        size = store.size(name)
        if isinstance(ld.get("size"), int) and ld["size"] != size:
            raise ImageError(f"{store.label}: layer {i} blob {name} is {size} bytes, the manifest says {ld['size']}",
                             fix="the blob was truncated or replaced; save the image again")
        blobs.append(_Blob(name, ld["digest"], diff_ids[i]))
        metas.append((ld["digest"], size, str(ld.get("mediaType") or OCI_LAYER)))
    return _assemble(store, config, manifest, image_id, tags, blobs, metas,
                     "docker-save+oci" if isinstance(store, _TarStore) else "oci-dir", limits=limits)


def _blob_name(desc: Mapping[str, Any], label: str) -> str:
    """``blobs/sha256/<hex>`` of a descriptor checked by ``validate`` (a sha256 digest)."""
    return "blobs/sha256/" + desc["digest"].split(":", 1)[1]


def _read_blob(store: _Store, desc: Mapping[str, Any], what: str, limits: Limits,
               check: Callable[[Any, str, str], Any]) -> tuple[Any, bytes]:
    """The JSON blob ``desc`` names: its digest checked, then its content (``check``, one of
    ``validate``'s functions)."""
    name = _blob_name(desc, store.label)
    data, raw = store.read_json(name, limits)
    actual = _digest_of(raw)
    if actual != desc["digest"]:
        raise DigestMismatch(f"{what} {name}", desc["digest"], actual)
    return check(data, store.label, name), raw


def _platform(descs: list[Any], label: str) -> Mapping[str, Any]:
    if len(descs) == 1:
        return descs[0]
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    for d in descs:
        p = d.get("platform") or {}
        if p.get("os") == "linux" and p.get("architecture") == arch:
            return d
    raise ImageError(f"{label}: the index lists {len(descs)} platforms and none is linux/{arch}")


def _assemble(store: _Store, config: dict[str, Any], manifest: Mapping[str, Any], image_id: str,
              tags: tuple[str, ...], blobs: list[_Blob], metas: list[tuple[str, int, str]],
              layout: str, sizes: Sequence[tuple[int, int]] | None = None, *,
              limits: Limits) -> Image:
    history = map_history(config.get("history") or [], len(blobs),
                          [s[0] for s in sizes] if sizes else None)
    by_layer = {h.layer_index: h.created_by for h in history if h.layer_index is not None}
    layers = tuple(
        Layer(index=i, diff_id=b.diff_id, digest=m[0], size=sizes[i][0] if sizes else -1,
              blob_size=m[1], media_type=m[2], created_by=by_layer.get(i, ""),
              tar_size=sizes[i][1] if sizes else -1)
        for i, (b, m) in enumerate(zip(blobs, metas)))
    return Image(ref=ImageRef(id=image_id, tags=tags, engine=""), config=config, manifest=manifest,
                 layers=layers, history=tuple(history), source=store.label, layout=layout,
                 _store=store, _blobs=tuple(blobs), limits=limits)


def map_history(history: Sequence[Mapping[str, Any]], n_layers: int,
                sizes: Sequence[int] | None = None) -> list[HistoryEntry]:
    """Config history (oldest first) -> HistoryEntry values: entries with ``empty_layer`` map
    to no layer, the others map in order to layers 0, 1, ...; layers without a history entry
    get a synthetic ``(no history)`` entry so every layer is accounted for."""
    out: list[HistoryEntry] = []
    nxt = 0
    for h in history:
        empty = bool(h.get("empty_layer", False))
        idx = None
        if not empty and nxt < n_layers:
            idx, nxt = nxt, nxt + 1
        out.append(HistoryEntry(created_by=str(h.get("created_by") or ""), empty_layer=empty or idx is None,
                                size=(sizes[idx] if sizes and idx is not None else 0),
                                layer_index=idx, created=str(h.get("created") or "")))
    while nxt < n_layers:
        out.append(HistoryEntry(created_by="(no history)", empty_layer=False,
                                size=sizes[nxt] if sizes else 0, layer_index=nxt))
        nxt += 1
    return out


def content_size(entries: Iterator[Any]) -> int:
    """Bytes of a layer as Docker's overlay2 counts them (``docker history`` SIZE): regular
    files (hard links once) plus symlink target lengths; directories and whiteouts are 0.
    What the unpacked layer holds: an entry whose path an earlier entry of the layer had
    (``/a`` then ``a``) replaces it, and what was under it unless both are directories."""
    total = 0
    counted: dict[str, int] = {}        # path -> bytes counted for it (-1: a directory)
    for e in entries:
        node = e.node
        kind = node.kind
        if kind == "whiteout" or e.opaque:
            continue                    # acts on the layers below; holds no bytes
        if kind == "file":
            n = 0 if e.hardlink else node.size
        elif kind == "symlink":
            n = len(node.linkname.encode("utf-8", "surrogateescape"))
        else:
            n = -1 if kind == "dir" else 0
        p = e.path
        old = counted.get(p)
        if old is not None:             # rare: replaced within the layer
            total -= max(old, 0)
            if not (old == -1 and n == -1):
                under = p + "/"
                for q in [q for q in counted if q.startswith(under)]:
                    total -= max(counted.pop(q), 0)
        counted[p] = n
        if n > 0:
            total += n
    return total


def _verified(image: Image) -> Image:
    """Read each layer once: digests checked, Docker's unpack rules applied (``checked``),
    content and tar sizes measured, within ``image.limits``.

    Plain blobs are hashed by ``LayerChecks`` threads while this thread reads the headers
    (skipping file data by seeking); compressed ones are verified as they stream."""
    sizes: list[tuple[int, int]] = []
    metas = []
    limits = image.limits
    tally = Tally(limits, image.source or "the image")
    with image.layer_checks() as checks:
        for i, la in enumerate(image.layers):
            name = f"layer {i}"
            try:
                if checks.covers(i):
                    with image.open_layer(i, verify=False) as f:
                        csize = content_size(checked(
                            iter_entries(f, with_data=False, name=name, digest=False, limits=limits),
                            name=name, limits=limits, tally=tally))
                    blob_digest, tar_bytes = checks.result(i)
                else:
                    with image.open_layer(i) as f:
                        try:
                            csize = content_size(checked(
                                iter_entries(f, with_data=False, name=name, digest=False, limits=limits),
                                name=name, limits=limits, tally=tally))
                        except LayerError:
                            f.finish()    # a changed blob is named as a digest mismatch first
                            raise
                        _, tar_bytes = f.finish()
                        blob_digest = f.blob_digest
            except LabkitError:
                checks.check_through(i)   # the lowest bad layer is named first
                raise
            metas.append((blob_digest, la.blob_size, la.media_type))
            sizes.append((csize, tar_bytes))
    store = image._store
    assert store is not None
    return _assemble(store, dict(image.config), image.manifest, image.ref.id, image.ref.tags,
                     list(image._blobs), metas, image.layout, sizes, limits=limits)


def _head(raw: IO[bytes]) -> bytes:
    """The first ``MAGIC_BYTES`` of a blob, without consuming them."""
    if hasattr(raw, "peek"):
        head = raw.peek(MAGIC_BYTES)[:MAGIC_BYTES]
        if len(head) >= MAGIC_BYTES or not hasattr(raw, "seek"):
            return head
    pos = raw.tell()
    head = raw.read(MAGIC_BYTES)
    raw.seek(pos)
    return head
