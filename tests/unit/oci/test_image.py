"""labkit.image on saved images made here: round trips in every layout, digests, refusals.

Layer tars are written with the standard library's tarfile (not labkit), and every expected
digest is computed in the test from the bytes it wrote.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path, PurePosixPath

import pytest
from requirekit import skip_unless_required
from tarkit import make_layer

from labkit.errors import DigestMismatch, ImageError
from labkit.oci.image import chain_ids, open_image
from labkit.oci.write import write_image_tar

# --------------------------------------------------------------------------- helpers (shared)

def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def content_size(*entries: tuple) -> int:
    """What Docker's overlay2 counts for a layer: file bytes + symlink target lengths."""
    return sum(len(e[2]) if e[0] == "f" else len(e[2].encode()) if e[0] == "l" else 0 for e in entries)


BASE = (("d", "bin"), ("f", "bin/tool", b"\x7fELF" + bytes(5000), 0o755), ("l", "bin/sh", "tool"),
        ("d", "etc"), ("f", "etc/hosts", b"127.0.0.1 localhost\n"))
APP = (("d", "etc"), ("f", "etc/hosts", b"10.0.0.1 app\n"), ("d", "app"), ("f", "app/main", b"print(1)\n"),
       ("h", "app/main2", "app/main"))
CLEAN = (("d", "app"), ("w", "app/main2"), ("o", "etc"))
CONFIG = {"architecture": "amd64", "os": "linux", "config": {"Labels": {"org.labkit.managed": "true"}},
          "history": [{"created_by": "COPY base /"}, {"created_by": "ENV A=1", "empty_layer": True},
                      {"created_by": "COPY app /app"}, {"created_by": "RUN clean"},
                      {"created_by": "CMD [\"x\"]", "empty_layer": True}]}


def members(tar: Path) -> dict[str, bytes]:
    with tarfile.open(tar) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf if m.isfile()}


def unpack_files(tar: Path, dest: Path) -> None:
    """Unpack a tar of directories and regular files (an OCI layout) into the new directory
    ``dest``, the same way on every Python from 3.10 on: ``extractall(filter="data")`` is
    missing from some of them (Debian 12's 3.11.2). The tar is untrusted: an absolute name, a
    ``..`` part or any other kind of entry (links, devices) is refused, and since only
    directories and new files are made under a new ``dest``, nothing is written outside it."""
    dest.mkdir()
    with tarfile.open(tar) as tf:
        for m in tf:
            parts = PurePosixPath(m.name).parts
            if m.name.startswith("/") or ".." in parts:
                raise ValueError(f"unsafe name in the tar: {m.name!r}")
            if not (m.isdir() or m.isfile()):
                raise ValueError(f"not a directory or regular file in the tar: {m.name!r}")
            target = dest.joinpath(*(p for p in parts if p != "."))
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with tf.extractfile(m) as src, open(target, "xb") as out:
                shutil.copyfileobj(src, out)


def test_unpack_files_refuses_what_could_write_outside(tmp_path: Path) -> None:
    def tar_of(*entries: tuple[str, bytes | None, str]) -> Path:
        path = tmp_path / f"t{len(list(tmp_path.iterdir()))}.tar"
        with tarfile.open(path, "w") as tf:
            for name, data, link in entries:
                info = tarfile.TarInfo(name)
                if link:
                    info.type, info.linkname = tarfile.SYMTYPE, link
                    tf.addfile(info)
                else:
                    info.size = len(data or b"")
                    tf.addfile(info, io.BytesIO(data or b""))
        return path

    ok = tar_of(("./blobs/sha256/ab", b"blob", ""), ("index.json", b"{}", ""))
    unpack_files(ok, tmp_path / "ok")
    assert (tmp_path / "ok" / "blobs" / "sha256" / "ab").read_bytes() == b"blob"
    assert (tmp_path / "ok" / "index.json").read_bytes() == b"{}"
    for i, bad in enumerate([tar_of(("../escaped", b"x", "")), tar_of(("/abs", b"x", "")),
                             tar_of(("link", None, "/"), ("link/escaped", b"x", ""))]):
        with pytest.raises(ValueError):
            unpack_files(bad, tmp_path / f"bad{i}")
    assert not (tmp_path / "escaped").exists() and not Path("/escaped").exists()


