"""Lesson 05 helpers: the three names of a layer (diffID, blob digest, chainID), the parts of a
manifest and config that both engines write alike, a saved image with one byte changed, and
which layers two images share."""
from __future__ import annotations

import io
import json
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..analysis.compare import compare
from ..errors import ImageError
from ..oci.write import write_image_tar
from ..values import LABEL

_GZIP_MAGIC = b"\x1f\x8b"
_LABKIT_LABELS = "org.labkit."          # labkit's own bookkeeping labels (session differs per run)


# -- the names of a layer --------------------------------------------------------------------

def _short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def id_table(image) -> str:
    """One row per layer of an opened image: its diffID, the digest of the blob as stored,
    whether the two are equal (they are when the blob is stored uncompressed), and its chainID."""
    rows = [f"{'layer':>5}  {'diffID':<12}  {'blob digest':<12}  {'same?':<5}  chainID"]
    for la, chain in zip(image.layers, image.chain_ids):
        rows.append(f"{la.index:>5}  {_short(la.diff_id):<12}  {_short(la.digest):<12}  "
                    f"{'yes' if la.digest == la.diff_id else 'no':<5}  {_short(chain)}")
    return "\n".join(rows)


def compressed_copy(image, dest: str | Path) -> Path:
    """Write ``image`` (opened with ``labkit.open_image``) again with gzip-compressed layer
    blobs in the OCI layout, as a registry stores them: the diffIDs stay, the blob digests
    change. Returns ``dest``."""
    layers = []
    for i in range(len(image.layers)):
        with image.open_layer(i) as f:
            layers.append(f.read())
            f.finish()
    config = {k: v for k, v in image.config.items() if k != "rootfs"}
    write_image_tar(layers, config, dest, layout="oci", gzip=True)
    return Path(dest)


def restack(image, dest: str | Path, layers: Sequence[int]) -> Path:
    """Write a new image made of some of ``image``'s layers, byte for byte, in the order given
    (e.g. ``[0, 2]``: layer 2 put straight on the base). Each kept layer keeps its diffID; its
    chainID changes whenever the layers below it differ. Returns ``dest``."""
    picked = list(layers)
    if not picked or any(not 0 <= i < len(image.layers) for i in picked):
        raise ImageError(f"layers {picked} are not all layers of the image (0 to {len(image.layers) - 1})",
                         fix="pass layer indexes of the image, bottom first, e.g. [0, 2]")
    blobs = []
    for i in picked:
        with image.open_layer(i) as f:
            blobs.append(f.read())
            f.finish()
    history = [{"created_by": image.layers[i].created_by or f"layer {i} of {image.ref.short_id}"}
               for i in picked]
    config = {"architecture": image.config.get("architecture", "amd64"),
              "os": image.config.get("os", "linux"), "history": history,
              "config": {"Labels": {LABEL: "true"}}}   # loaded into Docker, labkit can clean it
    write_image_tar(blobs, config, dest)
    return Path(dest)


# -- manifest and config, as both engines write them -----------------------------------------

def config_view(image) -> dict[str, Any]:
    """The parts of an image's config that say what the image IS, the same on both engines:
    platform, run settings, history (instruction, empty or not) and ``rootfs.diff_ids``.
    Left out: creation times, the builder's container, Docker's defaults for unset fields,
    and labkit's own ``org.labkit.*`` labels."""
    cfg = image.config
    run = cfg.get("config") or {}
    settings = {k: run[k] for k in ("Cmd", "Entrypoint", "Env", "WorkingDir", "User")
                if run.get(k) not in (None, "", [])}
    labels = {k: v for k, v in (run.get("Labels") or {}).items() if not k.startswith(_LABKIT_LABELS)}
    if labels:
        settings["Labels"] = labels
    history = [{"created_by": h.get("created_by", ""),
                **({"empty_layer": True} if h.get("empty_layer") else {})}
               for h in cfg.get("history") or []
               if not _labkit_step(h.get("created_by", ""))]
    return {"architecture": cfg.get("architecture"), "os": cfg.get("os"), "config": settings,
            "history": history, "rootfs": cfg.get("rootfs")}


def _labkit_step(created_by: str) -> bool:
    return "LABEL " + _LABKIT_LABELS in created_by


