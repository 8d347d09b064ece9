"""labkit.image and labkit.analysis against real ``docker save`` output of images built here.

Images are built FROM scratch with /bin/busybox (no network), carry org.labkit.managed=true
and are removed at the end. Expectations come from the daemon (RootFS.Layers, image id,
``docker history``, its layer store, ``docker diff``, ``docker export``, ``docker load``) or
from the bytes this test put into the build context.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import uuid
from pathlib import Path

import pytest

from requirekit import skip_unless_required

from labkit.analysis.efficiency import analyze
from labkit.values import LABEL
from labkit.errors import DigestMismatch
from labkit.oci.image import open_image
from labkit.oci.write import write_image_tar

pytestmark = pytest.mark.docker

BIG = 300_000
SUB = 5_000
RUN1 = ("/bin/busybox rm /data/big.bin && /bin/busybox mkdir /opt && /bin/busybox echo hi > /opt/hi"
        " && /bin/busybox ln /opt/hi /opt/hi2 && /bin/busybox ln -s busybox /bin/sh")
RUN2 = "/bin/busybox rm -rf /data/sub && /bin/busybox chmod 600 /data/keep.txt"
DOCKERFILE = f"""FROM scratch
COPY root/ /
COPY files/ /data/
ENV GREETING=hi
RUN ["/bin/busybox", "sh", "-c", "{RUN1}"]
RUN ["/bin/busybox", "sh", "-c", "{RUN2}"]
"""


def _save(image, dest: Path) -> Path:
    with open(dest, "wb") as f:
        for chunk in image.save(named=True):
            f.write(chunk)
    return dest


@pytest.fixture(scope="module")
def built(docker_client, tmp_path_factory):
    ctx = tmp_path_factory.mktemp("ctx")
    # a base layer no other test shares (its own chainID), so no one else's image removal races ours
    (ctx / "root" / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", ctx / "root" / "bin" / "busybox")
    (ctx / "root" / "test-id").write_text(uuid.uuid4().hex)
    (ctx / "files" / "sub").mkdir(parents=True)
    (ctx / "files" / "big.bin").write_bytes(os.urandom(BIG))
    (ctx / "files" / "keep.txt").write_bytes(b"keep\n")
    (ctx / "files" / "sub" / "x").write_bytes(b"x" * SUB)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    tag = f"labkit-test-image:{uuid.uuid4().hex[:8]}"
    image, _ = docker_client.images.build(path=str(ctx), tag=tag, labels={LABEL: "true"},
                                          network_mode="none", rm=True, forcerm=True)
    tar = _save(image, tmp_path_factory.mktemp("save") / "image.tar")
    try:
        yield image, tar, tag
    finally:
        docker_client.images.remove(image.id, force=True)


def test_ids_and_diff_ids_equal_the_daemons(built) -> None:
    image, tar, tag = built
    with open_image(tar) as img:
        assert img.ref.id == image.id
        assert list(img.diff_ids) == image.attrs["RootFS"]["Layers"]
        assert tag in img.ref.tags
        assert img.layout == "docker-save"
        assert len(img.layers) == 4       # COPY, COPY, RUN, RUN


def test_history_equals_docker_history(docker_client, built) -> None:
    image, tar, _ = built
    theirs = list(reversed(docker_client.api.history(image.id)))     # oldest first
    with open_image(tar) as img:
        assert [(h.created_by, h.size) for h in img.history] == [(h["CreatedBy"], h["Size"]) for h in theirs]
        assert [h.empty_layer for h in img.history] == [False, False, True, False, False, True]
        assert [h.layer_index for h in img.history] == [0, 1, None, 2, 3, None]
        assert sum(la.size for la in img.layers) == image.attrs["Size"]


def test_chain_ids_are_the_layer_stores_keys(docker_client, built) -> None:
    image, tar, _ = built
    info = docker_client.info()
    store = Path(info["DockerRootDir"]) / "image" / info["Driver"] / "layerdb" / "sha256"
    if not store.is_dir():
        skip_unless_required("LABKIT_REQUIRE_DOCKER", f"cannot read the daemon's layer store at {store}")
    with open_image(tar) as img:
        for chain, diff in zip(img.chain_ids, img.diff_ids):
            assert (store / chain.split(":")[1] / "diff").read_text() == diff


def test_a_changed_byte_is_a_digest_mismatch(built, tmp_path: Path) -> None:
    _, tar, _ = built
    bad = tmp_path / "bad.tar"
    shutil.copy(tar, bad)
    with tarfile.open(bad) as tf:
        name = json.loads(tf.extractfile("manifest.json").read())[0]["Layers"][1]
        off = tf.getmember(name).offset_data
    with open(bad, "r+b") as f:
        f.seek(off + 1024)
        b = f.read(1)
        f.seek(off + 1024)
        f.write(bytes([b[0] ^ 0x20]))
    with pytest.raises(DigestMismatch, match=r"^layer 1 digest mismatch: expected sha256:\w+, actual sha256:\w+"):
        open_image(bad)


@pytest.mark.parametrize("layout", ["docker", "oci"])
def test_written_tar_is_loaded_by_docker_with_the_same_id(docker_client, built, tmp_path: Path, layout) -> None:
    _, tar, _ = built
    with open_image(tar) as img:
        layers = []
        for i in range(len(img.layers)):
            with img.open_layer(i) as f:
                layers.append(f.read())
        config = json.loads(json.dumps(dict(img.config)))
    config["config"]["Labels"]["org.labkit.test"] = uuid.uuid4().hex      # a new image id
    tag = f"labkit-test-load:{uuid.uuid4().hex[:8]}"
    ref = write_image_tar(layers, config, tmp_path / "w.tar", repo_tags=[tag], layout=layout,
                          gzip=layout == "oci")
    try:
        loaded = docker_client.images.load((tmp_path / "w.tar").read_bytes())
        assert [i.id for i in loaded] == [ref.id]
        got = docker_client.images.get(tag)
        assert got.id == ref.id
        assert got.attrs["RootFS"]["Layers"] == [layer for layer in img.diff_ids]
    finally:
        for i in docker_client.images.list(filters={"label": f"{LABEL}=true"}):
            if i.id == ref.id or tag in i.tags:
                docker_client.images.remove(i.id, force=True)


def test_waste_and_final_bytes_against_docker_export(docker_client, built) -> None:
    image, tar, _ = built
    with open_image(tar) as img:
        result = analyze(img)
    # what this test put into the context and what the RUN steps remove or copy up
    assert result.reclaimable_bytes == BIG + SUB + len(b"keep\n")
    items = {(w.path, w.how): w for w in result.waste}
    big = items[("data/big.bin", "deleted")]
    assert (big.bytes, big.added_by, big.removed_by) == (BIG, (1,), 2)
    assert "added by layer 1 (COPY" in big.story and "deleted by layer 2" in big.story
    assert items[("data/sub", "deleted")].bytes == SUB
    assert items[("data/keep.txt", "overwritten")].added_by == (1,)
    assert result.layers[2].deleted == ("data/big.bin",)
    assert result.layers[3].deleted == ("data/sub",)
    # the final filesystem, as the daemon exports it
    box = docker_client.containers.create(image.id, ["/bin/busybox", "true"], network_mode="none",
                                          labels={LABEL: "true"})
    try:
        data = b"".join(box.export())
    finally:
        box.remove(force=True)
    exported, files = 0, set()
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            if m.isreg():
                exported += m.size
            if not m.isdir():
                files.add(m.name.removeprefix("./").lstrip("/"))
    assert result.final_bytes == exported
    docker_made = {".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab", "dev/console",
                   "dev/pts", "dev/shm", "proc", "sys"}
    assert result.final_files == len(files - docker_made) == 6   # busybox, sh, test-id, keep.txt, hi, hi2


def test_layer_changes_equal_docker_diff(docker_client, built, tmp_path: Path) -> None:
    image, _, _ = built
    script = ("/bin/busybox mkdir -p /new/deep && /bin/busybox echo a > /new/deep/f && "
              "/bin/busybox rm -rf /opt && /bin/busybox echo more >> /data/keep.txt && /bin/busybox rm /bin/sh")
    box = docker_client.containers.run(image.id, ["/bin/busybox", "sh", "-c", script], detach=True,
                                       network_mode="none", labels={LABEL: "true"})
    committed = None
    try:
        assert box.wait()["StatusCode"] == 0
        kinds = {0: "C", 1: "A", 2: "D"}
        theirs = {(kinds[c["Kind"]], c["Path"].lstrip("/")) for c in box.diff()}
        committed = box.commit(conf={"Labels": {LABEL: "true"}})
        with open_image(_save(committed, tmp_path / "c.tar")) as img:
            top = analyze(img).layers[-1]
        ours = ({("A", p) for p in top.added} | {("C", p) for p in top.modified}
                | {("D", p) for p in top.deleted})
        assert ours == theirs
    finally:
        box.remove(force=True)
        if committed is not None:
            docker_client.images.remove(committed.id, force=True)
