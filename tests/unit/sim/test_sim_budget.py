"""The simulator's memory budget (``Limits.memory_bytes``, ``labkit.sim.budget``): the file
content a build holds is counted before it is read, so an ``ADD`` of a small archive that
expands to gigabytes fails at once with ``LimitExceeded``, holding next to nothing.

The archives are made in milliseconds whatever they expand to: a gzip file may hold many
members, and a MiB of zeros is one small member repeated.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import textwrap
import tracemalloc
from pathlib import Path

import pytest
from requirekit import skip_unless_required
from tarkit import plain_tar

from labkit.build import events as ev
from labkit.errors import BuildError, LimitExceeded, UnsupportedOperation
from labkit.fs.node import Node
from labkit.oci.limits import Limits
from labkit.oci.tar.reader import iter_entries
from labkit.oci.tar.writer import layer_bytes
from labkit.sim import archive
from labkit.sim import builder as simbuild
from labkit.sim.budget import Held, content_bytes
from labkit.sim.image import SimImage, empty_config, layer_digest

KIB, MIB = 1 << 10, 1 << 20
_ZERO_MIB = gzip.compress(bytes(MIB), compresslevel=9, mtime=0)


def zeros_archive(files: dict[str, int]) -> bytes:
    """A gzip tar of files of zeros (name -> size), each member of the gzip one piece."""
    parts = []
    for name, size in files.items():
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = size, 0o644, 1_600_000_000
        parts.append(gzip.compress(ti.tobuf(tarfile.PAX_FORMAT), mtime=0))
        full, rest = divmod(size, MIB)
        parts += [_ZERO_MIB] * full
        parts.append(gzip.compress(bytes(rest + (-size % 512)), mtime=0))
    parts.append(gzip.compress(bytes(1024), mtime=0))
    return b"".join(parts)


def _ctx(tmp_path: Path, dockerfile: str, files: dict[str, bytes]) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, data in files.items():
        (ctx / name).write_bytes(data)
    return ctx


def _build(ctx: Path, limits: Limits, images: dict | None = None, **kw):
    return simbuild.build(ctx, resolve=(images or {}).__getitem__, limits=limits, **kw)


def test_zeros_archive_is_what_it_says():
    data = zeros_archive({"a": 3 * MIB + 5, "b": 7})
    assert len(data) < 20 * KIB
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        assert [(m.name, m.size) for m in tf] == [("a", 3 * MIB + 5), ("b", 7)]
        assert tf.extractfile("a").read() == bytes(3 * MIB + 5)


def test_add_of_an_archive_over_the_budget_fails_before_its_content_is_held(tmp_path):
    ctx = _ctx(tmp_path, "FROM scratch\nADD big.tar.gz /x/\n", {"big.tar.gz": zeros_archive({"zero": 64 * MIB})})
    events: list = []
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded) as err:
            _build(ctx, Limits(memory_bytes=MIB), on_event=events.append)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    exc = err.value
    assert (exc.limit, exc.value, exc.allowed) == ("memory_bytes", 64 * MIB, MIB)
    text = str(exc)
    assert "step 2 (Dockerfile line 2) ADD big.tar.gz /x/" in text
    assert "up to its entry 'zero'" in text and "memory_bytes" in text
    assert "--limit memory_bytes=N" in text and "LABKIT_LIMITS=memory_bytes=N" in text
    assert peak < 8 * MIB, f"held {peak} bytes"
    assert isinstance(events[-1], ev.BuildFailed) and events[-1].step == 2
    assert exc.record.failure is not None and not exc.record.ok


def test_the_total_counts_not_each_file(tmp_path):
    files = {f"z{i}": 300 * KIB for i in range(4)}       # each well under 1 MiB; 1200 KiB in all
    ctx = _ctx(tmp_path, "FROM scratch\nADD z.tar.gz /x/\n", {"z.tar.gz": zeros_archive(files)})
    with pytest.raises(LimitExceeded) as err:
        _build(ctx, Limits(memory_bytes=MIB))
    assert err.value.value == 1200 * KIB
    assert "up to its entry 'z3'" in str(err.value)


def test_an_archive_just_under_the_budget_is_unpacked(tmp_path):
    files = {"a": 600 * KIB, "b": 424 * KIB}               # 1 MiB exactly
    ctx = _ctx(tmp_path, "FROM scratch\nADD z.tar.gz /x/\n", {"z.tar.gz": zeros_archive(files)})
    _, img = _build(ctx, Limits(memory_bytes=MIB))
    layer = img.layers[-1]
    assert layer["x/a"].data == bytes(600 * KIB) and layer["x/b"].size == 424 * KIB
    assert content_bytes(img.layers) == MIB
    with pytest.raises(LimitExceeded):
        _build(ctx, Limits(memory_bytes=MIB - 1), no_cache=True)


def test_the_reader_is_the_judge_when_the_header_scan_gives_up(tmp_path, monkeypatch):
    """``declared_files`` only fails fast; when it stops early, labkit's reader (second pass,
    no content kept) still counts every entry before any content is held."""
    monkeypatch.setattr(archive, "declared_files", lambda *a, **k: iter(()))
    ctx = _ctx(tmp_path, "FROM scratch\nADD big.tar.gz /x/\n", {"big.tar.gz": zeros_archive({"zero": 32 * MIB})})
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded) as err:
            _build(ctx, Limits(memory_bytes=MIB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.limit == "memory_bytes" and err.value.value == 32 * MIB
    assert peak < 8 * MIB, f"held {peak} bytes"


def test_the_budget_counts_the_base_image(tmp_path):
    base = SimImage(({"big": Node.file(bytes(600 * KIB))},), empty_config())
    ctx = _ctx(tmp_path, "FROM base\nADD z.tar.gz /x/\n", {"z.tar.gz": zeros_archive({"z": 600 * KIB})})
    with pytest.raises(LimitExceeded) as err:
        _build(ctx, Limits(memory_bytes=MIB), {"base": base})
    assert err.value.value == 1200 * KIB
    _, img = _build(ctx, Limits(memory_bytes=2 * MIB), {"base": base})
    assert content_bytes(img.layers) == 1200 * KIB


def test_the_budget_spans_the_stages_of_a_build(tmp_path):
    ctx = _ctx(tmp_path, "FROM scratch AS one\nADD a.tar.gz /a/\n"
                         "FROM scratch\nADD b.tar.gz /b/\n",
               {"a.tar.gz": zeros_archive({"a": 600 * KIB}), "b.tar.gz": zeros_archive({"b": 600 * KIB})})
    with pytest.raises(LimitExceeded) as err:
        _build(ctx, Limits(memory_bytes=MIB))
    assert "step 4 (Dockerfile line 4) ADD b.tar.gz /b/" in str(err.value)


def test_copy_from_a_stage_shares_its_content(tmp_path):
    ctx = _ctx(tmp_path, "FROM scratch AS one\nADD a.tar.gz /a/\n"
                         "FROM scratch\nCOPY --from=one /a/a /copied\n",
               {"a.tar.gz": zeros_archive({"a": 900 * KIB})})
    _, img = _build(ctx, Limits(memory_bytes=MIB))
    assert img.layers[-1]["copied"].size == 900 * KIB


def test_copy_from_the_context_is_counted_before_it_is_read(tmp_path, monkeypatch):
    ctx = _ctx(tmp_path, "FROM scratch\nCOPY big /big\n", {"big": bytes(2 * KIB)})
    read = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self.name) or real(self))
    with pytest.raises(LimitExceeded) as err:
        _build(ctx, Limits(memory_bytes=KIB))
    assert err.value.value == 2 * KIB and "COPY big /big: 'big'" in str(err.value)
    assert "big" not in read
    _, img = _build(ctx, Limits(memory_bytes=2 * KIB))
    assert img.layers[-1]["big"].size == 2 * KIB


def test_what_run_makes_is_counted_after_the_step(tmp_path):
    if not Path("/bin/busybox").exists():
        skip_unless_required("LABKIT_REQUIRE_DOCKER", "needs the static busybox at /bin/busybox")
    (tmp_path / "b").mkdir()
    base_ctx = _ctx(tmp_path / "b", 'FROM scratch\nCOPY busybox /bin/busybox\n'
                                    'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n',
                    {"busybox": Path("/bin/busybox").read_bytes()})
    (base_ctx / "busybox").chmod(0o755)
    _, base = simbuild.build(base_ctx, resolve={}.__getitem__)
    budget = content_bytes(base.layers) + MIB
    ctx = _ctx(tmp_path, "FROM base\nRUN dd if=/dev/zero of=/z bs=1024 count=2048\n", {})
    with pytest.raises(LimitExceeded) as err:
        _build(ctx, Limits(memory_bytes=budget), {"base": base})
    assert "step 2 (Dockerfile line 2) RUN dd" in str(err.value)


def test_add_keeps_docker_s_archive_rules(tmp_path):
    """What the passes change nothing of: a plain tar is unpacked, a non-tar and a gzip of a
    non-tar are copied as they are, a truncated archive is a BuildError, zstd and whiteouts
    are refused (a whiteout before its content is read)."""
    files = {"plain.tar": plain_tar({"a/b": b"hello"}), "notes.tar": b"just text\n" * 100,
             "data.gz": gzip.compress(b"{}" * 1000, mtime=0),
             "cut.tar.gz": gzip.compress(plain_tar({"a": b"ok", "x": bytes(4000)})[:3000], mtime=0),
             "z.tar.zst": b"\x28\xb5\x2f\xfd" + bytes(100),
             "wh.tar.gz": zeros_archive({".wh.gone": 8 * MIB})}
    ctx = _ctx(tmp_path, "FROM scratch\nADD plain.tar notes.tar data.gz /x/\n", files)
    _, img = _build(ctx, Limits(memory_bytes=MIB))
    layer = img.layers[-1]
    assert layer["x/a/b"].data == b"hello"
    assert layer["x/notes.tar"].data == files["notes.tar"]
    assert layer["x/data.gz"].data == files["data.gz"]
    with pytest.raises(BuildError, match="cut.tar.gz: the archive cannot be unpacked"):
        _build(_ctx(tmp_path, "FROM scratch\nADD cut.tar.gz /x/\n", {}), Limits())
    with pytest.raises(UnsupportedOperation, match="zstd"):
        _build(_ctx(tmp_path, "FROM scratch\nADD z.tar.zst /x/\n", {}), Limits())
    tracemalloc.start()
    try:
        with pytest.raises(UnsupportedOperation, match="whiteout name '.wh.gone'"):
            _build(_ctx(tmp_path, "FROM scratch\nADD wh.tar.gz /x/\n", {}), Limits(memory_bytes=64 * MIB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 6 * MIB, f"held {peak} bytes"


def test_held_counts_each_layer_and_each_content_once():
    data = bytes(1000)
    shared = {"a": Node.file(data), "b": Node.file(data), "c": Node.file(b"xyz")}
    held = Held(Limits(memory_bytes=2000))
    assert held.add([shared, shared, {"d": Node.file(data)}]) == 1003
    with pytest.raises(LimitExceeded) as err:
        held.check([{"e": Node.file(bytes(1000))}], "image x")
    assert str(err.value).startswith("image x: bytes of file content")


# --------------------------------------------------------------------------- the header scan

def _tar(fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        def add(name, kind=tarfile.REGTYPE, data=b"", link=""):
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname, ti.size = kind, link, len(data)
            tf.addfile(ti, io.BytesIO(data) if data else None)
        add("d", tarfile.DIRTYPE)
        add("d/f", data=b"x" * 1000)
        add("d/" + "p" * 120 + "/" + "n" * 30, data=b"y" * 513)   # ustar prefix, pax or GNU name
        add("d/l", tarfile.SYMTYPE, link="f")
        add("d/h", tarfile.LNKTYPE, link="d/f")
        add("e", data=b"")
        add("d/ü", data=b"z" * 7)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
@pytest.mark.parametrize("compress", [False, True])
def test_declared_files_agrees_with_the_reader(fmt, compress):
    data = _tar(fmt)
    if compress:
        data = gzip.compress(data, mtime=0)
    declared = list(archive.declared_files(io.BytesIO(data), "t", Limits()))
    read = [(e.raw_name, e.node.size) for e in iter_entries(io.BytesIO(data))
            if e.node.kind == "file" and not e.hardlink]
    assert declared == read
    assert sum(size for _, size in declared) == 1000 + 513 + 7


def test_declared_files_stops_at_what_it_does_not_read():
    assert list(archive.declared_files(io.BytesIO(b"not a tar at all" * 64), "t", Limits())) == []
    data = _tar(tarfile.PAX_FORMAT)
    broken = data[:512] + b"\xff" * 512 + data[1024:]
    assert len(list(archive.declared_files(io.BytesIO(broken), "t", Limits()))) <= 1


def test_layer_digest_is_the_digest_of_layer_bytes():
    layer = {"a": Node.dir(), "a/b": Node.file(b"x" * 100_000), "c": Node.symlink("a")}
    assert layer_digest(layer) == "sha256:" + hashlib.sha256(layer_bytes(layer)).hexdigest()


# --------------------------------------------------------------------------- a real bomb

def test_a_gigabyte_of_zeros_fails_fast_and_small_with_the_default_budget(tmp_path):
    """About 1 MB of gzip that unpacks to 1 GiB: with the default budget (512 MiB) the build
    fails at the archive's first header, and the process never holds the GiB."""
    bomb = zeros_archive({"zero": 1 << 30})
    assert len(bomb) < 2 * MIB
    _ctx(tmp_path, "FROM scratch\nADD bomb.tar.gz /x/\n", {"bomb.tar.gz": bomb})
    script = textwrap.dedent(f"""
        import resource, time
        from pathlib import Path
        from labkit.errors import BuildError, LimitExceeded, UnsupportedOperation
        from labkit.sim import builder
        t = time.monotonic()
        try:
            builder.build(Path({str(tmp_path / 'ctx')!r}), resolve={{}}.__getitem__)
            print("built")
        except LimitExceeded as exc:
            print(exc.limit, exc.value)
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
        print(time.monotonic() - t, hwm)
    """)
    env = {k: v for k, v in os.environ.items() if k != "LABKIT_LIMITS"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                         timeout=300, check=True).stdout.split()
    assert out[:2] == ["memory_bytes", str(1 << 30)]
    # VmHWM: this process's own peak (ru_maxrss would keep the forking pytest's size across exec)
    peak_kib = int(out[3])              # (out[2], the seconds, is for reading, not asserting)
    assert peak_kib < 300 * 1024, f"peak RSS {peak_kib} KiB"