def manifest_view(image) -> dict[str, Any]:
    """The manifest's parts that name content: the config and the layer blobs, in order
    (``RepoTags`` and annotations left out: they name, they do not address)."""
    m = image.manifest
    if "layers" in m:           # OCI / registry manifest: descriptors with digests and sizes
        return {"mediaType": m.get("mediaType"),
                "config": {"digest": m["config"]["digest"], "mediaType": m["config"].get("mediaType")},
                "layers": [{"mediaType": d.get("mediaType"), "digest": d["digest"]}
                           for d in m["layers"]]}
    return {"Config": m.get("Config"), "Layers": list(m.get("Layers") or [])}


def show_json(value: Mapping[str, Any] | list) -> str:
    """Indented JSON, keys sorted, for reading in a notebook."""
    return json.dumps(value, indent=2, sort_keys=True)


# -- a changed byte --------------------------------------------------------------------------

@dataclass(frozen=True)
class Tampered:
    """Where ``flip_byte`` changed a saved image."""
    path: Path                 # the changed copy
    layer: int                 # index of the layer whose blob was changed
    member: str                # the file inside that layer whose content changed ("" if compressed)
    offset: int                # byte offset in the saved tar

    def __str__(self) -> str:
        inside = f"/{self.member}" if self.member else "its compressed blob"
        return f"flipped one byte of {inside} in layer {self.layer} of {self.path.name}"


def _manifest_layers(tf: tarfile.TarFile, source: Path) -> list[str]:
    try:
        member = tf.getmember("manifest.json")
    except KeyError:
        raise ImageError(f"{source} has no manifest.json",
                         fix="pass a tar written by engine.save (docker save)") from None
    data = tf.extractfile(member)
    manifest = json.loads(data.read() if data else b"[]")
    if not manifest or not manifest[0].get("Layers"):
        raise ImageError(f"{source}: manifest.json lists no layers",
                         fix="pass a tar written by engine.save (docker save)")
    return list(manifest[0]["Layers"])


def flip_byte(source: str | Path, dest: str | Path, *, layer: int = 1) -> Tampered:
    """Copy the saved image ``source`` to ``dest`` and flip one bit of one byte inside layer
    ``layer``'s blob: the first byte of the first non-empty file's content (or a byte in the
    middle of a compressed blob). The tar stays well-formed; only the content changes, so
    ``open_image(dest)`` can only notice through the digests."""
    source, dest = Path(source), Path(dest)
    with tarfile.open(source, "r:") as tf:
        names = _manifest_layers(tf, source)
        if not 0 <= layer < len(names):
            raise ImageError(f"layer {layer} does not exist: the image has {len(names)} layers",
                             fix=f"pick a layer from 0 to {len(names) - 1}")
        blob = tf.getmember(names[layer].lstrip("./"))
        start = blob.offset_data
    with open(source, "rb") as f:
        f.seek(start)
        head = f.read(min(blob.size, 2))
        member, offset = "", start + blob.size // 2
        if head != _GZIP_MAGIC:
            f.seek(start)
            inner = io.BytesIO(f.read(blob.size))
            with tarfile.open(fileobj=inner, mode="r:") as lt:
                found = next((m for m in lt.getmembers() if m.isfile() and m.size > 0), None)
            if found is None:
                raise ImageError(f"layer {layer} holds no file with content to change",
                                 fix="pick a layer that adds or changes a file")
            member, offset = found.name.lstrip("./"), start + found.offset_data
    shutil.copyfile(source, dest)
    with open(dest, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))
    return Tampered(dest, layer, member, offset)


# -- sharing ---------------------------------------------------------------------------------

def sharing_text(a, b) -> str:
    """Layer by layer of image ``b``: is the same content in ``a`` (diffID), and on the same
    layers below (chainID)? Then what a pull of ``b`` fetches when ``a`` is present."""
    c = compare(a, b, paths=False)
    a_diff, a_chain = set(a.diff_ids), set(a.chain_ids)
    rows = [f"{'layer':>5}  {'diffID in A?':<13}chainID in A?"]
    for la, chain in zip(b.layers, b.chain_ids):
        rows.append(f"{la.index:>5}  {'yes' if la.diff_id in a_diff else 'no':<13}"
                    f"{'yes' if chain in a_chain else 'no'}")
    rows.append(f"B shares its bottom {c.shared_chain} of {len(b.layers)} layers with A; "
                f"a pull of B next to A fetches {len(c.transfer_layers)}")
    return "\n".join(rows)
