"""Malformed image metadata and layers Docker refuses: every kind is one ``ImageError`` (or
``LayerError``) naming the file, the same for ``open_image``, ``flatten`` and ``inspect``
(``analyze``); bzip2 and xz layers have the diffID of their uncompressed tar, as in Docker.

Saved images are written here with the standard library's tarfile (layer tars with tarkit),
and every digest the tests expect is computed with hashlib from the bytes written.
"""
from __future__ import annotations

import bz2
import copy
import hashlib
import io
import json
import lzma
import tarfile
from pathlib import Path
from typing import Any, Callable

import pytest
from tarkit import DIR, INVALID, E, layer_tar, make_layer, plain_tar

from labkit.analysis.efficiency import analyze
from labkit.errors import DigestMismatch, ImageError, LayerError
from labkit.oci.flatten import flatten
from labkit.oci.image import open_image

LAYER = make_layer(("d", "etc"), ("f", "etc/hosts", b"127.0.0.1 localhost\n"), ("l", "etc/link", "hosts"))
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_for(diff_ids: list[str]) -> dict[str, Any]:
    return {"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "COPY . /", "created": "2024-01-01T00:00:00Z"}]}


def write_tar(path: Path, members: dict[str, bytes], extra: bytes = b"") -> Path:
    data = plain_tar(members)
    if extra:                       # raw blocks put before the end-of-archive blocks
        end = data.rstrip(b"\0")
        end += b"\0" * (-len(end) % 512)
        data = end + extra + b"\0" * 1024
    path.write_bytes(data)
    return path


def legacy(path: Path, *, blob: bytes = LAYER, diff_id: str | None = None,
           config: Any = None, manifest: Callable[[list], Any] | None = None,
           raw_manifest: bytes | None = None, extra: bytes = b"") -> Path:
    """A ``docker save`` tar of one layer; ``config``/``manifest`` replace (or patch) the JSON."""
    cfg = config if config is not None else config_for([diff_id or sha(blob)])
    raw_config = json.dumps(cfg).encode()
    config_name = hashlib.sha256(raw_config).hexdigest() + ".json"
    entries = [{"Config": config_name, "RepoTags": ["meta:1"], "Layers": ["l0/layer.tar"]}]
    doc = manifest(copy.deepcopy(entries)) if manifest else entries
    raw = raw_manifest if raw_manifest is not None else json.dumps(doc).encode()
    return write_tar(path, {"manifest.json": raw, config_name: raw_config, "l0/layer.tar": blob}, extra)


def oci(path: Path, *, config: Any = None, manifest: Callable[[dict], Any] | None = None,
        index: Callable[[dict], Any] | None = None, layout: Any = None) -> Path:
    """An OCI layout directory of one layer; the callables patch the documents."""
    cfg = json.dumps(config if config is not None else config_for([sha(LAYER)])).encode()
    man: Any = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg),
                           "size": len(cfg)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(LAYER),
                            "size": len(LAYER)}]}
    man = manifest(man) if manifest else man
    raw_man = json.dumps(man).encode()
    idx: Any = {"schemaVersion": 2, "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha(raw_man),
                                                   "size": len(raw_man)}]}
    idx = index(idx) if index else idx
    (path / "blobs" / "sha256").mkdir(parents=True)
    for data in (LAYER, cfg, raw_man):
        (path / "blobs" / "sha256" / sha(data).split(":")[1]).write_bytes(data)
    (path / "oci-layout").write_text(json.dumps(layout if layout is not None else {"imageLayoutVersion": "1.0.0"}))
    (path / "index.json").write_text(json.dumps(idx))
    return path


def refused_everywhere(source: Path, cls: type = ImageError, match: str | None = None) -> None:
    """``open_image`` (verified or not), ``flatten`` and ``analyze`` all raise ``cls``."""
    with pytest.raises(cls, match=match):
        open_image(source)
    with pytest.raises(cls, match=match):
        flatten(str(source), jobs=1)

    def inspect() -> None:
        with open_image(source, verify=False) as img:
            analyze(img)
    with pytest.raises(cls, match=match):
        inspect()


