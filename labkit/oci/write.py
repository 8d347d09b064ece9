"""Writing saved images: ``write_image_tar(...)`` is the inverse of ``open_image``.

It writes a tar ``docker load`` accepts (legacy layout by default, or the OCI layout Docker
25+ writes) and returns its ``ImageRef``.
"""
from __future__ import annotations

import gzip as _gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any, BinaryIO, Literal, Mapping, Sequence

from ..errors import ImageError
from ..values import ImageRef
from .image import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, _digest_of, chain_ids


def write_image_tar(layers: Sequence[bytes], config: Mapping[str, Any], dest: str | Path | BinaryIO, *,
                    repo_tags: Sequence[str] = (), layout: Literal["docker", "oci"] = "docker",
                    gzip: bool = False) -> ImageRef:
    """Write a tar that ``docker load`` accepts; returns its ``ImageRef``.

    ``layers`` are uncompressed layer tars, bottom first. ``config`` is copied and its
    ``rootfs.diff_ids`` filled in (``architecture``/``os`` default to amd64/linux); the image
    id is the sha256 of the config JSON bytes written. ``layout="docker"`` writes the legacy
    ``docker save`` layout (manifest.json, <id>/layer.tar, <id>.json, repositories);
    ``layout="oci"`` writes what Docker 25+ saves (oci-layout, index.json, blobs/sha256/*,
    plus manifest.json). ``gzip`` compresses the layer blobs (deterministically).
    """
    if layout not in ("docker", "oci"):
        raise ImageError(f"unknown layout {layout!r}", fix='use layout="docker" or layout="oci"')
    cfg = json.loads(json.dumps(dict(config)))
    cfg.setdefault("architecture", "amd64")
    cfg.setdefault("os", "linux")
    diff_ids = [_digest_of(bytes(data)) for data in layers]
    cfg["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    cfg_raw = json.dumps(cfg, separators=(",", ":"), sort_keys=True).encode()
    image_id = _digest_of(cfg_raw)
    blobs = [_gzip.compress(bytes(d), mtime=0) if gzip else bytes(d) for d in layers]
    files: list[tuple[str, bytes]] = []
    tags = list(repo_tags)
    if layout == "docker":
        chain = chain_ids(diff_ids)
        layer_paths, seen, parent = [], set(), ""
        for i, blob in enumerate(blobs):
            v1 = hashlib.sha256(f"{chain[i]} {parent}".encode()).hexdigest()
            path = f"{v1}/layer.tar"
            if path not in seen:
                seen.add(path)
                files += [(f"{v1}/VERSION", b"1.0"),
                          (f"{v1}/json", json.dumps({"id": v1, **({"parent": parent} if parent else {})},
                                                    separators=(",", ":")).encode()),
                          (path, blob)]
            layer_paths.append(path)
            parent = v1
        files.append((f"{image_id.split(':', 1)[1]}.json", cfg_raw))
        manifest = [{"Config": f"{image_id.split(':', 1)[1]}.json", "RepoTags": tags or None,
                     "Layers": layer_paths}]
        files.append(("manifest.json", json.dumps(manifest, separators=(",", ":")).encode()))
        repos: dict[str, dict[str, str]] = {}
        for t in tags:
            repo, _, tg = t.rpartition(":") if ":" in t.rsplit("/", 1)[-1] else (t, "", "latest")
            repos.setdefault(repo, {})[tg] = parent
        if repos:
            files.append(("repositories", json.dumps(repos, separators=(",", ":")).encode()))
    else:
        mt = OCI_LAYER + ("+gzip" if gzip else "")
        blob_files: dict[str, bytes] = {}
        ldescs = []
        for blob in blobs:
            d = _digest_of(blob)
            blob_files[f"blobs/sha256/{d.split(':', 1)[1]}"] = blob
            ldescs.append({"mediaType": mt, "digest": d, "size": len(blob)})
        blob_files[f"blobs/sha256/{image_id.split(':', 1)[1]}"] = cfg_raw
        man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": {"mediaType": OCI_CONFIG, "digest": image_id, "size": len(cfg_raw)},
               "layers": ldescs}
        man_raw = json.dumps(man, separators=(",", ":")).encode()
        man_digest = _digest_of(man_raw)
        blob_files[f"blobs/sha256/{man_digest.split(':', 1)[1]}"] = man_raw
        descs = []
        for t in tags or [None]:
            d: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": man_digest, "size": len(man_raw)}
            if t:
                full = t if "/" in t else f"docker.io/library/{t}"
                d["annotations"] = {"io.containerd.image.name": full,
                                    "org.opencontainers.image.ref.name": t.rsplit(":", 1)[-1]}
            descs.append(d)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs}
        files += [("blobs", b""), ("blobs/sha256", b"")]
        files += sorted(blob_files.items())
        files.append(("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'))
        files.append(("index.json", json.dumps(index, separators=(",", ":")).encode()))
        manifest = [{"Config": f"blobs/sha256/{image_id.split(':', 1)[1]}", "RepoTags": tags or None,
                     "Layers": [f"blobs/sha256/{x['digest'].split(':', 1)[1]}" for x in ldescs]}]
        files.append(("manifest.json", json.dumps(manifest, separators=(",", ":")).encode()))
    _write_tar(files, dest)
    return ImageRef(id=image_id, tags=tuple(tags), engine="")


def _write_tar(files: list[tuple[str, bytes]], dest: str | Path | BinaryIO) -> None:
    def emit(f: BinaryIO) -> None:
        with tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tf:
            dirs = set()
            for name, data in files:
                parts = name.split("/")
                for k in range(1, len(parts)):
                    d = "/".join(parts[:k])
                    if d not in dirs:
                        dirs.add(d)
                        ti = tarfile.TarInfo(d)
                        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                        tf.addfile(ti)
                if name in ("blobs", "blobs/sha256"):
                    continue
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode = len(data), 0o644
                tf.addfile(ti, io.BytesIO(data))

    if isinstance(dest, (str, Path)):
        tmp = Path(f"{dest}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                emit(f)  # type: ignore[arg-type]
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        emit(dest)
