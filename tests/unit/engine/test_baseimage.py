"""The base layer is made once per busybox file: repeated calls reuse it, a changed busybox
(rewritten in place, or replaced by another file) gives a new layer, and the cached diffID is
the one the real daemon computes for the base image.

Without a busybox the simulator's base layer holds the stand-in: its recorded applet table and
size are checked against the installed Debian busybox (when it is the recorded version), and a
lesson's Dockerfile builds and runs on it with the same files, sizes and outputs as on the real
busybox (what the real ``busybox --install -s`` makes is the reference for ``/bin``)."""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from requirekit import need_busybox, skip_unless_required

from labkit.engine import baseimage
from labkit.engine.baseimage import (
    STAND_IN_APPLET_TABLE,
    STAND_IN_SIZE,
    STAND_IN_SOURCE,
    base_diff_id,
    base_layer,
    base_layer_tar,
    base_spec,
    base_tag,
    stand_in_busybox,
)
from labkit.engine.sim import SimEngine
from labkit.errors import BuildError, EngineUnavailable, UnsupportedOperation
from labkit.sim.shell import busybox_applets


@pytest.fixture
def busybox_copy(tmp_path, monkeypatch):
    """A private copy of the static busybox, used through LABKIT_BUSYBOX."""
    installed = need_busybox()
    path = tmp_path / "bb" / "busybox"
    path.parent.mkdir()
    shutil.copy2(Path(installed).resolve(), path)
    monkeypatch.setenv("LABKIT_BUSYBOX", str(path))
    return path


def _member(tar_bytes: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        return tar.extractfile(name).read()   # type: ignore[union-attr]


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def test_a_second_call_does_not_rebuild(busybox_copy):
    first, cold = _timed(base_layer_tar)                  # a new file: nothing cached for it
    warm = min(_timed(base_layer_tar)[1] for _ in range(5))
    assert base_layer_tar() is first                      # the very same bytes, not made again
    assert base_diff_id() == "sha256:" + hashlib.sha256(first).hexdigest()
    assert warm * 5 < cold, (cold, warm)
    assert _member(first, "bin/busybox") == busybox_copy.read_bytes()
    # callers get their own dict: changing it does not change the next caller's layer
    mine = base_layer()
    mine.pop("bin/busybox")
    assert "bin/busybox" in base_layer() and base_layer_tar() is first


def test_a_changed_busybox_gives_a_new_layer(busybox_copy):
    original = busybox_copy.read_bytes()
    d1 = base_diff_id()
    # rewritten in place (same inode): the size and mtime change
    with open(busybox_copy, "ab") as f:
        f.write(b"\0labkit")
    assert subprocess.run([str(busybox_copy), "true"], check=False).returncode == 0   # still runs
    d2 = base_diff_id()
    assert d2 != d1 and base_tag(d2) != base_tag(d1)
    assert _member(base_layer_tar(), "bin/busybox") == original + b"\0labkit"
    # replaced by another file of the same size and mtime: the inode tells them apart
    st = busybox_copy.stat()
    other = busybox_copy.with_name("next")
    other.write_bytes(original + b"\0LABKIT")
    os.chmod(other, 0o755)
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, busybox_copy)
    d3 = base_diff_id()
    assert d3 not in (d1, d2)
    assert _member(base_layer_tar(), "bin/busybox") == original + b"\0LABKIT"
    # the same bytes again make the same layer (the digest depends on content only)
    fresh = busybox_copy.with_name("again")
    fresh.write_bytes(original)
    os.chmod(fresh, 0o755)
    os.replace(fresh, busybox_copy)
    assert base_diff_id() == d1


def test_the_cached_diff_id_is_the_daemons(docker_engine, docker_client):
    ref = docker_engine.base_image()
    assert docker_client.api.inspect_image(ref.id)["RootFS"]["Layers"] == [base_diff_id()]
    assert base_tag(base_diff_id()) in ref.tags


def test_the_docker_engine_refuses_the_stand_in(tmp_path, monkeypatch):
    """What the Docker engine loads (base_layer_tar without a spec) needs the real busybox."""
    monkeypatch.setenv("LABKIT_BUSYBOX", str(tmp_path / "nothing"))
    with pytest.raises(EngineUnavailable, match="LABKIT_BUSYBOX") as err:
        base_layer_tar()
    assert "the Docker engine builds labkit/base from a real static busybox" in err.value.message
    assert err.value.fix == "point LABKIT_BUSYBOX at a static busybox binary"


