"""Benchmark: flatten a 100-layer / 100k-file image; lookup cost at 128 layers vs 1; memory.

    python benchmarks/bench_flatten.py [--layers 100] [--files 100000] [--speed-only]

Everything is generated in a temporary directory and removed afterwards. Prints the load
average, then wall and CPU seconds (this process plus its children) and both ratios to tar:
* ``tar -t`` over the same layer tars (one process per layer);
* the reader before the speed work (tests/oracles/tarlayer_v1.py) and ``iter_entries`` now,
  listing only, and ``iter_entries`` with per-file sha256;
* the whole ``flatten`` (read + Docker's unpack rules + merge + layer digest checks),
  without per-file sha256 (what ``labkit flatten`` prints) and with it (``--json``), in this
  process (``jobs=1``) and with the default worker processes (every CPU);
* the real CLI end to end, ``python -m labkit flatten IMAGE --json > /dev/null`` (interpreter
  start, workers, JSON output);
* peak RSS of the real CLI, each in a fresh process (GNU time's ``%M``, else the child's own
  ``VmHWM``): ``labkit flatten IMAGE --json`` and ``labkit inspect IMAGE --json`` on the same
  image (100k entries by default), with the default worker processes and with ``--jobs 1``;
* unless ``--speed-only``: lookup cost (``overlay.Mount``) at 128 stacked layers vs 1, peak
  traced Python memory of ``flatten`` (in-process and with workers) and of ``read_layer``
  per 100k entries, max RSS of this process and of a worker.

``--rss-only`` prints only the generation line and the CLI peak RSS rows (quick before/after
comparisons: run it in a ``git worktree`` of the old commit and in this one).
"""
from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import random
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labkit.oci.flatten import auto_jobs, flatten  # noqa: E402
from labkit.fs.node import Node  # noqa: E402
from labkit.oci.write import write_image_tar  # noqa: E402
from labkit.fs.layers import merge  # noqa: E402
from labkit.oci.parallel import cpu_count  # noqa: E402
from labkit.oci.tar.reader import iter_entries  # noqa: E402
from labkit.oci.tar.unpack import read_layer  # noqa: E402


def make_layer(i: int, files: int, rng: random.Random) -> bytes:
    """``files`` entries: dirs, files of 0-2 KiB, a few symlinks, whiteouts of layer i-1."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        per_dir = 50
        for n in range(files):
            d = f"d{n // per_dir:03d}"
            if n % per_dir == 0:
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(ti)
            if i and n % 97 == 0:
                ti = tarfile.TarInfo(f"{d}/.wh.f{i - 1}_{n}")
                tar.addfile(ti)
                continue
            if n % 53 == 0:
                ti = tarfile.TarInfo(f"{d}/l{i}_{n}")
                ti.type, ti.linkname = tarfile.SYMTYPE, f"f{i}_{n - 1}"
                tar.addfile(ti)
                continue
            data = rng.randbytes(rng.randrange(0, 2048))
            ti = tarfile.TarInfo(f"{d}/f{i}_{n}")
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 1_600_000_000
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def auto_jobs_of(image: Path) -> int:
    from labkit.oci.image import open_image  # noqa: PLC0415
    with open_image(image, verify=False) as img:
        return auto_jobs(img)


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its waited-for children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    """Best wall time of ``repeat`` runs (its CPU time goes to ``timed.cpu``)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        c0, t0 = _cpu(), time.perf_counter()
        result = fn()
        wall = time.perf_counter() - t0
        while multiprocessing.active_children():   # reap the workers: their CPU counts here
            time.sleep(0.005)
        if wall < best:
            best, timed.cpu = wall, _cpu() - c0  # type: ignore[attr-defined]
    return best, result