@pytest.fixture
def layers() -> list[bytes]:
    return [make_layer(*BASE), make_layer(*APP), make_layer(*CLEAN)]


# --------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("layout", ["docker", "oci"])
@pytest.mark.parametrize("gz", [False, True])
def test_round_trip(tmp_path: Path, layers: list[bytes], layout: str, gz: bool) -> None:
    dest = tmp_path / "img.tar"
    ref = write_image_tar(layers, CONFIG, dest, repo_tags=["demo:1"], layout=layout, gzip=gz)
    files = members(dest)
    manifest = json.loads(files["manifest.json"])[0]
    assert sha(files[manifest["Config"]]) == ref.id                  # id = digest of config bytes
    with open_image(dest) as img:
        assert img.ref.id == ref.id
        assert img.diff_ids == tuple(sha(layer) for layer in layers)
        assert img.config["rootfs"]["diff_ids"] == [sha(layer) for layer in layers]
        for i, name in enumerate(manifest["Layers"]):
            blob = files[name]
            assert img.layers[i].digest == sha(blob)
            assert img.layers[i].blob_size == len(blob)
            assert (blob[:2] == b"\x1f\x8b") == gz
            with img.open_layer(i) as f:
                assert f.read() == layers[i]
            assert img.layers[i].tar_size == len(layers[i])
        assert [la.size for la in img.layers] == [content_size(*BASE), content_size(*APP), content_size(*CLEAN)]
        assert "demo:1" in img.ref.tags[0]
        if layout == "oci":
            assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
            index = json.loads(files["index.json"])
            man = json.loads(files["blobs/sha256/" + index["manifests"][0]["digest"][7:]])
            assert img.manifest == man


def test_oci_layout_directory(tmp_path: Path, layers: list[bytes]) -> None:
    ref = write_image_tar(layers, CONFIG, tmp_path / "img.tar", layout="oci", gzip=True)
    out = tmp_path / "layout"
    unpack_files(tmp_path / "img.tar", out)
    (out / "manifest.json").unlink()               # a pure OCI layout has no manifest.json
    with open_image(out) as img:
        assert img.layout == "oci-dir"
        assert img.ref.id == ref.id
        assert img.diff_ids == tuple(sha(layer) for layer in layers)


def test_history_maps_empty_layers_to_none(tmp_path: Path, layers: list[bytes]) -> None:
    write_image_tar(layers, CONFIG, tmp_path / "img.tar")
    with open_image(tmp_path / "img.tar") as img:
        got = [(h.created_by, h.empty_layer, h.layer_index, h.size) for h in img.history]
    assert got == [("COPY base /", False, 0, content_size(*BASE)), ("ENV A=1", True, None, 0),
                   ("COPY app /app", False, 1, content_size(*APP)), ("RUN clean", False, 2, 0),
                   ('CMD ["x"]', True, None, 0)]


def test_chain_ids_follow_the_spec_formula() -> None:
    a, b, c = sha(b"a"), sha(b"b"), sha(b"c")
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    abc = "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()
    assert chain_ids([a, b, c]) == [a, ab, abc]
    assert chain_ids([]) == []


def test_reads_a_non_seekable_stream(tmp_path: Path, layers: list[bytes]) -> None:
    ref = write_image_tar(layers, CONFIG, tmp_path / "img.tar", layout="oci")
    proc = subprocess.Popen(["cat", str(tmp_path / "img.tar")], stdout=subprocess.PIPE)
    try:
        with open_image(proc.stdout) as img:    # a pipe: spooled to a temporary file
            assert img.ref.id == ref.id
            assert img.diff_ids == tuple(sha(layer) for layer in layers)
    finally:
        proc.stdout.close()
        proc.wait()