# --------------------------------------------------------------------------- docker save

def _set(path: str, value: Any) -> Callable[[Any], Any]:
    """A patch: ``entries[0][path] = value`` (``value`` is ``DROP`` to delete the key)."""
    def patch(doc: Any) -> Any:
        if value is DROP:
            del doc[0][path]
        else:
            doc[0][path] = value
        return doc
    return patch


DROP = object()
BAD_MANIFESTS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "manifest-is-object": (lambda doc: doc[0], r"manifest.json is a JSON object, not a list"),
    "entry-is-string": (lambda doc: ["x"], r"\[0\] is a string"),
    "config-missing": (_set("Config", DROP), r"\[0\].Config is missing"),
    "config-is-int": (_set("Config", 5), r"\[0\].Config is missing or not a string"),
    "layers-missing": (_set("Layers", DROP), r"\[0\].Layers is missing"),
    "layers-is-string": (_set("Layers", "l0/layer.tar"), r"\[0\].Layers is a string"),
    "layers-hold-ints": (_set("Layers", [0]), r"\[0\].Layers\[0\] is a number"),
    "repotags-is-string": (_set("RepoTags", "meta:1"), r"\[0\].RepoTags is a string, not a list"),
    "repotags-hold-objects": (_set("RepoTags", [{"a": 1}]), r"RepoTags\[0\] is a JSON object"),
    "parent-is-int": (_set("Parent", 1), r"\[0\].Parent is a number"),
    "layer-sources-is-list": (_set("LayerSources", []), r"LayerSources is a list"),
}


@pytest.mark.parametrize("kind", sorted(BAD_MANIFESTS))
def test_malformed_manifest_json(tmp_path: Path, kind: str) -> None:
    patch, message = BAD_MANIFESTS[kind]
    refused_everywhere(legacy(tmp_path / f"{kind}.tar", manifest=patch), ImageError, message)


@pytest.mark.parametrize("raw", [b"\xff\xfe{not json", b"[{", b"", b"NaN"])
def test_manifest_that_is_not_json(tmp_path: Path, raw: bytes) -> None:
    refused_everywhere(legacy(tmp_path / "m.tar", raw_manifest=raw), ImageError, "manifest.json")


def _config(patch: Callable[[dict], Any]) -> Any:
    return patch(config_for([sha(LAYER)]))


