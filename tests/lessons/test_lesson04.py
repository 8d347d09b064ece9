"""Raw layer entries and layer directories on disk, against real Docker and the real disk."""
from __future__ import annotations

import io
import tarfile

import pytest

import labkit
from labkit.errors import LabkitError
from labkit.fs.node import Node
from labkit.oci.write import write_image_tar
from labkit.lessons.lesson04 import format_entries, layer_entries, on_disk, whiteout_names


def _raw_tar_names(path, index):
    """The layer's member names read with the standard library, independently of labkit."""
    from labkit.oci.image import open_image
    img = open_image(path)
    try:
        with img.open_layer(index) as f:
            data = f.read()
    finally:
        img.close()
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return sorted(n.rstrip("/").removeprefix("./") for n in t.getnames())


def test_docker_layers_hold_wh_entries(docker_engine, tmp_path):
    record = docker_engine.build(labkit.example("whiteouts04", tmp_path / "ctx"), tag="t-wh04")
    saved = docker_engine.save(record.image, tmp_path / "img.tar")
    for i in (1, 2, 3):
        assert [e.raw_name for e in layer_entries(saved, i)] == _raw_tar_names(saved, i)
    assert whiteout_names(layer_entries(saved, 2)) == ["srv/data/.wh.a.txt"]
    assert whiteout_names(layer_entries(saved, -1)) == ["srv/data/.wh.cache"]
    c = docker_engine.start(record.image)
    docker_engine.exec(c, "rm -rf /srv/data && mkdir /srv/data")
    top = layer_entries(docker_engine.save(docker_engine.commit(c), tmp_path / "c.tar"))
    assert whiteout_names(top) == ["srv/data/.wh..wh..opq"]
    assert "opaque marker" in {e.raw_name: e.meaning for e in top}["srv/data/.wh..wh..opq"]


def test_layer_entries_meanings_and_bad_index(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in (("d/", None), ("d/.wh.x", b""), ("d/.wh..wh..opq", b""), ("d/f", b"abc")):
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    write_image_tar([buf.getvalue()], {"architecture": "amd64", "os": "linux"}, tmp_path / "i.tar")
    got = {e.raw_name: e.meaning for e in layer_entries(tmp_path / "i.tar", 0)}
    assert got == {"d": "dir", "d/.wh.x": "whiteout: deletes /d/x from the layers below",
                   "d/.wh..wh..opq": "opaque marker: hides everything below /d in lower layers",
                   "d/f": "file, 3 bytes"}
    assert format_entries([]) == "(empty layer)"
    with pytest.raises(LabkitError):
        layer_entries(tmp_path / "i.tar", 5)


def test_on_disk_makes_real_device_nodes(kernel_overlay):
    layer = {"srv": Node.dir(), "srv/gone": Node.whiteout(),
             "srv/new": Node.dir().with_opaque(), "srv/new/f": Node.file(b"12")}
    view = on_disk(layer)
    assert view.source == "read back from a real directory"
    assert [line.split()[:2] for line in view.lines] == [
        ["srv", "dir"], ["srv/gone", "char"], ["srv/new", "dir,"], ["srv/new/f", "file,"]]
    assert "char 0/0" in view.lines[1] and "trusted.overlay.opaque=y" in view.lines[2]
    assert on_disk(layer, under="srv/new").lines == view.lines[2:]


def test_the_model_fallback_reads_like_the_disk(kernel_overlay):
    layer = {"a": Node.dir().with_opaque(), "a/x": Node.whiteout(), "b": Node.file(b"hello"),
             "c": Node.symlink("b")}
    assert on_disk(layer, real=False).lines == on_disk(layer).lines
    assert on_disk(layer, real=False).source == "the model"
