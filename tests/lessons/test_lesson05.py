"""Lesson 05 helpers against the real systems.

Digests are recomputed here from the raw tar bytes with hashlib/tarfile/gzip (never through
labkit), and compared with what the Docker daemon itself reports (``docker inspect`` RootFS,
``docker load``'s own verdict, the overlay2 layer store on disk).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import uuid
from pathlib import Path

import pytest

from requirekit import skip_unless_required

import labkit
from labkit.errors import DigestMismatch, ImageError
from labkit.fs.node import Node
from labkit.oci.write import write_image_tar
from labkit.lessons.lesson05 import (Tampered, compressed_copy, config_view, flip_byte, id_table,
                                     manifest_view, restack, sharing_text, show_json)
from labkit.oci.tar.writer import layer_bytes


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _chain(diff_ids: list[str]) -> list[str]:
    out = [diff_ids[0]]
    for d in diff_ids[1:]:
        out.append(_sha(f"{out[-1]} {d}".encode()))
    return out


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}


def _raw(path: Path) -> tuple[dict, dict, list[bytes]]:
    """manifest.json entry, config and layer blobs of a saved tar, read with tarfile only."""
    files = _members(path)
    entry = json.loads(files["manifest.json"])[0]
    return entry, json.loads(files[entry["Config"]]), [files[name] for name in entry["Layers"]]


@pytest.fixture(scope="module")
def pair(engine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"l05-{engine.name}")
    context = labkit.example("share05", tmp / "ctx")
    a = engine.build(context, dockerfile="Dockerfile.a", tag="lesson05-a")
    b = engine.build(context, dockerfile="Dockerfile.b", tag="lesson05-b")
    return {"engine": engine, "a": a.image, "b": b.image, "a_tar": engine.save(a.image, tmp / "a.tar"),
            "b_tar": engine.save(b.image, tmp / "b.tar")}


def test_id_table_and_views_agree_with_the_raw_tar(pair):
    entry, config, blobs = _raw(pair["a_tar"])
    diff_ids = config["rootfs"]["diff_ids"]
    assert [_sha(b) for b in blobs] == diff_ids           # docker save: blobs stored uncompressed
    with labkit.open_image(pair["a_tar"]) as image:
        rows = id_table(image).splitlines()[1:]
        assert len(rows) == len(diff_ids)
        for i, (row, d, c) in enumerate(zip(rows, diff_ids, _chain(diff_ids))):
            assert row.split() == [str(i), d[7:19], d[7:19], "yes", c[7:19]]
        assert manifest_view(image) == {"Config": entry["Config"], "Layers": entry["Layers"]}
        view = config_view(image)
    assert view["rootfs"]["diff_ids"] == diff_ids
    assert view["config"]["Cmd"] == config["config"]["Cmd"]
    assert not any(k.startswith("org.labkit.") for k in view["config"].get("Labels", {}))
    made = [h for h in config["history"] if "org.labkit." not in h["created_by"]]
    assert [h["created_by"] for h in view["history"]] == [h["created_by"] for h in made]
    assert json.loads(show_json(view)) == view


def test_config_view_matches_docker_inspect(docker_client, docker_engine, tmp_path):
    record = docker_engine.build(labkit.example("layers01"), tag="lesson05-config")
    info = docker_client.api.inspect_image(record.image.id)
    with labkit.open_image(docker_engine.save(record.image, tmp_path / "i.tar")) as image:
        view = config_view(image)
    assert view["config"]["Env"] == info["Config"]["Env"]
    assert view["config"]["Cmd"] == info["Config"]["Cmd"]
    assert view["config"]["WorkingDir"] == info["Config"]["WorkingDir"]
    assert view["config"]["Labels"] == {k: v for k, v in info["Config"]["Labels"].items()
                                        if not k.startswith("org.labkit.")}
    assert view["rootfs"]["diff_ids"] == info["RootFS"]["Layers"]
    assert view["architecture"] == info["Architecture"] and view["os"] == info["Os"]
    daemon = docker_client.api.history(record.image.id)
    assert len(view["history"]) == len(daemon) - 2         # labkit's two LABEL steps left out


def test_compressed_copy_keeps_diff_ids_and_changes_digests(pair, tmp_path):
    _, config, _ = _raw(pair["a_tar"])
    with labkit.open_image(pair["a_tar"]) as image:
        dest = compressed_copy(image, tmp_path / "gz.tar")
    files = _members(dest)
    index = json.loads(files["index.json"])
    manifest = json.loads(files["blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]])
    unpacked = []
    for desc in manifest["layers"]:
        blob = files["blobs/sha256/" + desc["digest"].split(":")[1]]
        assert blob[:2] == b"\x1f\x8b" and desc["mediaType"].endswith("+gzip")
        assert _sha(blob) == desc["digest"]
        unpacked.append(_sha(gzip.decompress(blob)))
    assert unpacked == config["rootfs"]["diff_ids"]
    with labkit.open_image(dest) as gz:
        for row, desc in zip(id_table(gz).splitlines()[1:], manifest["layers"]):
            assert row.split()[2:4] == [desc["digest"][7:19], "no"]
        view = manifest_view(gz)
    assert [d["digest"] for d in view["layers"]] == [d["digest"] for d in manifest["layers"]]


def test_docker_loads_the_compressed_copy_with_the_same_diff_ids(docker_client, docker_engine, tmp_path):
    record = docker_engine.build(labkit.example("share05", tmp_path / "ctx"), dockerfile="Dockerfile.a",
                                 tag="lesson05-gz")
    with labkit.open_image(docker_engine.save(record.image, tmp_path / "a.tar")) as image:
        dest = compressed_copy(image, tmp_path / "gz.tar")
    loaded = docker_client.images.load(dest.read_bytes())
    try:
        assert [i.attrs["RootFS"]["Layers"] for i in loaded] == \
            [docker_client.api.inspect_image(record.image.id)["RootFS"]["Layers"]]
    finally:
        for i in loaded:   # a new config serialisation: a new image id, labelled like the original
            if i.id != record.image.id and not i.tags and i.labels.get("org.labkit.managed") == "true":
                docker_client.images.remove(i.id, force=True)


def test_flip_byte_changes_one_byte_and_open_image_names_the_layer(pair, tmp_path):
    _, config, blobs = _raw(pair["a_tar"])
    tampered = flip_byte(pair["a_tar"], tmp_path / "bad.tar", layer=1)
    assert isinstance(tampered, Tampered)
    before, after = pair["a_tar"].read_bytes(), tampered.path.read_bytes()
    assert len(before) == len(after)
    assert [i for i in range(len(before)) if before[i] != after[i]] == [tampered.offset]
    assert before[tampered.offset] ^ after[tampered.offset] == 1
    assert tampered.member == "srv/shared.txt"      # the first file layer 1 holds (COPY shared.txt)
    assert str(tampered) == "flipped one byte of /srv/shared.txt in layer 1 of bad.tar"
    _, _, bad_blobs = _raw(tampered.path)
    with pytest.raises(DigestMismatch) as err:
        labkit.open_image(tampered.path)
    assert err.value.what == "layer 1"
    assert err.value.expected == config["rootfs"]["diff_ids"][1] == _sha(blobs[1])
    assert err.value.actual == _sha(bad_blobs[1])
    assert "save it again" in str(err.value)


def test_flip_byte_in_a_compressed_blob_is_caught(pair, tmp_path):
    with labkit.open_image(pair["a_tar"]) as image:
        gz = compressed_copy(image, tmp_path / "gz.tar")
    tampered = flip_byte(gz, tmp_path / "bad-gz.tar", layer=2)
    assert tampered.member == "" and "compressed blob" in str(tampered)
    with pytest.raises(DigestMismatch) as err:
        labkit.open_image(tampered.path)
    assert err.value.what == "layer 2"


def test_flip_byte_refuses_what_it_cannot_do(pair, tmp_path):
    with pytest.raises(ImageError, match="layer 7 does not exist"):
        flip_byte(pair["a_tar"], tmp_path / "x.tar", layer=7)
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tf:
        tf.addfile(tarfile.TarInfo("hello"), io.BytesIO(b""))
    with pytest.raises(ImageError, match="no manifest.json"):
        flip_byte(plain, tmp_path / "y.tar")
    empty = tmp_path / "empty.tar"
    write_image_tar([layer_bytes({"d": Node.dir()})], {}, empty)
    with pytest.raises(ImageError, match="no file with content"):
        flip_byte(empty, tmp_path / "z.tar", layer=0)


def _unique_image(tmp_path: Path) -> tuple[Path, list[str], str]:
    tag = uuid.uuid4().hex
    layers = [layer_bytes({"base.txt": Node.file(f"base {tag}\n".encode())}),
              layer_bytes({"top.txt": Node.file(f"top {tag}\n".encode())})]
    path = tmp_path / "unique.tar"
    ref = write_image_tar(layers, {"config": {"Labels": {"org.labkit.managed": "true"}}}, path)
    return path, [_sha(la) for la in layers], ref.id


def test_docker_refuses_a_flipped_layer_it_does_not_have(docker_client, tmp_path):
    import docker
    source, diff_ids, image_id = _unique_image(tmp_path)
    tampered = flip_byte(source, tmp_path / "bad.tar", layer=1)
    with pytest.raises(DigestMismatch) as ours:
        labkit.open_image(tampered.path)
    with pytest.raises(docker.errors.DockerException) as theirs:
        docker_client.images.load(tampered.path.read_bytes())
    message = str(theirs.value)
    assert "diffID" in message and diff_ids[1] in message
    assert ours.value.expected == diff_ids[1] and ours.value.actual in message
    with pytest.raises(docker.errors.ImageNotFound):           # nothing was loaded
        docker_client.api.inspect_image(image_id)


def test_docker_does_not_reread_a_layer_it_already_has(docker_client, docker_engine, tmp_path):
    """What the lesson states: a flipped layer whose chainID the daemon has loads silently,
    and the daemon keeps its own, unchanged content."""
    record = docker_engine.build(labkit.example("share05", tmp_path / "ctx"), dockerfile="Dockerfile.a",
                                 tag="lesson05-known")
    saved = docker_engine.save(record.image, tmp_path / "a.tar")
    tampered = flip_byte(saved, tmp_path / "bad.tar", layer=1)
    loaded = docker_client.images.load(tampered.path.read_bytes())
    assert [i.id for i in loaded] == [record.image.id]          # nothing new was made
    out = docker_engine.run(record.image, "cat /srv/shared.txt", keep=False).output
    assert out == (labkit.example("share05", tmp_path / "again") / "shared.txt").read_text()


def test_sharing_text_matches_the_layer_ids(pair):
    _, cfg_a, _ = _raw(pair["a_tar"])
    _, cfg_b, _ = _raw(pair["b_tar"])
    da, db = cfg_a["rootfs"]["diff_ids"], cfg_b["rootfs"]["diff_ids"]
    ca, cb = _chain(da), _chain(db)
    with labkit.open_image(pair["a_tar"]) as a, labkit.open_image(pair["b_tar"]) as b:
        lines = sharing_text(a, b).splitlines()
    rows = [line.split() for line in lines[1:-1]]
    assert rows == [[str(i), "yes" if d in da else "no", "yes" if c in ca else "no"]
                    for i, (d, c) in enumerate(zip(db, cb))]
    # share05 by hand: the base and the cached COPY are shared, the RUN on top is not
    assert [r[2] for r in rows] == ["yes", "yes", "no"]
    assert lines[-1] == "B shares its bottom 2 of 3 layers with A; a pull of B next to A fetches 1"


def test_shared_layers_are_stored_once_by_the_daemon(docker_client, docker_engine, tmp_path):
    context = labkit.example("share05", tmp_path / "ctx")
    a = docker_engine.build(context, dockerfile="Dockerfile.a", tag="lesson05-store-a")
    b = docker_engine.build(context, dockerfile="Dockerfile.b", tag="lesson05-store-b")
    la = docker_client.api.inspect_image(a.image.id)["RootFS"]["Layers"]
    lb = docker_client.api.inspect_image(b.image.id)["RootFS"]["Layers"]
    assert la[:2] == lb[:2] and la[2] != lb[2]
    layerdb = Path(docker_client.info()["DockerRootDir"]) / "image" / "overlay2" / "layerdb" / "sha256"
    if not layerdb.is_dir():
        skip_unless_required("LABKIT_REQUIRE_DOCKER", f"cannot read the daemon's layer store at {layerdb}")
    shared = _chain(la)[1]
    # one directory per chainID: B's second layer IS A's second layer on disk
    assert (layerdb / shared.split(":")[1] / "diff").read_text() == la[1]
    assert _chain(lb)[1] == shared


def test_restack_keeps_diff_ids_and_changes_chain_ids(pair, tmp_path):
    _, cfg, blobs = _raw(pair["a_tar"])
    da = cfg["rootfs"]["diff_ids"]
    with labkit.open_image(pair["a_tar"]) as a:
        dest = restack(a, tmp_path / "r.tar", [0, 2])
        with pytest.raises(ImageError, match="not all layers"):
            restack(a, tmp_path / "x.tar", [0, 9])
        with pytest.raises(ImageError, match="not all layers"):
            restack(a, tmp_path / "x.tar", [])
        _, rcfg, rblobs = _raw(dest)
        assert rblobs == [blobs[0], blobs[2]]                  # the very bytes
        assert rcfg["rootfs"]["diff_ids"] == [da[0], da[2]]
        new_chain = _chain([da[0], da[2]])[1]
        assert new_chain not in _chain(da)
        with labkit.open_image(dest) as r:
            assert r.chain_ids[1] == new_chain
            lines = sharing_text(a, r).splitlines()
    assert [line.split() for line in lines[1:-1]] == [["0", "yes", "yes"], ["1", "yes", "no"]]


def test_docker_stores_a_restacked_layer_again(docker_client, docker_engine, tmp_path):
    record = docker_engine.build(labkit.example("share05", tmp_path / "ctx"), dockerfile="Dockerfile.a",
                                 tag="lesson05-restack")
    with labkit.open_image(docker_engine.save(record.image, tmp_path / "a.tar")) as a:
        dest = restack(a, tmp_path / "r.tar", [0, 2])
        da = list(a.diff_ids)
    loaded = docker_client.images.load(dest.read_bytes())
    try:
        assert [i.labels.get("org.labkit.managed") for i in loaded] == ["true"]
        assert loaded[0].attrs["RootFS"]["Layers"] == [da[0], da[2]]
        layerdb = Path(docker_client.info()["DockerRootDir"]) / "image" / "overlay2" / "layerdb" / "sha256"
        if not layerdb.is_dir():
            skip_unless_required("LABKIT_REQUIRE_DOCKER", f"cannot read the daemon's layer store at {layerdb}")
        old, new = _chain(da)[2], _chain([da[0], da[2]])[1]
        # the same content under two chainIDs: two entries in the store
        assert (layerdb / old.split(":")[1] / "diff").read_text() == da[2]
        assert (layerdb / new.split(":")[1] / "diff").read_text() == da[2]
    finally:
        for i in loaded:
            if i.labels.get("org.labkit.managed") == "true" and i.id != record.image.id:
                docker_client.images.remove(i.id, force=True)
