"""Lesson 09: efficient images — bytes deleted in a later layer still ship."""
from __future__ import annotations

from .spec import Check, Exercise, Verdict, failed, passed

DATA = "app/data"
MIN_DATA = 100_000            # bytes /app/data must hold
MIN_EFFICIENCY = 0.95         # dive's lowestEfficiency default is 0.9; be stricter
MAX_RECLAIMABLE = 10_240      # bytes stored but invisible in the final filesystem


def _analysis(s):
    from ..analysis import analyze
    return s.memo("analysis", lambda: analyze(s.image(), scan_secrets=False))


def _data(s) -> Verdict:
    from ..layers import merge
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


EXERCISES = (
    Exercise(
        id="09-a", title="No dead weight",
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
                         "that added it; labkit.analysis.analyze(open_image(...)) shows where.",
                         "Make and remove temporary files in the SAME RUN step, and write each "
                         "file once.",
                         "Replace 'RUN make big file' + 'RUN rm big file' with one "
                         "'RUN make big file && use it && rm big file'.")),
            Check("reclaimable", _reclaimable, 1, hidden=True,
                  success="nothing stored that the final filesystem hides",
                  failure="bytes are stored that the final filesystem hides"),
        )),
)
