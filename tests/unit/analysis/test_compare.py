"""labkit.compare: sharing by diffID and chainID, pull transfer, path changes.

The transfer rule is checked on the real daemon: after ``docker load`` of A, loading B
unpacks exactly the layers labkit says a pull of B would fetch.
"""
from __future__ import annotations

import json
import tarfile
import uuid
from pathlib import Path

import pytest
from tarkit import make_layer

from labkit.analysis.compare import compare
from labkit.values import LABEL
from labkit.oci.image import open_image
from labkit.oci.write import write_image_tar

BASE = make_layer(("d", "bin"), ("f", "bin/tool", bytes(4000), 0o755), ("d", "etc"), ("f", "etc/os", b"lab 1\n"))
OTHER_BASE = make_layer(("d", "etc"), ("f", "etc/os", b"other\n"))
APP1 = make_layer(("d", "app"), ("f", "app/main", b"v1\n"), ("f", "app/cfg", b"x=1\n"), ("l", "app/cur", "main"))
APP2 = make_layer(("d", "app"), ("f", "app/main", b"v2!\n"), ("f", "app/cfg", b"x=1\n", 0o600),
                  ("l", "app/cur", "cfg"), ("f", "app/new", b"n"))
EXTRA = make_layer(("d", "etc"), ("w", "etc/os"))


def _config(tag: str) -> dict:
    return {"config": {"Labels": {LABEL: "true", "org.labkit.test": tag}}}


def _write(tmp_path: Path, name: str, layers: list[bytes], tag: str = "", gzip: bool = False) -> Path:
    dest = tmp_path / f"{name}.tar"
    write_image_tar(layers, _config(tag or name), dest, repo_tags=[tag] if tag else [], gzip=gzip)
    return dest


def test_shared_base_and_pull_transfer(tmp_path: Path) -> None:
    a_tar = _write(tmp_path, "a", [BASE, APP1])
    b_tar = _write(tmp_path, "b", [BASE, APP2, EXTRA], gzip=True)
    with tarfile.open(b_tar) as tf:
        names = json.loads(tf.extractfile("manifest.json").read())[0]["Layers"]
        blob_sizes = [tf.getmember(n).size for n in names]
    with open_image(a_tar) as a, open_image(b_tar) as b:
        c = compare(a, b)
    assert c.shared_chain == 1
    assert len(c.shared_diff_ids) == 1
    assert c.transfer_layers == (1, 2)
    assert c.transfer_blob_bytes == blob_sizes[1] + blob_sizes[2]
    assert c.transfer_size == len(APP2) + len(EXTRA)
    got = {(x.kind, x.path, x.why.split(" ")[0] if x.why else "") for x in c.changes}
    assert got == {("C", "/app/main", "content"), ("C", "/app/cfg", "mode"), ("C", "/app/cur", "link"),
                   ("A", "/app/new", ""), ("D", "/etc/os", "")}
    text = c.text()
    assert "fetches 2 layers" in text and "C /app/main" in text
    assert json.loads(json.dumps(c.to_dict()))["pull_b_with_a_present"]["layers"] == [1, 2]
    assert "<table" in c._repr_html_()


def test_same_content_on_another_base_is_not_shared_by_chain(tmp_path: Path) -> None:
    with open_image(_write(tmp_path, "a", [BASE, APP1])) as a, \
            open_image(_write(tmp_path, "b", [OTHER_BASE, APP1])) as b:
        c = compare(a, b, paths=False)
    assert c.shared_chain == 0
    assert len(c.shared_diff_ids) == 1            # APP1 has the same diffID in both
    assert c.transfer_layers == (0, 1)
    assert c.changes == ()


@pytest.mark.docker
def test_docker_load_unpacks_exactly_the_transfer_layers(docker_client, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    a_tag, b_tag, c_tag = f"labkit-test-cmp-a:{run}", f"labkit-test-cmp-b:{run}", f"labkit-test-cmp-c:{run}"
    a_tar = _write(tmp_path, "a", [BASE, APP1], a_tag)
    b_tar = _write(tmp_path, "b", [BASE, APP1, EXTRA], b_tag)
    c_tar = _write(tmp_path, "c", [OTHER_BASE, APP1], c_tag)
    with open_image(a_tar) as a, open_image(b_tar) as b, open_image(c_tar) as c:
        expected_b = len(compare(a, b, paths=False).transfer_layers)
        expected_c = len(compare(a, c, paths=False).transfer_layers)

    def unpacked(tar: Path) -> int:
        ids = set()
        for msg in docker_client.api.load_image(tar.read_bytes(), quiet=False):
            for line in (msg if isinstance(msg, list) else [msg]):
                if isinstance(line, dict) and line.get("status") == "Loading layer":
                    ids.add(line.get("id"))
        return len(ids)
    loaded: list[str] = []
    try:
        assert unpacked(a_tar) == 2
        loaded.append(a_tag)
        got_b = unpacked(b_tar)
        loaded.append(b_tag)
        got_c = unpacked(c_tar)
        loaded.append(c_tag)
        assert (got_b, got_c) == (expected_b, expected_c) == (1, 2)
    finally:
        for tag in loaded:
            docker_client.images.remove(tag, force=True)
