"""``flatten(jobs=N)`` (layers read in worker processes) against the in-process path and the
real thing: a ``docker save`` of an image the daemon built, Docker's own export, and the
hand-made oracle layers of test_flatten_docker. A layer Docker refuses must fail the same way
from a worker (same class, message, entry) and nothing may come back as complete."""
from __future__ import annotations

import shutil
import tarfile
import uuid

import pytest

from labkit.cli import main as cli_main
from labkit.oci.flatten import flatten, to_json
from labkit.values import LABEL
from labkit.errors import DigestMismatch, LabkitError, UnsafeEntry
from labkit.oci.image import open_image
from tarkit import (INVALID, VALID, E, compare, export_json, image_tar, layer_tar,
                                 merged_layers)

STEPS = [
    "/bin/busybox mkdir -p /data/a /data/b /keep && /bin/busybox seq 1 300 > /data/a/n"
    " && /bin/busybox echo x > /data/b/x && /bin/busybox echo k > /keep/k",
    "/bin/busybox rm -rf /data/a && /bin/busybox mkdir /data/a && /bin/busybox echo new > /data/a/new",
    "/bin/busybox ln /keep/k /keep/hard && /bin/busybox ln -s ../keep/k /data/sym"
    " && /bin/busybox chmod 700 /data/b",
    "/bin/busybox rm /data/b/x && /bin/busybox mkdir -p /deep/er/est && /bin/busybox touch /deep/er/est/f",
]


