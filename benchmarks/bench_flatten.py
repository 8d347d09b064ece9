"""Benchmark: flatten a 100-layer / 100k-file image; lookup cost at 128 layers vs 1; memory.

    python benchmarks/bench_flatten.py [--layers 100] [--files 100000]

Everything is generated in a temporary directory and removed afterwards. Prints:
* ``tar -t`` over the same layer tars vs labkit ``iter_entries`` (listing only), vs
  ``iter_entries`` with sha256, vs the whole ``labkit flatten`` (read + Docker's unpack
  rules + merge + sha256): seconds and ratios;
* lookup cost: ``overlay.Mount.stat`` (or the merged dict) at 128 stacked layers vs 1;
* peak traced Python memory of ``flatten`` and of ``read_layer`` per 100k entries, and the
  process's max RSS.
"""
from __future__ import annotations

import argparse
import io
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

from labkit.cli.flatten import flatten  # noqa: E402
from labkit.fsmodel import Node  # noqa: E402
from labkit.image import write_image_tar  # noqa: E402
from labkit.layers import merge  # noqa: E402
from labkit.tarlayer import iter_entries, read_layer  # noqa: E402


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


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=100)
    ap.add_argument("--files", type=int, default=100_000)
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

        # ---- listing speed
        tar_bin = shutil.which("tar")
        t_tar, _ = timed(lambda: [subprocess.run([tar_bin, "-tf", str(p)], check=True,
                                                 stdout=subprocess.DEVNULL) for p in paths], 3)

        def list_all(digest: bool) -> int:
            n = 0
            for p in paths:
                with open(p, "rb") as f:
                    for _ in iter_entries(f, digest=digest):
                        n += 1
            return n

        t_list, n = timed(lambda: list_all(False), 3)
        t_hash, _ = timed(lambda: list_all(True), 3)
        t_flat, tree = timed(lambda: flatten(str(image)), 1)
        print(f"tar -t (GNU tar, {len(paths)} processes) : {t_tar:7.3f}s")
        print(f"iter_entries, listing only    : {t_list:7.3f}s  ratio {t_list / t_tar:5.1f}x  "
              f"({t_list / n * 1e6:.1f} us/entry)")
        print(f"iter_entries + sha256         : {t_hash:7.3f}s  ratio {t_hash / t_tar:5.1f}x")
        print(f"labkit flatten (whole image)  : {t_flat:7.3f}s  ratio {t_flat / t_tar:5.1f}x  "
              f"-> {len(tree)} paths in the merged view")

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
            from labkit.overlay import Mount
        except ImportError:
            Mount = None  # type: ignore[assignment]
        for label, stack in (("1 layer", layer_dirs[:1]), ("128 layers", layer_dirs[:128])):
            if Mount is not None:
                t_build, m = timed(lambda: Mount(list(reversed(stack))), 1)
                t_look, _ = timed(lambda: [m.exists(q) for q in probe], 5)
                what = "overlay.Mount.exists"
            else:
                t_build, m = timed(lambda: merge(stack), 1)
                t_look, _ = timed(lambda: [q in m for q in probe], 5)
                what = "merged dict"
            print(f"lookup {label:10s}: {what} {t_look / len(probe) * 1e6:6.2f} us/lookup "
                  f"(index built in {t_build:.2f}s)")

        # ---- memory
        tracemalloc.start()
        flatten(str(image))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        n_entries = args.layers * per_layer
        print(f"peak traced memory, flatten (whole image)          : {peak / 1e6:6.1f} MB "
              f"({peak / n_entries * 1e5 / 1e6:.1f} MB per 100k entries)")
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