def test_picks_one_of_several_images_by_tag(tmp_path: Path, layers: list[bytes]) -> None:
    write_image_tar(layers[:1], CONFIG | {"history": []}, tmp_path / "one.tar", repo_tags=["one:1"])
    write_image_tar(layers, CONFIG, tmp_path / "two.tar", repo_tags=["two:1"])
    one, two = members(tmp_path / "one.tar"), members(tmp_path / "two.tar")
    both = {**one, **two}
    both["manifest.json"] = json.dumps(json.loads(one["manifest.json"]) + json.loads(two["manifest.json"])).encode()
    dest = tmp_path / "both.tar"
    with tarfile.open(dest, "w") as tf:
        for name, data in both.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    with pytest.raises(ImageError, match="holds 2 images"):
        open_image(dest)
    with open_image(dest, tag="two:1") as img:
        assert len(img.layers) == 3


# --------------------------------------------------------------------------- tampering and refusals

def _flip(path: Path, member: str, at: int = 600) -> None:
    with tarfile.open(path) as tf:
        off = tf.getmember(member).offset_data
    with open(path, "r+b") as f:
        f.seek(off + at)
        b = f.read(1)
        f.seek(off + at)
        f.write(bytes([b[0] ^ 0x01]))


@pytest.mark.parametrize("layout", ["docker", "oci"])
def test_a_changed_byte_in_a_layer_is_a_digest_mismatch(tmp_path: Path, layers: list[bytes], layout: str) -> None:
    dest = tmp_path / "img.tar"
    write_image_tar(layers, CONFIG, dest, layout=layout)
    name = json.loads(members(dest)["manifest.json"])[0]["Layers"][1]
    _flip(dest, name)
    with pytest.raises(DigestMismatch) as exc:
        open_image(dest)
    assert str(exc.value).startswith("layer 1 digest mismatch: expected ")
    expected = sha(layers[1]) if layout == "docker" else sha(members(tmp_path / "img.tar")[name])
    assert exc.value.expected != exc.value.actual
    if layout == "docker":
        assert exc.value.expected == expected