BAD_CONFIGS: dict[str, tuple[Any, str]] = {
    "config-is-list": ([1, 2], r"\.json is a list, not a JSON object"),
    "config-is-string": ("config", r"\.json is a string"),
    "rootfs-missing": (_config(lambda c: {k: v for k, v in c.items() if k != "rootfs"}), r"rootfs is missing"),
    "rootfs-is-list": (_config(lambda c: {**c, "rootfs": ["x"]}), r"rootfs is a list"),
    "rootfs-is-string": (_config(lambda c: {**c, "rootfs": "layers"}), r"rootfs is a string"),
    "diff-ids-missing": (_config(lambda c: {**c, "rootfs": {"type": "layers"}}), r"rootfs.diff_ids is missing"),
    "diff-ids-is-string": (_config(lambda c: {**c, "rootfs": {"diff_ids": sha(LAYER)}}),
                           r"rootfs.diff_ids is a string, not a list"),
    "diff-ids-hold-ints": (_config(lambda c: {**c, "rootfs": {"diff_ids": [1]}}), r"diff_ids\[0\] is a number"),
    "diff-id-md5": (_config(lambda c: {**c, "rootfs": {"diff_ids": ["md5:abc"]}}), r"digest algorithm md5"),
    "diff-id-not-a-digest": (_config(lambda c: {**c, "rootfs": {"diff_ids": ["sha256:xyz"]}}), r"not a digest"),
    "diff-ids-too-many": (_config(lambda c: {**c, "rootfs": {"diff_ids": [sha(LAYER)] * 2}}),
                          r"2 diff_ids but the manifest 1 layers"),
    "history-is-object": (_config(lambda c: {**c, "history": {"created_by": "x"}}), r"history is a JSON object"),
    "history-holds-ints": (_config(lambda c: {**c, "history": [1]}), r"history\[0\] is a number"),
    "created-by-object": (_config(lambda c: {**c, "history": [{"created_by": {"x": 1}}]}),
                          r"history\[0\].created_by is a JSON object"),
    "empty-layer-string": (_config(lambda c: {**c, "history": [{"empty_layer": "yes"}]}),
                           r"history\[0\].empty_layer is a string, not true or false"),
    "config-config-is-list": (_config(lambda c: {**c, "config": ["Cmd"]}), r"config is a list"),
    "labels-are-list": (_config(lambda c: {**c, "config": {"Labels": ["a"]}}), r"config.Labels is a list"),
    "label-value-int": (_config(lambda c: {**c, "config": {"Labels": {"a": 1}}}), r"config.Labels\['a'\] is a number"),
    "env-is-string": (_config(lambda c: {**c, "config": {"Env": "A=1"}}), r"config.Env is a string"),
    "env-holds-ints": (_config(lambda c: {**c, "config": {"Env": [1]}}), r"config.Env\[0\] is a number"),
    "cmd-is-int": (_config(lambda c: {**c, "config": {"Cmd": 1}}), r"config.Cmd is a number"),
    "ports-are-list": (_config(lambda c: {**c, "config": {"ExposedPorts": [80]}}), r"config.ExposedPorts is a list"),
    "volumes-is-string": (_config(lambda c: {**c, "config": {"Volumes": "/data"}}), r"config.Volumes is a string"),
    "user-is-int": (_config(lambda c: {**c, "config": {"User": 0}}), r"config.User is a number"),
    "healthcheck-test-string": (_config(lambda c: {**c, "config": {"Healthcheck": {"Test": "true"}}}),
                                r"config.Healthcheck.Test is a string"),
    "architecture-is-int": (_config(lambda c: {**c, "architecture": 64}), r"architecture is a number"),
}


@pytest.mark.parametrize("kind", sorted(BAD_CONFIGS))
def test_malformed_config(tmp_path: Path, kind: str) -> None:
    config, message = BAD_CONFIGS[kind]
    refused_everywhere(legacy(tmp_path / f"{kind}.tar", config=config), ImageError, message)


def test_what_docker_accepts_is_accepted(tmp_path: Path) -> None:
    # null where Go allows an absent value; Cmd as one string (strslice); no history at all
    cfg = {**config_for([sha(LAYER)]), "history": None,
           "config": {"Cmd": "sh -c true", "Env": None, "Labels": None, "ExposedPorts": {"80/tcp": {}},
                      "Volumes": {"/data": {}}, "Healthcheck": {"Test": ["CMD", "true"], "Interval": 10}},
           "container_config": None, "os.features": ["x"]}
    path = legacy(tmp_path / "ok.tar", config=cfg, manifest=_set("RepoTags", None))
    with open_image(path) as img:
        assert img.diff_ids == (sha(LAYER),)
        assert [h.created_by for h in img.history] == ["(no history)"]
    assert "etc/hosts" in flatten(str(path), jobs=1)


def _sparse_header(name: bytes, sparse: bytes, realsize: bytes) -> bytes:
    """An old-GNU sparse member header ('S'), its map and realsize fields given raw."""
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % 512
    h[136:148] = b"%011o\0" % 0
    h[156:157] = b"S"
    h[257:265] = b"ustar  \0"
    h[386:386 + len(sparse)] = sparse
    h[483:483 + len(realsize)] = realsize
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h) + b"x" * 512


@pytest.mark.parametrize("sparse,realsize", [(b"zz" * 48, b"not-octal\0"), ((b"\xff" * 12) * 8, b"\xff" * 12),
                                             ((b"%011o\0" % (8**11 - 1)) * 8, b"%011o\0" % (8**11 - 1))])