# ---------------------------------------------------------------------------- no busybox: the stand-in
def _real_busybox():
    """The installed busybox (not LABKIT_BUSYBOX), or skip."""
    return Path(need_busybox()).resolve()


def _no_busybox(monkeypatch, tmp_path, how: str) -> None:
    if how == "LABKIT_BUSYBOX":
        monkeypatch.setenv("LABKIT_BUSYBOX", str(tmp_path / "missing" / "busybox"))
    else:                                  # a PATH without busybox
        monkeypatch.delenv("LABKIT_BUSYBOX", raising=False)
        monkeypatch.setenv("PATH", str(tmp_path))


def test_the_recorded_stand_in_is_the_debian_busybox():
    real = _real_busybox()
    banner = subprocess.run([str(real)], capture_output=True, text=True, check=False).stdout.splitlines()[0]
    listed = tuple(subprocess.run([str(real), "--list"], capture_output=True, text=True,
                                  check=True).stdout.split())
    debian_version = STAND_IN_SOURCE.split()[3]        # "1:1.35.0-4+deb12u1+b1"
    if f"(Debian {debian_version})" not in banner:
        skip_unless_required("LABKIT_REQUIRE_TOOLS",
                             f"the installed busybox is {banner!r}, not the recorded {STAND_IN_SOURCE}")
    assert listed == STAND_IN_APPLET_TABLE                     # the very table `busybox --list` prints
    if os.uname().machine == "x86_64":
        assert real.stat().st_size == STAND_IN_SIZE == 1_982_256
    # the simulator reads the same table out of the stand-in as out of the real binary
    assert busybox_applets(stand_in_busybox()) == busybox_applets(real.read_bytes()) == list(listed)


@pytest.mark.parametrize("how", ["LABKIT_BUSYBOX", "PATH"])
def test_without_busybox_the_base_layer_holds_the_stand_in(tmp_path, monkeypatch, how):
    _no_busybox(monkeypatch, tmp_path, how)
    spec = base_spec()
    assert spec.stand_in and spec.busybox is None
    assert spec.reason == ("no busybox found on PATH" if how == "PATH"
                           else f"LABKIT_BUSYBOX={tmp_path}/missing/busybox is not a readable, executable file")
    layer = base_layer()
    stand_in = layer["bin/busybox"]
    assert stand_in.data == stand_in_busybox() and len(stand_in.data) == STAND_IN_SIZE
    assert stand_in.data.startswith(b"labkit stand-in for /bin/busybox: not a program.\n")
    assert stand_in.mode & 0o7777 == 0o755
    assert base_diff_id() == "sha256:" + hashlib.sha256(base_layer_tar(spec)).hexdigest()
    with pytest.raises(EngineUnavailable, match="the Docker engine builds labkit/base"):
        base_layer_tar()


def test_the_stand_in_layer_has_the_real_layers_files_and_size(tmp_path, monkeypatch):
    """Same entries, modes, link targets and sizes as the layer made from the real busybox, and
    the same /bin as the real `busybox --install -s` makes; only /bin/busybox's bytes differ."""
    real = _real_busybox()
    monkeypatch.delenv("LABKIT_BUSYBOX", raising=False)
    real_spec = base_spec()
    assert not real_spec.stand_in
    monkeypatch.setenv("LABKIT_BUSYBOX", str(tmp_path / "missing"))
    stand_spec = base_spec()
    installed = tmp_path / "bin"
    installed.mkdir()
    shutil.copy2(real, installed / "busybox")
    subprocess.run([str(installed / "busybox"), "--install", "-s", str(installed)], check=True)
    stand_layer = base_layer(stand_spec)
    assert sorted(p[4:] for p in stand_layer if p.startswith("bin/")) == sorted(os.listdir(installed))
    with tarfile.open(fileobj=io.BytesIO(base_layer_tar(real_spec))) as r, \
            tarfile.open(fileobj=io.BytesIO(base_layer_tar(stand_spec))) as s:
        def shape(tar):
            return [(m.name, m.type, m.mode, m.linkname, m.mtime, m.uid, m.gid) for m in tar.getmembers()]
        assert shape(r) == shape(s)
        if real.stat().st_size == STAND_IN_SIZE:        # the recorded Debian busybox: same sizes too
            assert [m.size for m in r.getmembers()] == [m.size for m in s.getmembers()]
    if real.stat().st_size == STAND_IN_SIZE:
        assert len(base_layer_tar(real_spec)) == len(base_layer_tar(stand_spec))
    assert base_diff_id(real_spec) != base_diff_id(stand_spec)