@pytest.fixture(scope="module")
def saved(docker_client, tmp_path_factory):
    """A ``docker save`` of a 6-layer image built by the daemon (whiteouts, an opaque
    directory, hard and symbolic links, a mode change)."""
    ctx = tmp_path_factory.mktemp("ctx")
    (ctx / "root" / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", ctx / "root" / "bin" / "busybox")
    (ctx / "root" / "test-id").write_text(uuid.uuid4().hex)
    runs = "".join(f'RUN ["/bin/busybox", "sh", "-c", "{s}"]\n' for s in STEPS)
    (ctx / "Dockerfile").write_text(f"FROM scratch\nCOPY root/ /\n{runs}CMD [\"/bin/busybox\", \"true\"]\n")
    tag = f"labkit-test-flatten-parallel:{uuid.uuid4().hex[:8]}"
    image, _ = docker_client.images.build(path=str(ctx), tag=tag, labels={LABEL: "true"},
                                          network_mode="none", rm=True, forcerm=True)
    dest = tmp_path_factory.mktemp("save") / "image.tar"
    with open(dest, "wb") as f:
        for chunk in image.save(named=True):
            f.write(chunk)
    try:
        yield dest
    finally:
        try:
            docker_client.images.remove(image.id, force=True)
        except Exception:  # already removed by export_json (docker.errors.NotFound)
            pass


def _own_layers(img, jobs: int) -> set[int]:
    """The layers ``flatten(jobs=...)`` reads in this process (the rest go to workers)."""
    from labkit.oci.flatten import _split
    return _split(img, jobs)


def _error(fn) -> LabkitError:
    with pytest.raises(LabkitError) as info:
        fn()
    return info.value


def _same_error(a: LabkitError, b: LabkitError) -> None:
    assert type(a) is type(b)
    assert str(a) == str(b)
    assert a.__dict__ == b.__dict__


@pytest.mark.docker
def test_parallel_equals_in_process_and_docker_export_on_a_docker_save(docker_client, saved):
    with open_image(saved) as img:
        assert len(img.layers) == 1 + len(STEPS)
    one = flatten(str(saved), jobs=1)
    for jobs in (2, 3):
        assert flatten(str(saved), jobs=jobs) == one
    two = flatten(str(saved), jobs=2)
    assert "data/a/n" not in two and "data/b/x" not in two and two["data/a/new"].kind == "file"
    compare(to_json(two), export_json(docker_client, saved))


def test_parallel_equals_in_process_on_the_oracle_layers(tmp_path):
    # test_flatten_docker checks the in-process result of these layers against Docker's export
    for layout, gz in (("docker", False), ("oci", True)):
        path = image_tar(merged_layers(VALID), tmp_path / f"valid-{layout}.tar", "labkit-oracle:valid",
                         layout=layout, gzip=gz)
        one = flatten(str(path), jobs=1)
        assert flatten(str(path), jobs=2) == one
        assert flatten(str(path), jobs=2, digest=False) == flatten(str(path), jobs=1, digest=False)


@pytest.mark.parametrize("case", ["child-of-file", "hardlink-missing", "X-then-whiteout-X",
                                  "duplicate", "contiguous-type"])
def test_a_bad_layer_in_a_worker_fails_like_in_process(tmp_path, case):
    good = [layer_tar([E(f"ok{i}/f", data=b"%d" % i)]) for i in range(4)]
    layers = good[:2] + [layer_tar(INVALID[case][-1])] + good[2:]
    path = image_tar(layers, tmp_path / "bad.tar", "labkit-oracle:bad")
    here = _error(lambda: flatten(str(path), jobs=1))
    for jobs in (2, 3):
        with open_image(path, verify=False) as img:
            assert 2 not in _own_layers(img, jobs)     # layer 2 is read by a worker
        there = _error(lambda: flatten(str(path), jobs=jobs))
        _same_error(there, here)
        assert "layer 2" in str(there)


def test_this_process_reads_a_share_of_the_layers_when_it_has_a_core_to_spare(tmp_path):
    import multiprocessing
    layers = [layer_tar([E(f"s{i}/f", data=b"x" * 1000)]) for i in range(12)]
    path = image_tar(layers, tmp_path / "share.tar", "labkit-oracle:share")
    with open_image(path) as img:
        two, many = _own_layers(img, 2), _own_layers(img, 8)
    assert 2 <= len(two) < 6 and many == set()
    assert flatten(str(path), jobs=2) == flatten(str(path), jobs=8) == flatten(str(path), jobs=1)
    assert multiprocessing.active_children() == []      # every worker was joined


def test_the_lowest_bad_layer_is_reported_and_names_the_entry(tmp_path):
    layers = [layer_tar([E("ok/f", data=b"1")]),
              layer_tar([E("f", data=b"1"), E("f/x", data=b"2")]),       # refused: child of a file
              layer_tar([E("h", tarfile.LNKTYPE, link="nope")])]         # refused too, higher up
    path = image_tar(layers, tmp_path / "two-bad.tar", "labkit-oracle:two-bad")
    err = _error(lambda: flatten(str(path), jobs=2))
    assert isinstance(err, UnsafeEntry) and err.entry == "f/x" and "layer 1" in err.reason
    _same_error(err, _error(lambda: flatten(str(path), jobs=1)))


def test_a_changed_byte_is_a_digest_mismatch_from_a_worker(tmp_path):
    layers = [layer_tar([E(f"d{i}/f", data=b"content %d" % i)]) for i in range(4)]
    path = image_tar(layers, tmp_path / "img.tar", "labkit-oracle:digest")
    raw = bytearray(path.read_bytes())
    at = raw.find(b"content 2")
    raw[at] ^= 0x20
    path.write_bytes(bytes(raw))
    err = _error(lambda: flatten(str(path), jobs=2))
    assert isinstance(err, DigestMismatch) and err.what == "layer 2"
    _same_error(err, _error(lambda: flatten(str(path), jobs=1)))


def test_cli_reports_the_same_refusal_with_and_without_workers(tmp_path, capsys):
    layers = [layer_tar([E("ok/f", data=b"1")]), layer_tar(INVALID["dangling-symlink-parent"][0])]
    path = image_tar(layers, tmp_path / "bad.tar", "labkit-oracle:cli")
    errs = []
    for jobs in ("1", "2"):
        capsys.readouterr()
        assert cli_main(["flatten", str(path), "--json", "--jobs", jobs]) == 1
        out = capsys.readouterr()
        assert out.out == ""          # nothing printed as if complete
        errs.append(out.err)
    assert errs[0] == errs[1] and "'l/x'" in errs[0] and "layer 1" in errs[0]


def test_workers_started_while_another_thread_runs(tmp_path):
    # a Jupyter kernel always has threads: then workers come from a fork server, not fork
    import threading
    layers = [layer_tar([E(f"t{i}/f", data=b"%d" % i), E(f"t{i}/.wh.g")]) for i in range(3)]
    path = image_tar(layers, tmp_path / "t.tar", "labkit-oracle:threads")
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        assert flatten(str(path), jobs=2) == flatten(str(path), jobs=1)
    finally:
        stop.set()
        t.join()