def test_bad_gnu_sparse_member_in_the_image_tar(tmp_path: Path, sparse: bytes, realsize: bytes) -> None:
    path = legacy(tmp_path / "sparse.tar", extra=_sparse_header(b"sp", sparse, realsize))
    refused_everywhere(path, ImageError, "sparse|malformed tar header")


@pytest.mark.parametrize("records", [{"GNU.sparse.map": "a,b,c", "GNU.sparse.size": "99"},
                                     {"GNU.sparse.numblocks": "x", "GNU.sparse.offset": "0"},
                                     {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                                      "GNU.sparse.name": "f", "GNU.sparse.realsize": "10"}])
def test_bad_pax_sparse_records_in_the_image_tar(tmp_path: Path, records: dict[str, str]) -> None:
    ok = legacy(tmp_path / "ok.tar")
    with tarfile.open(ok) as tf:
        members = {m.name: tf.extractfile(m).read() for m in tf}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("sp")
        info.size, info.pax_headers = 512, records
        tf.addfile(info, io.BytesIO(b"x" * 512))
    bad = tmp_path / "pax-sparse.tar"
    bad.write_bytes(buf.getvalue())
    refused_everywhere(bad, ImageError, "sparse")


# --------------------------------------------------------------------------- OCI layouts

BAD_LAYOUTS: dict[str, tuple[dict[str, Any], str]] = {
    "layout-is-list": ({"layout": []}, r"oci-layout is a list"),
    "layout-without-version": ({"layout": {}}, r"imageLayoutVersion is missing"),
    "manifests-missing": ({"index": lambda i: {"schemaVersion": 2}}, r"index.json: manifests is missing"),
    "manifests-not-list": ({"index": lambda i: {**i, "manifests": i["manifests"][0]}}, r"manifests is a JSON object"),
    "manifests-hold-ints": ({"index": lambda i: {**i, "manifests": [1]}}, r"manifests\[0\] is a number"),
    "descriptor-without-digest": ({"index": lambda i: {"manifests": [{"size": 1}]}}, r"manifests\[0\].digest is missing"),
    "digest-md5": ({"index": lambda i: {"manifests": [{**i["manifests"][0], "digest": "md5:ab"}]}},
                   r"digest algorithm md5"),
    "digest-traversal": ({"manifest": lambda m: {**m, "layers": [{**m["layers"][0],
                                                                  "digest": "sha256:../../../etc/passwd"}]}},
                         r"layers\[0\].digest is 'sha256:\.\./"),
    "size-is-string": ({"manifest": lambda m: {**m, "layers": [{**m["layers"][0], "size": "12"}]}},
                       r"layers\[0\].size is a string"),
    "size-negative": ({"manifest": lambda m: {**m, "layers": [{**m["layers"][0], "size": -1}]}},
                      r"layers\[0\].size is -1"),
    "annotations-not-dict": ({"index": lambda i: {"manifests": [{**i["manifests"][0], "annotations": ["a"]}]}},
                             r"annotations is a list"),
    "annotation-value-int": ({"index": lambda i: {"manifests": [{**i["manifests"][0], "annotations": {"a": 1}}]}},
                             r"annotations\['a'\] is a number"),
    "config-desc-is-string": ({"manifest": lambda m: {**m, "config": "sha256:ab"}}, r"config is a string"),
    "layers-not-list": ({"manifest": lambda m: {**m, "layers": {"0": m["layers"][0]}}}, r"layers is a JSON object"),
    "manifest-is-list": ({"manifest": lambda m: [m]}, r"is a list, not a JSON object"),
    "nested-platform-not-dict": ({"manifest": lambda m: {"mediaType": OCI_INDEX, "manifests": [
        {"digest": sha(b"x"), "platform": "linux"}]}}, r"manifests\[0\].platform is a string"),
    "nested-manifests-hold-strings": ({"manifest": lambda m: {"mediaType": OCI_INDEX, "manifests": ["x"]}},
                                      r"manifests\[0\] is a string"),
    "config-blob-wrong-types": ({"config": {**config_for([sha(LAYER)]), "history": "none"}},
                                r"history is a string"),
}