def _old_reader():
    """The tar reader as it was before the speed work (tests/oracles/tarlayer_v1.py)."""
    import importlib.util  # noqa: PLC0415
    spec = importlib.util.spec_from_file_location("labkit._tarlayer_v1", Path(__file__).resolve().parents[1] / "tests" / "oracles" / "tarlayer_v1.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


ROOT = Path(__file__).resolve().parents[1]


def cli_rss_commands(image: Path) -> list[tuple[str, list[str]]]:
    py = [sys.executable, "-m", "labkit"]
    return [("labkit flatten --json", py + ["flatten", str(image), "--json"]),
            ("labkit flatten --json --jobs 1", py + ["flatten", str(image), "--json", "--jobs", "1"]),
            ("labkit inspect --json", py + ["inspect", str(image), "--json"])]


def cli_rss(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of ``cmd`` run in a fresh process, its output discarded.

    GNU time (``%M``) measures the command's own peak: ``ru_maxrss`` of a child started from
    this (big) process would count the pages it shared with this one before ``exec``. Without
    GNU time, the command runs under a small Python wrapper that prints its child's peak."""
    gnu_time = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        if gnu_time:
            full = [gnu_time, "-q", "-f", "%M", "-o", out.name, *cmd]
        else:
            wrap = ("import resource, subprocess, sys; subprocess.run(sys.argv[2:], check=True, "
                    "stdout=subprocess.DEVNULL); open(sys.argv[1], 'w').write("
                    "str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))")
            full = [sys.executable, "-c", wrap, out.name, *cmd]
        t0 = time.perf_counter()
        subprocess.run(full, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        wall = time.perf_counter() - t0
        digits = [x for x in out.read().split() if x.isdigit()]
    return wall, int(digits[-1]) if digits else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=100)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--speed-only", action="store_true", help="skip the lookup and memory sections")
    ap.add_argument("--rss-only", action="store_true",
                    help="only the peak RSS of `labkit flatten --json` and `labkit inspect --json`")
    args = ap.parse_args()
    per_layer = args.files // args.layers
    rng = random.Random(7)
    tmp = Path(tempfile.mkdtemp(prefix="labkit-bench-"))
    try:
        t0 = time.perf_counter()
        layers = [make_layer(i, per_layer, rng) for i in range(args.layers)]
        paths = []
        for i, data in enumerate(layers):
            p = tmp / f"layer{i:03d}.tar"
            p.write_bytes(data)
            paths.append(p)
        image = tmp / "image.tar"
        write_image_tar(layers, {"config": {"Cmd": ["/x"]}}, image)
        total_bytes = sum(len(x) for x in layers)
        del layers
        print(f"generated {args.layers} layers, {args.layers * per_layer} entries, "
              f"{total_bytes / 1e6:.0f} MB of layer tars in {time.perf_counter() - t0:.1f}s")

        # ---- peak RSS of the CLI (what a learner's machine must have)
        print(f"load average before measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for label, cmd in cli_rss_commands(image):
            wall, rss = cli_rss(cmd)
            print(f"peak RSS, {label:40s}: {rss / 1024:7.1f} MiB ({wall:.2f}s wall)")
        if args.rss_only:
            return 0

        # ---- listing speed
        print(f"load average before measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        tar_bin = shutil.which("tar")
        t_tar, _ = timed(lambda: [subprocess.run([tar_bin, "-tf", str(p)], check=True,
                                                 stdout=subprocess.DEVNULL) for p in paths], 3)
        c_tar = timed.cpu  # type: ignore[attr-defined]
        v1 = _old_reader()

        def list_all(reader, digest: bool) -> int:
            n = 0
            for p in paths:
                with open(p, "rb") as f:
                    for _ in reader(f, digest=digest):
                        n += 1
            return n

        def cli() -> str:
            subprocess.run([sys.executable, "-m", "labkit", "flatten", str(image), "--json"],
                           check=True, stdout=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1])
            return "python -m labkit flatten --json > /dev/null"

        auto = cpu_count() if auto_jobs_of(image) > 1 else 1
        rows = [("tar -t (GNU tar, one process per layer)", t_tar, c_tar, "")]
        for label, fn, rep in (
                ("iter_entries before (v1), listing only", lambda: list_all(v1.iter_entries, False), 1),
                ("iter_entries, listing only", lambda: list_all(iter_entries, False), 3),
                ("iter_entries + sha256", lambda: list_all(iter_entries, True), 3),
                ("flatten jobs=1, no sha256", lambda: flatten(str(image), digest=False, jobs=1), 1),
                ("flatten jobs=1 + sha256", lambda: flatten(str(image), jobs=1), 1),
                (f"flatten jobs={auto} (default), no sha256", lambda: flatten(str(image), digest=False), 3),
                (f"flatten jobs={auto} (default) + sha256", lambda: flatten(str(image)), 3),
                ("CLI end to end: labkit flatten --json", cli, 3)):
            t, result = timed(fn, rep)
            extra = (f"{len(result)} paths merged" if isinstance(result, dict) else result if isinstance(result, str)
                     else f"{t / result * 1e6:.1f} us/entry")
            rows.append((label, t, timed.cpu, extra))  # type: ignore[attr-defined]
        print(f"{'':44} {'wall s':>7} {'cpu s':>7} {'wall/tar':>8} {'cpu/tar':>8}")
        for label, t, c, extra in rows:
            print(f"{label:44} {t:7.3f} {c:7.3f} {t / t_tar:7.1f}x {c / max(c_tar, 1e-3):7.1f}x  {extra}")
        print("(cpu = this process and its workers; the target is flatten + sha256 <= 2x tar -t wall)")
        if args.speed_only:
            return 0
        tree = flatten(str(image))

        # ---- lookup cost: 128 stacked layers vs 1
        layer_dirs = []
        for p in paths:
            with open(p, "rb") as f:
                layer_dirs.append(read_layer(f, with_data=False))
        while len(layer_dirs) < 128:
            layer_dirs.append({f"pad{len(layer_dirs)}": Node.file(b"")})
        first = sorted(merge(layer_dirs[:1]))
        probe = [rng.choice(first) for _ in range(2000)]
        try:
            from labkit.fs.overlay import Mount
        except ImportError:
            Mount = None  # type: ignore[assignment]
        for label, stack in (("1 layer", layer_dirs[:1]), ("128 layers", layer_dirs[:128])):
            if Mount is not None:
                t_build, m = timed(lambda: Mount(list(reversed(stack))), 1)
                t_look, _ = timed(lambda: [m.exists(q) for q in probe], 9)
                what = "overlay.Mount.exists"
            else:
                t_build, m = timed(lambda: merge(stack), 1)
                t_look, _ = timed(lambda: [q in m for q in probe], 5)
                what = "merged dict"
            print(f"lookup {label:10s}: {what} {t_look / len(probe) * 1e6:6.2f} us/lookup "
                  f"(index built in {t_build:.2f}s)")

        # ---- memory
        n_entries = args.layers * per_layer
        for jobs in (1, None):
            tracemalloc.start()
            flatten(str(image), jobs=jobs)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            what = "in this process" if jobs == 1 else "default jobs, this process"
            print(f"peak traced memory, flatten ({what:26s}): {peak / 1e6:6.1f} MB "
                  f"({peak / n_entries * 1e5 / 1e6:.1f} MB per 100k entries)")
        # VmHWM, not ru_maxrss: the latter survives exec, so a child started from this big
        # process would report this process's peak
        code = ("import resource, sys; from labkit.oci.flatten import flatten; flatten(sys.argv[1]); "
                "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
                "print(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        out = subprocess.run([sys.executable, "-c", code, str(image)], check=True, capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parents[1]).stdout.split()
        print(f"max RSS, flatten in a fresh process (default jobs): {int(out[0]) / 1e3:6.1f} MB, "
              f"its largest worker {int(out[1]) / 1e3:6.1f} MB (a fork shares pages until written)")
        big = tmp / "one-layer-100k.tar"
        big.write_bytes(make_layer(0, n_entries, rng))
        for label, fn in (("iter_entries (listing)", lambda f: sum(1 for _ in iter_entries(f))),
                          ("read_layer (with_data=False)", lambda f: len(read_layer(f, with_data=False)))):
            tracemalloc.start()
            with open(big, "rb") as f:
                count = fn(f)
            _, peak1 = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"peak traced memory, {label:28s}: {peak1 / 1e6:6.1f} MB for one layer of {count} "
                  f"entries ({peak1 / count * 1e5 / 1e6:.1f} MB per 100k)")
        print(f"process max RSS                 : "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:6.1f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