def test_a_changed_byte_in_a_gzip_blob_is_a_digest_mismatch(tmp_path: Path, layers: list[bytes]) -> None:
    dest = tmp_path / "img.tar"
    write_image_tar(layers, CONFIG, dest, layout="oci", gzip=True)
    files = members(dest)
    name = json.loads(files["manifest.json"])[0]["Layers"][0]
    _flip(dest, name, at=len(files[name]) // 2)
    with pytest.raises(DigestMismatch, match=r"^layer 0 digest mismatch: expected " + sha(files[name])):
        open_image(dest)


def test_verify_false_defers_the_check_to_reading(tmp_path: Path, layers: list[bytes]) -> None:
    dest = tmp_path / "img.tar"
    write_image_tar(layers, CONFIG, dest)
    _flip(dest, json.loads(members(dest)["manifest.json"])[0]["Layers"][2], at=10)
    with open_image(dest, verify=False) as img:
        with pytest.raises(DigestMismatch, match="layer 2 digest mismatch"):
            img.verify()


def test_a_changed_config_is_refused(tmp_path: Path, layers: list[bytes]) -> None:
    dest = tmp_path / "img.tar"
    write_image_tar(layers, CONFIG, dest)
    cfg = json.loads(members(dest)["manifest.json"])[0]["Config"]
    _flip(dest, cfg, at=3)
    with pytest.raises(ImageError, match="config"):
        open_image(dest)


def _rewrite(src: Path, dest: Path, drop: str = "", replace: dict[str, bytes] | None = None) -> None:
    with tarfile.open(src) as tin, tarfile.open(dest, "w") as tout:
        for m in tin:
            if m.name == drop:
                continue
            data = (replace or {}).get(m.name)
            if data is not None:
                m.size = len(data)
                tout.addfile(m, io.BytesIO(data))
            else:
                tout.addfile(m, tin.extractfile(m) if m.isfile() else None)


def test_missing_pieces_are_named(tmp_path: Path, layers: list[bytes]) -> None:
    src = tmp_path / "img.tar"
    write_image_tar(layers, CONFIG, src)
    manifest = json.loads(members(src)["manifest.json"])[0]
    cases = {
        "manifest.json": "neither manifest.json",
        manifest["Config"]: manifest["Config"],
        manifest["Layers"][1]: r"layer 1 \(.*\) is listed in manifest.json but absent",
    }
    for drop, message in cases.items():
        bad = tmp_path / "bad.tar"
        _rewrite(src, bad, drop=drop)
        with pytest.raises(ImageError, match=message):
            open_image(bad)


def test_config_and_manifest_that_disagree(tmp_path: Path, layers: list[bytes]) -> None:
    src = tmp_path / "img.tar"
    write_image_tar(layers, CONFIG, src)
    files = members(src)
    man = json.loads(files["manifest.json"])
    man[0]["Layers"] = man[0]["Layers"][:2]
    bad = tmp_path / "bad.tar"
    _rewrite(src, bad, replace={"manifest.json": json.dumps(man).encode()})
    with pytest.raises(ImageError, match="3 diff_ids but the manifest 2 layers"):
        open_image(bad)


def test_truncated_and_foreign_files(tmp_path: Path, layers: list[bytes]) -> None:
    src = tmp_path / "img.tar"
    write_image_tar(layers, CONFIG, src)
    data = src.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated|not a readable tar|end of file"):
        open_image(cut)
    noise = tmp_path / "noise.tar"
    noise.write_bytes(b"this is not a tar file at all\n" * 100)
    with pytest.raises(ImageError, match="noise.tar"):
        open_image(noise)
    plain = tmp_path / "plain.tar"
    plain.write_bytes(make_layer(("f", "hello.txt", b"hi")))
    with pytest.raises(ImageError, match="not a saved image"):
        open_image(plain)
    gz = tmp_path / "img.tar.gz"
    gz.write_bytes(gzip.compress(data))
    with pytest.raises(ImageError, match="gunzip"):
        open_image(gz)
    with pytest.raises(ImageError, match="no such file"):
        open_image(tmp_path / "missing.tar")


def test_zstd_layer_without_zstandard_is_a_clear_error(tmp_path: Path, layers: list[bytes],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether or not zstandard is installed here: the import is made to fail (None in
    sys.modules), as on a machine without it and before Python 3.14."""
    monkeypatch.setitem(sys.modules, "zstandard", None)
    monkeypatch.setitem(sys.modules, "compression", None)
    if not shutil.which("zstd"):
        skip_unless_required("LABKIT_REQUIRE_TOOLS", "the zstd command is not installed (apt-get install zstd)")
    blob = subprocess.run(["zstd", "-q", "-c"], input=layers[0], capture_output=True, check=True).stdout
    out = tmp_path / "layout"
    (out / "blobs" / "sha256").mkdir(parents=True)

    def put(data: bytes) -> str:
        (out / "blobs" / "sha256" / hashlib.sha256(data).hexdigest()).write_bytes(data)
        return sha(data)
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": [sha(layers[0])]}}).encode()
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": put(cfg), "size": len(cfg)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd",
                                  "digest": put(blob), "size": len(blob)}]}).encode()
    (out / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(man), "size": len(man)}]}))
    (out / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    with pytest.raises(ImageError, match="zstd.*zstandard"):
        open_image(out)


def test_legacy_layer_given_as_a_symlink(tmp_path: Path) -> None:
    # docker save writes a layer that repeats an earlier one as a symlink to its layer.tar
    same = make_layer(("f", "x", b"same bytes"))
    src = tmp_path / "img.tar"
    write_image_tar([same, make_layer(("f", "y", b"y")), same], CONFIG | {"history": []}, src)
    manifest = json.loads(members(src)["manifest.json"])[0]
    first, third = manifest["Layers"][0], manifest["Layers"][2]
    dest = tmp_path / "linked.tar"
    with tarfile.open(src) as tin, tarfile.open(dest, "w") as tout:
        for m in tin:
            if m.name == third:
                link = tarfile.TarInfo(third)
                link.type, link.linkname = tarfile.SYMTYPE, "../" + first
                tout.addfile(link)
            else:
                tout.addfile(m, tin.extractfile(m) if m.isfile() else None)
    with open_image(dest) as img:
        assert img.diff_ids[0] == img.diff_ids[2] == sha(same)
        with img.open_layer(2) as f:
            assert f.read() == same


def test_oci_index_of_platforms_picks_this_machine(tmp_path: Path, layers: list[bytes]) -> None:
    import platform
    write_image_tar(layers, CONFIG, tmp_path / "img.tar", layout="oci")
    out = tmp_path / "layout"
    unpack_files(tmp_path / "img.tar", out)
    index = json.loads((out / "index.json").read_text())
    real = index["manifests"][0]
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    decoy = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": real, "layers": []}).encode()
    (out / "blobs" / "sha256" / hashlib.sha256(decoy).hexdigest()).write_bytes(decoy)
    nested = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                         "manifests": [
                             {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(decoy),
                              "size": len(decoy), "platform": {"os": "linux", "architecture": "s390x"}},
                             {**real, "platform": {"os": "linux", "architecture": arch}}]}).encode()
    (out / "blobs" / "sha256" / hashlib.sha256(nested).hexdigest()).write_bytes(nested)
    (out / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha(nested), "size": len(nested)}]}))
    (out / "manifest.json").unlink()
    with open_image(out) as img:
        assert img.diff_ids == tuple(sha(layer) for layer in layers)


# --------------------------------------------------------------------------- background digest checks

def _layer_names(dest: Path) -> list[str]:
    return json.loads(members(dest)["manifest.json"])[0]["Layers"]


def _big(seed: int, n: int) -> bytes:
    return hashlib.shake_256(str(seed).encode()).digest(n)


@pytest.mark.parametrize("source", ["docker", "oci", "oci-dir"])
def test_layer_checks_hash_each_plain_blob(tmp_path: Path, layers: list[bytes], source: str) -> None:
    write_image_tar(layers, CONFIG, tmp_path / "img.tar", layout="oci" if source == "oci-dir" else source)
    src: Path = tmp_path / "img.tar"
    if source == "oci-dir":
        src = tmp_path / "layout"
        unpack_files(tmp_path / "img.tar", src)
        (src / "manifest.json").unlink()
    with open_image(src, verify=False) as img, img.layer_checks() as checks:
        for i, layer in enumerate(layers):
            assert checks.covers(i)
            assert checks.result(i) == (sha(layer), len(layer))
        checks.check_all()


def test_layer_checks_leave_compressed_blobs_to_the_stream(tmp_path: Path, layers: list[bytes]) -> None:
    write_image_tar(layers, CONFIG, tmp_path / "img.tar", layout="oci", gzip=True)
    with open_image(tmp_path / "img.tar", verify=False) as img, img.layer_checks() as checks:
        assert not any(checks.covers(i) for i in range(len(layers)))
        checks.check_all()                       # nothing to wait for


@pytest.mark.parametrize("how", ["open_image", "verify", "analyze"])
def test_two_changed_layers_name_the_lowest_even_when_the_higher_is_hashed_first(
        tmp_path: Path, how: str) -> None:
    from labkit.analysis.efficiency import analyze
    # layer 2 is by far the biggest, so it is hashed first (biggest first) and fails first
    layers = [make_layer(("f", "a", _big(0, 3000))), make_layer(("f", "b", _big(1, 3000))),
              make_layer(("f", "c", _big(2, 3 << 20)))]
    dest = tmp_path / "img.tar"
    write_image_tar(layers, CONFIG, dest)
    names = _layer_names(dest)
    _flip(dest, names[1], at=1500)
    _flip(dest, names[2], at=2 << 20)
    with pytest.raises(DigestMismatch) as exc:
        if how == "open_image":
            open_image(dest)
        else:
            with open_image(dest, verify=False) as img:
                img.verify() if how == "verify" else analyze(img)
    assert str(exc.value).startswith(f"layer 1 digest mismatch: expected {sha(layers[1])}, actual sha256:")
    assert exc.value.actual != sha(layers[1])


@pytest.mark.parametrize("layout", ["docker", "oci-dir"])
def test_a_broken_tar_header_is_reported_as_the_digest_mismatch_it_is(tmp_path: Path, layers: list[bytes],
                                                                      layout: str) -> None:
    from labkit.analysis.efficiency import analyze
    dest = tmp_path / "img.tar"
    write_image_tar(layers, CONFIG, dest, layout="oci" if layout == "oci-dir" else "docker")
    _flip(dest, _layer_names(dest)[0], at=0)     # the first header's name: its checksum fails
    src = dest
    if layout == "oci-dir":
        src = tmp_path / "layout"
        unpack_files(dest, src)
        (src / "manifest.json").unlink()
    for verify in (True, False):
        with pytest.raises(DigestMismatch, match=r"^layer 0 digest mismatch: expected " + sha(layers[0])):
            with open_image(src, verify=verify) as img:
                analyze(img)


def test_analyze_of_a_changed_gzip_blob_is_a_digest_mismatch(tmp_path: Path, layers: list[bytes]) -> None:
    from labkit.analysis.efficiency import analyze
    dest = tmp_path / "img.tar"
    write_image_tar(layers, CONFIG, dest, layout="oci", gzip=True)
    files = members(dest)
    name = _layer_names(dest)[1]
    _flip(dest, name, at=len(files[name]) // 2)
    with open_image(dest, verify=False) as img:
        with pytest.raises(DigestMismatch, match=r"^layer 1 digest mismatch: expected " + sha(files[name])):
            analyze(img)


def test_analysis_is_the_same_whichever_way_the_layers_are_stored(tmp_path: Path, layers: list[bytes]) -> None:
    from labkit.analysis.efficiency import analyze
    from labkit.analysis.report import analysis_dict
    out = []
    for layout, gz in (("docker", False), ("oci", False), ("oci", True)):
        dest = tmp_path / f"{layout}-{gz}.tar"
        write_image_tar(layers, CONFIG, dest, layout=layout, gzip=gz)
        with open_image(dest, verify=False) as img:
            d = analysis_dict(analyze(img))
        d["image"]["source"] = ""
        out.append(d)
    assert out[0] == out[1] == out[2]
    assert [la["diff_id"] for la in out[0]["layers"]] == [sha(layer) for layer in layers]


def test_layer_checks_restore_the_switch_interval_even_after_a_mismatch(tmp_path: Path, layers: list[bytes]) -> None:
    import sys

    from labkit.analysis.efficiency import analyze
    dest = tmp_path / "img.tar"
    write_image_tar(layers, CONFIG, dest)
    before = sys.getswitchinterval()
    with open_image(dest, verify=False) as img:
        analyze(img)
        assert sys.getswitchinterval() == before
    _flip(dest, _layer_names(dest)[1], at=10)
    with open_image(dest, verify=False) as img, pytest.raises(DigestMismatch, match="^layer 1 digest mismatch"):
        analyze(img)
    assert sys.getswitchinterval() == before