@pytest.mark.parametrize("kind", sorted(BAD_LAYOUTS))
def test_malformed_oci_layout(tmp_path: Path, kind: str) -> None:
    patches, message = BAD_LAYOUTS[kind]
    refused_everywhere(oci(tmp_path / kind, **patches), ImageError, message)


def test_a_valid_oci_layout_opens(tmp_path: Path) -> None:
    with open_image(oci(tmp_path / "ok")) as img:
        assert img.diff_ids == (sha(LAYER),)
        assert img.layers[0].digest == sha(LAYER)


# --------------------------------------------------------------------------- compressed layers

@pytest.mark.parametrize("compress", [bz2.compress, lzma.compress], ids=["bzip2", "xz"])
def test_bz2_and_xz_layers_have_the_diff_id_of_their_tar(tmp_path: Path, compress: Callable) -> None:
    blob = compress(LAYER)
    assert blob != LAYER and sha(blob) != sha(LAYER)
    path = legacy(tmp_path / "c.tar", blob=blob, diff_id=sha(LAYER))    # what Docker expects
    with open_image(path) as img:
        assert img.diff_ids == (sha(LAYER),)
        assert img.layers[0].digest == sha(blob)
        assert img.layers[0].tar_size == len(LAYER)
        with img.open_layer(0) as f:
            assert f.read() == LAYER
        with img.open_layer(0, verify=False) as f:
            assert f.read() == LAYER
    with tarfile.open(fileobj=io.BytesIO(LAYER)) as tf:
        hosts = tf.extractfile("etc/hosts").read()
    tree = flatten(str(path), jobs=1)
    assert tree["etc/hosts"].sha256 == hashlib.sha256(hosts).hexdigest()
    with open_image(path, verify=False) as img:
        assert analyze(img).final_files == 2
    # the digest of the compressed bytes is not the diffID: Docker says "invalid diffID"
    wrong = legacy(tmp_path / "wrong.tar", blob=blob, diff_id=sha(blob))
    refused_everywhere(wrong, DigestMismatch)


# --------------------------------------------------------------------------- inspect == flatten

@pytest.mark.parametrize("case", sorted(INVALID))
def test_inspect_refuses_what_flatten_and_docker_refuse(tmp_path: Path, case: str) -> None:
    blobs = [layer_tar(entries) for entries in INVALID[case]]
    cfg = config_for([sha(b) for b in blobs])
    cfg["history"] = [{"created_by": f"layer {i}"} for i in range(len(blobs))]
    raw_config = json.dumps(cfg).encode()
    name = hashlib.sha256(raw_config).hexdigest() + ".json"
    members = {"manifest.json": json.dumps([{"Config": name, "RepoTags": None,
                                             "Layers": [f"l{i}/layer.tar" for i in range(len(blobs))]}]).encode(),
               name: raw_config, **{f"l{i}/layer.tar": b for i, b in enumerate(blobs)}}
    refused_everywhere(write_tar(tmp_path / f"{case}.tar", members), LayerError)


def test_inspect_counts_a_path_given_twice_in_a_layer_once(tmp_path: Path) -> None:
    # Docker unpacks both: the second replaces the first, the layer holds 6 bytes
    blob = layer_tar([E("/spl/a", data=b"first"), E("spl/a", data=b"second"), E("d", DIR), E("/d", DIR)])
    path = legacy(tmp_path / "twice.tar", blob=blob, diff_id=sha(blob))
    with open_image(path) as img:
        assert img.layers[0].size == len(b"second")
        result = analyze(img)
    layer = result.layers[0]
    assert layer.added == ("spl/a", "d")
    assert layer.size == len(b"second") and layer.file_count == 1 and layer.entries == 4
    assert result.stored_bytes == result.final_bytes == len(b"second") and result.waste == ()
    tree = flatten(str(path), jobs=1)
    assert tree["spl/a"].sha256 == hashlib.sha256(b"second").hexdigest()