LESSON = """\
# like lesson 04: files written in one layer, deleted in later ones
FROM labkit/base
RUN mkdir -p /srv/data/cache && echo one > /srv/data/a.txt && dd if=/dev/zero of=/srv/data/cache/blob bs=1024 count=64
COPY notes.txt /srv/notes.txt
RUN rm /srv/data/a.txt && ls /bin | wc -l > /srv/bin-count && busybox --list | wc -l > /srv/applet-count
RUN rm -rf /srv/data/cache
CMD ["cat", "/srv/notes.txt"]
"""
PROBES = ("cat /srv/notes.txt", "cat /srv/bin-count /srv/applet-count", "ls /srv/data",
          "ls -l /bin/busybox", "ls -l /bin/sh", "nosuchcommand; echo $?", "/bin/sh -c 'echo $((6 * 7))'")


def _lesson_on_sim(tmp_path: Path):
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(LESSON)
    (ctx / "notes.txt").write_text("layers\n")
    engine = SimEngine()
    record = engine.build(ctx, tag="standin-lesson")
    history = [(h.created_by, h.size) for h in engine.history(record.image)]
    outputs = [(p, r.exit_code, r.output) for p, r in ((p, engine.run(record.image, p)) for p in PROBES)]
    with pytest.raises(UnsupportedOperation, match="'od'"):   # BusyBox has it, the simulator does not model it
        engine.run(record.image, "od -c /srv/notes.txt")
    return engine, record, history, outputs


def test_a_lesson_builds_and_runs_on_the_simulator_without_busybox(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_BUSYBOX", str(tmp_path / "missing"))
    engine, record, history, outputs = _lesson_on_sim(tmp_path)
    assert engine.base_image().id.startswith("sha256:")
    assert {p: out for p, _, out in outputs}["cat /srv/notes.txt"] == "layers\n"
    real = shutil.which("busybox")
    if not real:
        return
    # the same lesson on the real busybox: the same layers, sizes and outputs, other digests
    listed = subprocess.run([real, "--list"], capture_output=True, text=True, check=True).stdout.split()
    counts = {p: out for p, _, out in outputs}["cat /srv/bin-count /srv/applet-count"]
    assert counts == f"{len(listed)}\n{len(listed)}\n"      # /bin: busybox + a link per other applet
    monkeypatch.delenv("LABKIT_BUSYBOX")
    _, record2, history2, outputs2 = _lesson_on_sim(tmp_path)
    assert outputs2 == outputs
    if Path(real).resolve().stat().st_size == STAND_IN_SIZE:
        assert history2 == history
    else:
        assert history2[1:] == history[1:]         # only the base layer's size differs
    assert record2.image.id != record.image.id


def test_a_wrong_tag_of_labkit_base_names_the_real_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_BUSYBOX", str(tmp_path / "missing"))
    (tmp_path / "Dockerfile").write_text("FROM labkit/base:000000000000\nRUN true\n")
    with pytest.raises(BuildError) as err:
        SimEngine().build(tmp_path)
    assert str(err.value).splitlines()[0] == ("FROM labkit/base:000000000000: image "
                                              "'labkit/base:000000000000': not found in the simulator")
    assert err.value.fix == ("start FROM labkit/base: its other tags name base images made from another "
                             "busybox, which do not exist here")


def test_a_base_image_that_cannot_be_made_is_not_blamed_on_the_dockerfile(tmp_path, monkeypatch):
    """FROM labkit/base is right: when the base cannot be made, the error says why, with that fix."""
    def cannot(spec=None):
        raise EngineUnavailable("cannot read /bin/busybox", fix="reinstall busybox-static")
    monkeypatch.setattr(baseimage, "base_diff_id", cannot)
    (tmp_path / "Dockerfile").write_text("FROM labkit/base\nRUN true\n")
    with pytest.raises(BuildError) as err:
        SimEngine().build(tmp_path)
    assert "FROM labkit/base: labkit's base image could not be made on this machine: cannot read " \
           "/bin/busybox" in str(err.value)
    assert err.value.fix == "reinstall busybox-static"
    assert "start FROM labkit/base" not in str(err.value)
