"""Benchmark builds: labkit's Docker engine vs the ``docker build`` CLI, and the simulator.

    python benchmarks/bench_build.py [--steps 20] [--repeats 3]

One generated Dockerfile of ``--steps`` steps (COPY, RUN with busybox commands, ENV) on
labkit's base image, built ``--no-cache`` by:
* the ``docker build`` CLI with the classic builder (DOCKER_BUILDKIT=0), the baseline;
* labkit's Docker engine (``engine.build``: the SDK, the typed event stream, the record);
* labkit's simulator engine.
Prints medians and the ratios engine/CLI and sim/CLI. Images are labelled and removed after.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labkit.values import LABEL, SESSION_LABEL  # noqa: E402
from labkit.engine.session import session_id  # noqa: E402


def make_context(root: Path, steps: int) -> Path:
    lines = ["FROM labkit/base"]
    for i in range(1, steps):
        kind = i % 3
        if kind == 0:
            (root / f"f{i}.txt").write_text(f"file {i}\n" * 50)
            lines.append(f"COPY f{i}.txt /data/f{i}.txt")
        elif kind == 1:
            lines.append(f"RUN mkdir -p /work/d{i} && echo step {i} > /work/d{i}/out && "
                         f"dd if=/dev/zero of=/work/d{i}/blob bs=1024 count={i} 2>/dev/null")
        else:
            lines.append(f"ENV STEP{i}=value{i}")
    (root / "Dockerfile").write_text("\n".join(lines) + "\n")
    return root


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from labkit.engine.docker import DockerEngine
    from labkit.engine.sim import SimEngine
    docker_engine, sim = DockerEngine.connect(), SimEngine()
    docker_engine.base_image()
    sim.base_image()
    with tempfile.TemporaryDirectory(prefix="labkit-bench-build-") as tmp:
        ctx = make_context(Path(tmp), args.steps)
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        cli = ["docker", "build", "-q", "--no-cache", "--rm", "--force-rm", "--network", "none",
               "--label", f"{LABEL}=true", "--label", f"{SESSION_LABEL}={session_id()}", "-t", "labkit-bench/cli:latest", str(ctx)]
        runs: dict[str, list[float]] = {"docker build CLI": [], "labkit docker engine": [], "labkit sim engine": []}
        for _ in range(args.repeats):
            runs["docker build CLI"].append(timed(lambda: subprocess.run(cli, env=env, check=True,
                                                                         capture_output=True)))
            runs["labkit docker engine"].append(timed(lambda: docker_engine.build(ctx, tag="bench", no_cache=True)))
            runs["labkit sim engine"].append(timed(lambda: sim.build(ctx, tag="bench", no_cache=True)))
        subprocess.run(["docker", "rmi", "-f", "labkit-bench/cli:latest"], capture_output=True)
    docker_engine.clean(session_only=True)
    base = statistics.median(runs["docker build CLI"])
    print(f"{args.steps}-step Dockerfile, --no-cache, median of {args.repeats}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, times in runs.items():
        med = statistics.median(times)
        print(f"  {name:22s} {med:7.3f} s   ratio vs CLI {med / base:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
