"""Every resource budget of ``oci.limits.Limits`` as the readers apply it: just over the
limit is a ``LimitExceeded`` naming the limit (and what was read), exactly at it is accepted.

Layer tars come from ``tarkit`` (the standard library's tarfile) and saved images are written
here with tarfile too; every expected number (bytes, entries, depth, ratio) is computed in the
test from the bytes it wrote, not by labkit.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from tarkit import DIR, LNK, SYM, E, layer_tar

from labkit.analysis.efficiency import analyze
from labkit.errors import LimitExceeded
from labkit.oci.flatten import flatten
from labkit.oci.image import open_image
from labkit.oci.limits import Limits
from labkit.oci.tar.reader import iter_entries
from labkit.oci.tar.unpack import read_layer


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def saved(path: Path, blobs: list[bytes], diff_ids: list[str], *, config_extra: dict | None = None,
          manifest_pad: int = 0, config_pad: int = 0, deep: int = 0) -> Path:
    """A legacy ``docker save`` tar written with tarfile: blobs as given (compressed or not),
    the config named by its digest, ``manifest_pad``/``config_pad`` spaces after the JSON.
    A config value ``"DEEP"`` is replaced by ``deep`` nested lists (written as text:
    ``json.dumps`` itself would recurse)."""
    config = {"architecture": "amd64", "os": "linux",
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created_by": f"step {i}"} for i in range(len(blobs))], **(config_extra or {})}
    raw_config = json.dumps(config).encode() + b" " * config_pad
    raw_config = raw_config.replace(b'"DEEP"', b"[" * deep + b"]" * deep)
    config_name = hashlib.sha256(raw_config).hexdigest() + ".json"
    names = [f"l{i}/layer.tar" for i in range(len(blobs))]
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["budget:1"], "Layers": names}]).encode()
    members = {config_name: raw_config, "manifest.json": manifest + b" " * manifest_pad,
               **dict(zip(names, blobs))}
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def plain_image(path: Path, *layers: bytes, **kw) -> Path:
    return saved(path, list(layers), [sha(la) for la in layers], **kw)


def refused(limit: str, value: int | None = None):
    """``pytest.raises(LimitExceeded)`` that also checks the limit it names."""
    class _Check:
        def __enter__(self):
            self._ctx = pytest.raises(LimitExceeded)
            self.info = self._ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            out = self._ctx.__exit__(*exc)
            err = self.info.value
            assert err.limit == limit, str(err)
            assert f"the {limit} limit" in str(err) and f"--limit {limit}=" in str(err)
            if value is not None:
                assert err.value == value, str(err)
            return out
    return _Check()


def entries(data: bytes, limits: Limits) -> list[str]:
    return [e.path for e in iter_entries(io.BytesIO(data), limits=limits)]


# --------------------------------------------------------------------------- names

@pytest.mark.parametrize("depth", [5, 40])
def test_path_depth(depth: int) -> None:
    name = "/".join(["a"] * (depth - 1) + ["f"])
    tar = layer_tar([E(name, data=b"x")])
    assert entries(tar, Limits(path_depth=depth))[-1] == name
    assert name in read_layer(io.BytesIO(tar), limits=Limits(path_depth=depth))
    with refused("path_depth", depth) as err:
        entries(tar, Limits(path_depth=depth - 1))
    assert "layer" in str(err.value) and "a/a/a" in str(err.value)      # names the entry
    with refused("path_depth", depth):
        read_layer(io.BytesIO(tar), limits=Limits(path_depth=depth - 1))


def test_path_depth_of_a_hard_link_target() -> None:
    target = "/".join(["d"] * 9 + ["f"])                 # 10 components
    tar = layer_tar([E(target, data=b"x"), E("h", LNK, link=target)])
    assert entries(tar, Limits(path_depth=10)) == [target, "h"]
    with refused("path_depth", 10):
        entries(tar, Limits(path_depth=9))


def test_path_bytes_of_a_name_and_of_a_link_target() -> None:
    name = "n" * 300
    tar = layer_tar([E(name, data=b"x")])
    assert entries(tar, Limits(path_bytes=300)) == [name]
    with refused("path_bytes", 300):
        entries(tar, Limits(path_bytes=299))
    link = layer_tar([E("s", SYM, link="t" * 300)])
    assert entries(link, Limits(path_bytes=300)) == ["s"]
    with refused("path_bytes", 300) as err:
        entries(link, Limits(path_bytes=299))
    assert "link target" in str(err.value)


def test_a_path_of_16000_components_is_refused_at_once() -> None:
    # issue 13: such a name used to make a gigabyte of implied parents
    tar = layer_tar([E("/".join(["a"] * 16_000), data=b"x")])
    with refused("path_bytes", 2 * 16_000 - 1):
        read_layer(io.BytesIO(tar))
    with refused("path_depth", 16_000):
        read_layer(io.BytesIO(tar), limits=Limits(path_bytes=10**6))


# --------------------------------------------------------------------------- entries

def test_entries_per_layer() -> None:
    tar = layer_tar([E(f"f{i}", data=b"x") for i in range(7)])
    assert len(entries(tar, Limits(entries_per_layer=7))) == 7
    assert len(read_layer(io.BytesIO(tar), limits=Limits(entries_per_layer=7))) == 7
    with refused("entries_per_layer", 7):
        entries(tar, Limits(entries_per_layer=6))
    with refused("entries_per_layer"):
        read_layer(io.BytesIO(tar), limits=Limits(entries_per_layer=6))


def test_implied_directories_count_as_entries_of_the_layer() -> None:
    tar = layer_tar([E("a/b/c/f", data=b"x")])     # one entry, three directories it implies
    assert entries(tar, Limits(entries_per_layer=1)) == ["a/b/c/f"]       # the tar has one
    layer = read_layer(io.BytesIO(tar), limits=Limits(entries_per_layer=4))
    assert sorted(layer) == ["a", "a/b", "a/b/c", "a/b/c/f"]
    with refused("entries_per_layer", 4):
        read_layer(io.BytesIO(tar), limits=Limits(entries_per_layer=3))


@pytest.fixture
def two_layers(tmp_path: Path) -> Path:
    # 3 + 2 entries, every directory explicit: 5 entries in the image
    return plain_image(tmp_path / "two.tar",
                       layer_tar([E("d", DIR), E("d/a", data=b"a"), E("d/b", data=b"b")]),
                       layer_tar([E("d", DIR), E("d/c", data=b"c")]))


def test_entries_per_image_in_flatten(two_layers: Path) -> None:
    assert sorted(flatten(str(two_layers), jobs=1, limits=Limits(entries_per_image=5))) == \
        ["d", "d/a", "d/b", "d/c"]
    with refused("entries_per_image", 5) as err:
        flatten(str(two_layers), jobs=1, limits=Limits(entries_per_image=4))
    assert "layer 1" in str(err.value)


def test_entries_per_image_in_inspect_and_open(two_layers: Path) -> None:
    with open_image(two_layers, verify=False, limits=Limits(entries_per_image=5)) as img:
        assert analyze(img).final_files == 3
        with refused("entries_per_image", 5):
            analyze(img, limits=Limits(entries_per_image=4))
    with open_image(two_layers, verify=False, limits=Limits(entries_per_image=4)) as img:
        with refused("entries_per_image", 5):
            analyze(img)
    open_image(two_layers, limits=Limits(entries_per_image=5)).close()
    with refused("entries_per_image", 5):
        open_image(two_layers, limits=Limits(entries_per_image=4))


# --------------------------------------------------------------------------- bytes and ratio

def test_unpacked_bytes_of_a_plain_layer(tmp_path: Path) -> None:
    tar = layer_tar([E("f", data=b"x" * 5000)])
    n = len(tar)
    assert entries(tar, Limits(unpacked_bytes=n)) == ["f"]
    with refused("unpacked_bytes", n):
        entries(tar, Limits(unpacked_bytes=n - 1))
    image = plain_image(tmp_path / "p.tar", tar)
    assert "f" in flatten(str(image), jobs=1, limits=Limits(unpacked_bytes=n))
    with refused("unpacked_bytes", n):
        flatten(str(image), jobs=1, limits=Limits(unpacked_bytes=n - 1))


def test_unpacked_bytes_of_a_gzip_layer(tmp_path: Path) -> None:
    tar = layer_tar([E("f", data=b"y" * 5000)])
    blob = gzip.compress(tar)
    n = len(tar)                  # what the blob decompresses to
    assert entries(blob, Limits(unpacked_bytes=n)) == ["f"]
    with refused("unpacked_bytes"):
        entries(blob, Limits(unpacked_bytes=n - 1))
    image = saved(tmp_path / "g.tar", [blob], [sha(tar)])
    assert "f" in flatten(str(image), jobs=1, limits=Limits(unpacked_bytes=n))
    with refused("unpacked_bytes", n):
        flatten(str(image), jobs=1, limits=Limits(unpacked_bytes=n - 1))
    with open_image(image, verify=False, limits=Limits(unpacked_bytes=n - 1)) as img:
        with refused("unpacked_bytes", n):
            analyze(img)


def test_ratio_is_checked_past_the_floor_only(tmp_path: Path) -> None:
    tar = layer_tar([E("zeros", data=bytes(300_000))])
    blob = gzip.compress(tar, compresslevel=9)
    fits = -(-len(tar) // len(blob))            # the smallest whole ratio the layer keeps to
    assert fits > 100
    ok, over = Limits(ratio_floor=1, ratio=fits), Limits(ratio_floor=1, ratio=fits - 1)
    assert entries(blob, ok) == ["zeros"]
    with refused("ratio", len(tar) // len(blob)):
        entries(blob, over)
    # up to ratio_floor bytes any ratio is fine: lessons make big files of zeros
    assert entries(blob, Limits(ratio_floor=len(tar), ratio=1)) == ["zeros"]
    image = saved(tmp_path / "z.tar", [blob], [sha(tar)])
    assert "zeros" in flatten(str(image), jobs=1, limits=ok)
    with refused("ratio"):
        flatten(str(image), jobs=1, limits=over)
    with open_image(image, verify=False, limits=over) as img:
        with refused("ratio"):
            analyze(img)
    with refused("ratio"):
        open_image(image, limits=over)
    # an uncompressed layer has no ratio
    plain = plain_image(tmp_path / "plain.tar", tar)
    assert "zeros" in flatten(str(plain), jobs=1, limits=Limits(ratio_floor=1, ratio=1))


# --------------------------------------------------------------------------- JSON

def test_json_bytes_of_the_manifest_and_the_config(tmp_path: Path) -> None:
    tar = layer_tar([E("f", data=b"x")])
    big_manifest = plain_image(tmp_path / "m.tar", tar, manifest_pad=5000)
    with tarfile.open(big_manifest) as tf:
        size = tf.getmember("manifest.json").size
    open_image(big_manifest, limits=Limits(json_bytes=size)).close()
    with refused("json_bytes", size) as err:
        open_image(big_manifest, limits=Limits(json_bytes=size - 1))
    assert "manifest.json" in str(err.value)
    big_config = plain_image(tmp_path / "c.tar", tar, config_pad=5000)
    with tarfile.open(big_config) as tf:
        size = max(m.size for m in tf if m.name.endswith(".json"))
    open_image(big_config, limits=Limits(json_bytes=size)).close()
    with refused("json_bytes", size) as err:
        flatten(str(big_config), limits=Limits(json_bytes=size - 1))
    assert ".json" in str(err.value)


@pytest.mark.parametrize("nesting", [10, 500])
def test_json_depth(tmp_path: Path, nesting: int) -> None:
    tar = layer_tar([E("f", data=b"x")])
    # brackets inside strings do not nest
    extra = {"config": {"Labels": {"odd": "[[[[{{{{\\\"]]"}}, "x": "DEEP"}
    image = saved(tmp_path / "deep.tar", [tar], [sha(tar)], config_extra=extra, deep=nesting)
    depth = 1 + nesting                            # the config object, then the lists
    open_image(image, limits=Limits(json_depth=depth)).close()
    with refused("json_depth", depth):
        open_image(image, limits=Limits(json_depth=depth - 1))


def test_deep_json_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    # 200,000 levels: Python's own parser would end in a RecursionError
    tar = layer_tar([E("f", data=b"x")])
    image = saved(tmp_path / "deeper.tar", [tar], [sha(tar)], config_extra={"x": "DEEP"},
                  deep=200_000)
    with refused("json_depth", 200_001):
        open_image(image)


def test_limits_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tar = layer_tar([E("a/b/c/d", data=b"x")])
    image = plain_image(tmp_path / "env.tar", tar)
    monkeypatch.setenv("LABKIT_LIMITS", "path_depth=3")
    with refused("path_depth", 4):
        flatten(str(image))
    monkeypatch.setenv("LABKIT_LIMITS", "path_depth=4")
    assert "a/b/c/d" in flatten(str(image))
