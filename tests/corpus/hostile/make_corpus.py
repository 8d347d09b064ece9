#!/usr/bin/env python3
"""Write the hostile corpus of issue 13 into a folder: tars, saved images and OCI layouts built
to make an image reader blow up, hang or print a traceback.

    python tests/corpus/hostile/make_corpus.py DIR [--big] [--only NAME ...]

Each case is ``DIR/<name>.tar`` (a docker-save tar) or ``DIR/<name>/`` (an OCI layout
folder); ``CASES`` below says what each one attacks. Nothing here is committed as a binary:
the cases are generated (in a few seconds; ``--big`` adds the expensive ones: a million
empty files, a 16 GiB gzip bomb, a 70 MiB config). Standard library only, and independent
of labkit's own writer, so it can write what labkit's writer never would.
``tests/unit/cli/test_hostile_cli.py`` runs every CLI command over every case.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

MTIME = 1_600_000_000


# --------------------------------------------------------------------------- tar pieces

def raw_header(name: bytes, size: int = 0, typeflag: bytes = b"0", *, mode: int = 0o644,
               linkname: bytes = b"", fields: dict[int, bytes] | None = None) -> bytes:
    """One 512-byte GNU tar header, written by hand (any field may be patched afterwards)."""
    h = bytearray(512)
    h[0:100] = name[:100].ljust(100, b"\0")
    h[100:108] = b"%07o\0" % mode
    h[108:116] = b"%07o\0" % 0
    h[116:124] = b"%07o\0" % 0
    h[124:136] = b"%011o\0" % size if size < 8**11 else b"\x80" + size.to_bytes(11, "big")
    h[136:148] = b"%011o\0" % MTIME
    h[156:157] = typeflag
    h[157:257] = linkname[:100].ljust(100, b"\0")
    h[257:265] = b"ustar  \0"
    for off, val in (fields or {}).items():
        h[off:off + len(val)] = val
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 512)


END = b"\0" * 1024


def tar_of(entries: Iterable[tuple[str, str, bytes | str, dict]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """A tar from (name, kind, data-or-linkname, extra) tuples; kind is f, d, l (symlink),
    h (hard link), c/b (device), p (fifo); extra sets TarInfo fields or pax headers."""
    types = {"f": tarfile.REGTYPE, "d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE,
             "c": tarfile.CHRTYPE, "b": tarfile.BLKTYPE, "p": tarfile.FIFOTYPE}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as t:
        for name, kind, data, extra in entries:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mtime = types[kind], MTIME
            ti.mode = 0o755 if kind == "d" else 0o644
            for k, v in extra.items():
                setattr(ti, k, v)
            if kind in "lh":
                ti.linkname = data if isinstance(data, str) else data.decode()
                t.addfile(ti)
            elif kind == "f":
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- images

def config_for(diff_ids: list[str], n_history: int | None = None) -> dict:
    n = len(diff_ids) if n_history is None else n_history
    return {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"RUN step {i}"} for i in range(n)]}


def outer_tar(members: dict[str, bytes], extra: Iterable[bytes] = ()) -> bytes:
    """A docker-save style outer tar from name -> bytes (ustar/pax via tarfile), then any raw
    blocks in ``extra`` appended before the end."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), MTIME, 0o644
            t.addfile(ti, io.BytesIO(data))
    body = buf.getvalue().rstrip(b"\0")
    body = pad(body) if len(body) % 512 else body
    return body + b"".join(extra) + END


