"""Lesson 07: slim images — bytes deleted in a later layer still ship."""
from __future__ import annotations

from ..analysis.efficiency import analyze
from ..fs.layers import merge
from .spec import Check, Exercise, Verdict, failed, passed

DATA = "app/data"
MIN_DATA = 100_000            # bytes /app/data must hold
MIN_EFFICIENCY = 0.95         # dive's lowestEfficiency default is 0.9; be stricter
MAX_RECLAIMABLE = 10_240      # bytes stored but invisible in the final filesystem


def _analysis(s):
    return s.memo("analysis", lambda: analyze(s.image(), scan_secrets=False))


def _data(s) -> Verdict:
    node = merge(s.layer_dirs()).get(DATA)
    if node is None or node.kind != "file":
        return failed(f"the final filesystem has no file /{DATA}")
    return passed() if node.size >= MIN_DATA else \
        failed(f"/{DATA} holds {node.size:,} bytes")


def _layers(s) -> Verdict:
    n = s.layer_count()
    return passed() if n >= 3 else failed(f"the image has {n} layer(s)")


def _efficiency(s) -> Verdict:
    score = _analysis(s).dive
    detail = f"efficiency {score.efficiency:.3f}, {score.wasted_bytes:,} wasted bytes (dive's count)"
    return passed() if score.efficiency >= MIN_EFFICIENCY else failed(detail)


def _reclaimable(s) -> Verdict:
    n = _analysis(s).reclaimable_bytes
    return passed() if n <= MAX_RECLAIMABLE else failed(f"{n:,} bytes stored but not visible")


APP_GREETING = "hello from the slim app"     # what the slim-app example's program prints
MAX_ADDED = 16_384                           # file bytes the image may add above its base layer
BUILD_ONLY = ("toolchain", "src")            # top-level directories only the build needs


def _app_runs(s) -> Verdict:
    out = s.run("app").output.strip()
    return passed() if out == APP_GREETING else \
        failed(f"running 'app' printed {out[:80]!r}")


def _build_files(layer) -> list[str]:
    return sorted(p for p, node in layer.items()
                  if node.kind != "dir" and node.kind != "whiteout" and p.split("/", 1)[0] in BUILD_ONLY)


def _no_build_files(s) -> Verdict:
    found = _build_files(merge(s.layer_dirs()))
    return failed(f"the final filesystem has /{found[0]}" + (f" and {len(found) - 1} more" if len(found) > 1 else "")) \
        if found else passed()


def _added_bytes(s) -> Verdict:
    added = sum(node.size for layer in s.layer_dirs()[1:] for node in layer.values()
                if node.kind == "file")
    return passed() if added <= MAX_ADDED else \
        failed(f"the layers above the base hold {added:,} bytes of files")


def _no_build_layers(s) -> Verdict:
    for i, layer in enumerate(s.layer_dirs()):
        found = _build_files(layer)
        if found:
            return failed(f"layer {i} holds /{found[0]}")
    return passed()


EXERCISES = (
    Exercise(
        id="07-a", title="No dead weight",
        task=f"Build an image of at least 3 layers whose final filesystem has /{DATA} "
             f"(at least {MIN_DATA:,} bytes), with a dive efficiency of at least {MIN_EFFICIENCY}.",
        params=("image",),
        checks=(
            Check("data", _data, 1, success=f"/{DATA} is there", failure=f"/{DATA} should be there",
                  hints=(f"Create /{DATA} in a RUN step, e.g. with dd.",
                         f"RUN mkdir -p /app && dd if=/dev/zero of=/{DATA} bs=1024 count=100 "
                         f"(bs times count must reach {MIN_DATA:,} bytes).")),
            Check("layers", _layers, 1, success="at least 3 layers",
                  failure="the image should have at least 3 layers",
                  hints=("The base has 1 layer; each RUN, COPY or ADD adds one.",)),
            Check("efficiency", _efficiency, 2, success=f"efficiency of at least {MIN_EFFICIENCY}",
                  failure=f"efficiency should be at least {MIN_EFFICIENCY}",
                  hints=("A file deleted or overwritten in a later layer still ships in the layer "
                         "that added it; labkit.analyze(labkit.open_image(...)) shows where.",
                         "Make and remove temporary files in the SAME RUN step, and write each "
                         "file once.",
                         "Replace 'RUN make big file' + 'RUN rm big file' with one "
                         "'RUN make big file && use it && rm big file'.")),
            Check("reclaimable", _reclaimable, 1, hidden=True,
                  success="nothing stored that the final filesystem hides",
                  failure="bytes are stored that the final filesystem hides"),
        )),
    Exercise(
        id="07-b", title="Ship only the app",
        task="From the slim-app example, build an image in which the program 'app' prints the "
             "greeting, while neither the toolchain nor the sources ship in any layer, and the "
             f"layers above the base add at most {MAX_ADDED:,} bytes of files.",
        params=("image",),
        checks=(
            Check("app-runs", _app_runs, 1, success="'app' prints the greeting",
                  failure="running 'app' in the image should print the greeting",
                  hints=("Copy the built program to a directory on PATH, e.g. /usr/local/bin/app.",)),
            Check("no-build-files", _no_build_files, 1,
                  success="no files under /toolchain or /src in the final filesystem",
                  failure="the final filesystem should have no files under /toolchain or /src",
                  hints=("Build in one stage, then start a new stage FROM labkit/base.",
                         "COPY --from=build /out/app /usr/local/bin/app copies only the result.")),
            Check("added-bytes", _added_bytes, 2,
                  success="the layers above the base are small",
                  failure="the layers above the base hold too many bytes",
                  hints=("Deleting files in a later step does not shrink the layers that added them.",
                         "Only a new stage (or squash) leaves the toolchain's layer behind.",
                         "Use the example's Dockerfile: FROM labkit/base AS build ... then FROM "
                         "labkit/base and COPY --from=build.")),
            Check("no-build-layers", _no_build_layers, 1, hidden=True,
                  success="no layer holds build-only files",
                  failure="a layer holds build-only files"),
        )),
)