def legacy(layers: list[bytes], *, blobs: list[bytes] | None = None, config: object = None,
           manifest: object = None, raw_config: bytes | None = None,
           raw_manifest: bytes | None = None, tags: object = ("hostile:1",),
           extra_members: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """The members of a docker-save tar (legacy layout): ``layers`` are the uncompressed tars
    (their digests are the diff_ids); ``blobs`` what is stored (default: the same)."""
    blobs = layers if blobs is None else blobs
    diff_ids = [sha(x) for x in layers]
    members: dict[str, bytes] = {}
    names = []
    for i, blob in enumerate(blobs):
        d = hashlib.sha256(b"%d" % i + blob[:64]).hexdigest()
        names.append(f"{d}/layer.tar")
        members[names[-1]] = blob
    cfg = raw_config if raw_config is not None else json.dumps(
        config_for(diff_ids) if config is None else config).encode()
    cname = hashlib.sha256(cfg).hexdigest() + ".json"
    members[cname] = cfg
    man = raw_manifest if raw_manifest is not None else json.dumps(
        [{"Config": cname, "RepoTags": list(tags) if isinstance(tags, tuple) else tags, "Layers": names}]
        if manifest is None else manifest).encode()
    members["manifest.json"] = man
    members.update(extra_members or {})
    return members


def write_legacy(path: Path, layers: list[bytes], **kw: object) -> None:
    path.write_bytes(outer_tar(legacy(layers, **kw)))  # type: ignore[arg-type]


def oci_dir(path: Path, layers: list[bytes], *, manifest_patch: Callable[[dict], object] | None = None,
            index_patch: Callable[[dict], object] | None = None, config: object = None) -> dict[str, Path]:
    """An OCI layout folder; returns blob name -> path so a case can replace a blob afterwards."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    out: dict[str, Path] = {}

    def put(data: bytes, what: str) -> dict:
        digest = sha(data)
        p = blobs / digest.split(":")[1]
        p.write_bytes(data)
        out[what] = p
        return {"digest": digest, "size": len(data)}

    ldescs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **put(x, f"layer{i}")}
              for i, x in enumerate(layers)]
    cfg = json.dumps(config_for([sha(x) for x in layers]) if config is None else config).encode()
    manifest: object = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(cfg, "config")},
                        "layers": ldescs}
    if manifest_patch:
        manifest = manifest_patch(manifest)  # type: ignore[arg-type]
    mdesc = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             **put(json.dumps(manifest).encode(), "manifest"),
             "annotations": {"io.containerd.image.name": "hostile:1"}}
    index: object = {"schemaVersion": 2, "manifests": [mdesc]}
    if index_patch:
        index = index_patch(index)  # type: ignore[arg-type]
    (path / "index.json").write_text(json.dumps(index))
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return out


# --------------------------------------------------------------------------- the cases

OK_LAYER = tar_of([("etc", "d", b"", {}), ("etc/conf", "f", b"hello\n", {})])


def deep_path(n: int) -> str:
    return "a/" * n + "f"


def gzip_bomb_blob(size: int) -> tuple[bytes, bytes | None, str]:
    """A gzip layer that inflates to ``size`` bytes (one file of zeros), built from one
    compressed 1 MiB block repeated: returns (blob, None, diff_id)."""
    chunk = 1 << 20
    size = max(chunk, size - size % chunk)
    header = raw_header(b"zeros", size - 512 - 1024)     # header + data + end blocks = size
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)
    zero = bytes(chunk)
    first = c.compress(zero[512:]) + c.flush(zlib.Z_FULL_FLUSH)     # fills the first MiB
    block = c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH)
    tail = c.flush()
    n = size // chunk - 1
    digest, crc = hashlib.sha256(header + zero[512:]), zlib.crc32(header + zero[512:])
    for _ in range(n):
        digest.update(zero)
        crc = zlib.crc32(zero, crc)
    gz = (b"\x1f\x8b\x08\x00" + MTIME.to_bytes(4, "little") + b"\x02\xff" + head + first + block * n + tail
          + crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little"))
    return gz, None, "sha256:" + digest.hexdigest()


def many_files_blob(n: int) -> tuple[bytes, str]:
    """A gzip layer of ``n`` empty files (headers written by hand: fast), and its diff_id."""
    h = hashlib.sha256()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6, mtime=MTIME) as gz:
        for i in range(0, n, 1000):
            block = b"".join(raw_header(b"d%03d/f%06d" % (j // 10000, j)) for j in range(i, min(n, i + 1000)))
            h.update(block)
            gz.write(block)
        h.update(END)
        gz.write(END)
    return buf.getvalue(), "sha256:" + h.hexdigest()


def sparse_header(name: bytes, size: int, sparse: bytes, realsize: bytes, extended: bytes = b"\0") -> bytes:
    """An old-GNU sparse header ('S') with the sparse map, isextended and realsize fields given raw."""
    return raw_header(name, size, b"S", fields={386: sparse[:96], 482: extended, 483: realsize[:12]})


def pax_sparse_layer(records: dict[str, str], data: bytes = b"x" * 512) -> bytes:
    """A layer whose one file carries GNU sparse 0.x/1.0 pax records (given raw)."""
    body = "".join(_pax_record(k, v) for k, v in records.items()).encode()
    return (raw_header(b"PaxHeader/f", len(body), b"x") + pad(body)
            + raw_header(b"f", len(data)) + pad(data) + END)


def _pax_record(key: str, value: str) -> str:
    rec = f" {key}={value}\n"
    n = len(rec.encode())
    n += len(str(n + len(str(n))))
    return f"{n}{rec}"


def _bad_manifests() -> dict[str, object]:
    good_cfg = "0" * 64 + ".json"
    return {
        "manifest-is-object": {"Config": good_cfg, "Layers": []},
        "manifest-empty-list": [],
        "manifest-entry-is-string": ["x"],
        "manifest-layers-is-object": [{"Config": good_cfg, "Layers": {"a": 1}}],
        "manifest-layers-hold-ints": [{"Config": good_cfg, "Layers": [1, 2]}],
        "manifest-config-is-int": [{"Config": 7, "Layers": []}],
        "manifest-config-escapes": [{"Config": "../../../../etc/passwd", "Layers": []}],
        "manifest-config-absolute": [{"Config": "/etc/passwd", "Layers": []}],
    }


def build(out: Path, big: bool, only: set[str] | None) -> list[str]:
    made: list[str] = []

    def case(name: str) -> bool:
        if only and name not in only:
            return False
        made.append(name)
        return True

    def img(name: str, layers: list[bytes], **kw: object) -> None:
        if case(name):
            write_legacy(out / f"{name}.tar", layers, **kw)

    def members(name: str, m: dict[str, bytes], extra: Iterable[bytes] = ()) -> None:
        if case(name):
            (out / f"{name}.tar").write_bytes(outer_tar(m, extra))

    # -- a valid image, the reference every other case departs from
    img("valid", [OK_LAYER])

    # -- quadratic memory / deep paths (one entry, N components)
    for n in (16_000, 30_000):
        img(f"deep-pax-path-{n // 1000}k", [tar_of([(deep_path(n), "f", b"x", {})])])
    if case("deep-pax-path-30k-gzip"):
        layer = tar_of([(deep_path(30_000), "f", b"x", {})])
        write_legacy(out / "deep-pax-path-30k-gzip.tar", [layer], blobs=[gzip.compress(layer, mtime=MTIME)])
    img("deep-dirs-1100", [tar_of([("/".join(["d"] * i), "d", b"", {}) for i in range(1, 1101)])])
    img("long-path-8k", [tar_of([(("x" * 200 + "/") * 40 + "f", "f", b"x", {})])])
    img("long-component-300", [tar_of([("n" * 300, "f", b"x", {})])])
    img("many-dirs-2000", [tar_of([(f"d{i:04d}", "d", b"", {}) for i in range(2000)]
                                  + [(f"d{i:04d}/f", "f", b"", {}) for i in range(2000)])])
    for n, name, wanted in ((50_000, "many-files-50k", True), (1_000_000, "many-files-1m", big)):
        if wanted and case(name):
            blob, diff_id = many_files_blob(n)
            (out / f"{name}.tar").write_bytes(outer_tar(legacy([b""], blobs=[blob], config=config_for([diff_id]))))

    # -- decompression bombs and huge claims
    for size, name, wanted in ((1 << 30, "gzip-bomb-1g", True), (16 << 30, "gzip-bomb-16g", big)):
        if wanted and case(name):
            blob, _, diff_id = gzip_bomb_blob(size)
            (out / f"{name}.tar").write_bytes(outer_tar(legacy([b""], blobs=[blob], config=config_for([diff_id]))))
    huge = raw_header(b"huge", 1 << 40) + b"x" * 512            # claims 1 TiB, holds 512 bytes
    img("entry-claims-1tib", [huge], blobs=[huge])
    img("truncated-layer", [OK_LAYER[:700]])
    if case("truncated-image"):
        full = outer_tar(legacy([OK_LAYER]))
        (out / "truncated-image.tar").write_bytes(full[: len(full) // 2])
    if big and case("config-70mib"):
        cfg = config_for([sha(OK_LAYER)])
        cfg["config"]["Env"] = ["X=" + "x" * (70 << 20)]
        write_legacy(out / "config-70mib.tar", [OK_LAYER], config=cfg)

    # -- names a terminal would act on, and names the kernel refuses
    img("esc-names", [tar_of([("\x1b[2J\x1b[31mred", "f", b"1", {}), ("new\nline", "f", b"2", {}),
                              ("cr\rback", "f", b"3", {}), ("bidi\u202etxt.exe", "f", b"4", {}),
                              ("bad\udcffutf8", "f", b"5", {}), ("bell\x07", "l", "\x1b]0;title\x07", {}),
                              ("tab\tname", "d", b"", {})])])
    img("nul-in-pax-name", [pax_sparse_layer({"path": "a\x00b"})])
    img("huge-uid-mtime", [pax_sparse_layer({"uid": str(10**30), "gid": "-5", "mtime": "1e400",
                                             "size": "512"})])
    img("bad-xattr", [pax_sparse_layer({"SCHILY.xattr.": "x", "SCHILY.xattr.security.capability": "\x01" * 20,
                                        "SCHILY.xattr.user." + "k" * 300: "v"})])
    img("privileged-entries", [tar_of([("mem", "c", b"", {"devmajor": 1, "devminor": 1, "mode": 0o666}),
                                       ("sda", "b", b"", {"devmajor": 8, "devminor": 0}),
                                       ("suid", "f", b"#!/bin/sh\n", {"mode": 0o4755}),
                                       ("cap", "f", b"x", {"pax_headers": {
                                           "SCHILY.xattr.security.capability": "\x01\x00\x00\x02"}})])])
    img("huge-device-numbers", [tar_of([("dev", "c", b"", {"devmajor": 2**21 - 1, "devminor": 2**21 - 1})],
                                       fmt=tarfile.GNU_FORMAT)])
    img("links", [tar_of([("loop", "l", "loop", {}), ("a", "l", "b", {}), ("b", "l", "a", {}),
                          ("up", "l", "../../../../etc/passwd", {}), ("hl", "h", "up", {}),
                          ("through/x", "f", b"x", {})])])

    # -- bad GNU sparse values, in a layer and in the outer tar
    sparse_cases = {
        "garbage": (b"zz" * 48, b"not-octal\0"),
        "huge-offset": ((b"%011o\0" % (8**11 - 1)) * 8, b"%011o\0" % (8**11 - 1)),
        "negative": ((b"\xff" * 12) * 8, b"\xff" * 12),
        "extended-garbage": (b"%011o\0%011o\0" % (0, 512) + b"\0" * 72, b"%011o\0" % 512),
    }
    for key, (smap, real) in sparse_cases.items():
        ext = b"\1" if key == "extended-garbage" else b"\0"
        blk = sparse_header(b"sp", 512, smap, real, ext) + (b"\xee" * 512 if ext == b"\1" else b"") + b"x" * 512
        img(f"sparse-layer-{key}", [blk + END], blobs=[blk + END])
        members(f"sparse-outer-{key}", legacy([OK_LAYER]), extra=[blk])
    for key, rec in {"pax-map-garbage": {"GNU.sparse.map": "a,b,c", "GNU.sparse.size": "99"},
                     "pax-map-huge": {"GNU.sparse.map": f"0,{2**62},{2**62},1", "GNU.sparse.realsize": str(2**62)},
                     "pax-1.0-bad-prefix": {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                                            "GNU.sparse.name": "f", "GNU.sparse.realsize": "10"},
                     "pax-numblocks-huge": {"GNU.sparse.numblocks": str(10**9), "GNU.sparse.offset": "0"}}.items():
        layer = pax_sparse_layer(rec)
        img(f"sparse-{key}", [layer], blobs=[layer])

    # -- JSON: deep, wrong types, too big
    deep = b"[" * 200_000 + b"]" * 200_000
    img("deep-json-manifest", [OK_LAYER], raw_manifest=deep)
    img("deep-json-config", [OK_LAYER], raw_config=deep)
    if case("deep-json-history"):
        cfg = json.dumps(config_for([sha(OK_LAYER)])).encode()
        cfg = cfg.replace(b'"history": [', b'"history": [' + b"[" * 100_000 + b"]" * 100_000 + b", ", 1)
        write_legacy(out / "deep-json-history.tar", [OK_LAYER], raw_config=cfg)
    img("manifest-not-json", [OK_LAYER], raw_manifest=b"\xff\xfe{not json")
    img("manifest-nan", [OK_LAYER], raw_manifest=b'[{"Config": NaN, "Layers": Infinity}]')
    for name, manifest in _bad_manifests().items():
        img(name, [OK_LAYER], manifest=manifest)
    img("repotags-is-string", [OK_LAYER], tags="hostile:1")
    img("repotags-hold-objects", [OK_LAYER], tags=[{"a": 1}, 5, None])
    did = [sha(OK_LAYER)]
    for name, cfg in {
        "config-is-list": [1, 2, 3],
        "config-is-string": "config",
        "history-is-object": {**config_for(did), "history": {"created_by": "x"}},
        "history-holds-ints": {**config_for(did), "history": [1, 2, None]},
        "history-created-by-object": {**config_for(did), "history": [{"created_by": {"x": 1}, "empty_layer": "yes"}]},
        "history-100k": {**config_for(did), "history": [{"created_by": "x", "empty_layer": True}] * 100_000},
        "rootfs-is-list": {**config_for(did), "rootfs": ["sha256:x"]},
        "rootfs-is-string": {**config_for(did), "rootfs": "layers"},
        "diff-ids-is-string": {**config_for(did), "rootfs": {"type": "layers", "diff_ids": did[0]}},
        "diff-ids-hold-ints": {**config_for(did), "rootfs": {"type": "layers", "diff_ids": [1]}},
        "diff-id-not-sha256": {**config_for(did), "rootfs": {"type": "layers", "diff_ids": ["md5:abc"]}},
        "config-config-is-list": {**config_for(did), "config": ["Cmd"]},
        "labels-are-list": {**config_for(did), "config": {"Labels": ["a", "b"], "Env": "A=1",
                                                           "ExposedPorts": [80], "Volumes": "x"}},
        "user-is-int": {**config_for(did), "config": {"User": 0, "WorkingDir": 5}},
    }.items():
        img(name, [OK_LAYER], config=cfg)
    img("layers-126", [tar_of([(f"f{i}", "f", b"x", {})]) for i in range(126)])
    img("manifest-10k-layers", [OK_LAYER],
        manifest=[{"Config": "x.json", "RepoTags": ["h:1"], "Layers": ["l.tar"] * 10_000}])

    # -- outer tar structure
    base = legacy([OK_LAYER])
    members("duplicate-manifest", base, extra=[raw_header(b"manifest.json", 3) + pad(b"[1]")])
    members("member-dotdot", {**base, "../../escape": b"x", "/abs/path": b"y"})
    members("layer-is-a-directory", {**base}, extra=[raw_header(next(n for n in base if n.endswith("layer.tar")).encode()
                                                                 .replace(b"/layer.tar", b"/layer.tar/"), 0, b"5")])
    members("member-symlink-manifest", {k: v for k, v in base.items() if k != "manifest.json"},
            extra=[raw_header(b"manifest.json", 0, b"2", linkname=b"/etc/passwd")])
    members("member-hardlink-loop", base, extra=[raw_header(b"a", 0, b"1", linkname=b"b"),
                                                 raw_header(b"b", 0, b"1", linkname=b"a")])
    if case("not-a-tar"):
        (out / "not-a-tar.tar").write_bytes(hashlib.sha512(b"labkit").digest() * 64)
    if case("empty-file"):
        (out / "empty-file.tar").write_bytes(b"")
    if case("gzip-whole-image"):
        (out / "gzip-whole-image.tar").write_bytes(gzip.compress(outer_tar(base), mtime=MTIME))
    if case("bad-checksum-header"):
        data = bytearray(outer_tar(base))
        data[148:156] = b"1234567\0"
        (out / "bad-checksum-header.tar").write_bytes(bytes(data))
    for codec in ("bz2", "xz"):
        if case(f"{codec}-layer"):
            mod = __import__("bz2" if codec == "bz2" else "lzma")
            write_legacy(out / f"{codec}-layer.tar", [OK_LAYER], blobs=[mod.compress(OK_LAYER)])

    # -- OCI layout folders: blobs that are pipes, devices, links out, wrong digests
    def layout(name: str, **kw: object) -> dict[str, Path] | None:
        if not case(name):
            return None
        return oci_dir(out / name, [OK_LAYER], **kw)  # type: ignore[arg-type]

    layout("oci-valid")
    blobs = layout("oci-blob-is-fifo")
    if blobs:
        blobs["layer0"].unlink()
        os.mkfifo(blobs["layer0"])
    blobs = layout("oci-blob-links-to-dev-zero")
    if blobs:
        blobs["layer0"].unlink()
        blobs["layer0"].symlink_to("/dev/zero")
    blobs = layout("oci-index-links-out")
    if blobs:
        (out / "oci-index-links-out" / "index.json").unlink()
        (out / "oci-index-links-out" / "index.json").symlink_to("/etc/passwd")
    layout("oci-digest-traversal", manifest_patch=lambda m: {**m, "layers": [
        {**m["layers"][0], "digest": "sha256:../../../../../../etc/passwd"}]})
    layout("oci-digest-md5", manifest_patch=lambda m: {**m, "layers": [{**m["layers"][0], "digest": "md5:abc"}]})
    layout("oci-layers-not-list", manifest_patch=lambda m: {**m, "layers": {"0": m["layers"][0]}})
    layout("oci-layer-size-string", manifest_patch=lambda m: {**m, "layers": [{**m["layers"][0], "size": "12"}]})
    layout("oci-manifests-not-list", index_patch=lambda i: {**i, "manifests": i["manifests"][0]})
    layout("oci-manifests-hold-ints", index_patch=lambda i: {**i, "manifests": [1, "x", None]})
    layout("oci-annotations-not-dict", index_patch=lambda i: {**i, "manifests": [
        {**i["manifests"][0], "annotations": ["a"]}]})
    layout("oci-index-points-at-itself", index_patch=lambda i: {**i, "manifests": [
        {**i["manifests"][0], "mediaType": "application/vnd.oci.image.index.v1+json"}]})
    layout("oci-config-desc-is-string", manifest_patch=lambda m: {**m, "config": "sha256:abc"})
    layout("oci-platform-not-dict", manifest_patch=lambda m: {"mediaType": "application/vnd.oci.image.index.v1+json",
                                                              "manifests": [{"platform": "linux"}, {"platform": 5}]})
    if case("oci-layout-is-fifo"):
        oci_dir(out / "oci-layout-is-fifo", [OK_LAYER])
        (out / "oci-layout-is-fifo" / "oci-layout").unlink()
        os.mkfifo(out / "oci-layout-is-fifo" / "oci-layout")
    if case("oci-deep-index"):
        oci_dir(out / "oci-deep-index", [OK_LAYER])
        (out / "oci-deep-index" / "index.json").write_bytes(b'{"manifests": ' + b"[" * 200_000)
    return made


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", type=Path, help="folder to write the cases into (made when missing, emptied first)")
    ap.add_argument("--big", action="store_true", help="add the expensive cases (1M files, 16 GiB bomb, ...)")
    ap.add_argument("--only", nargs="*", help="write only these cases")
    args = ap.parse_args(argv)
    if args.dir.exists():
        shutil.rmtree(args.dir)
    args.dir.mkdir(parents=True)
    made = build(args.dir, args.big, set(args.only) if args.only else None)
    print(f"{len(made)} cases in {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
