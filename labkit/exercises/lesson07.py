"""Lesson 07: the build cache — order instructions so a change rebuilds little."""
from __future__ import annotations

from .spec import Check, Exercise, Verdict, failed, passed


def _steps(s) -> list:
    record = s.arg("record")
    steps = getattr(record, "steps", None)
    if steps is None:
        raise TypeError("record= should be what engine.build(...) returned (a BuildRecord)")
    if getattr(record, "failure", None) is not None or getattr(record, "image", None) is None:
        return []
    return [st for st in steps if st.keyword != "FROM"]


def _built(s) -> Verdict:
    record = s.arg("record")
    s.image_ref("record")    # the image it made is really in the engine
    return passed() if record.steps else failed("the record lists no steps")


def _hits(s) -> Verdict:
    hits = sum(1 for st in _steps(s) if st.cached)
    return passed() if hits >= 2 else failed(f"{hits} step(s) came from the cache")


def _rebuilt(s) -> Verdict:
    misses = [st for st in _steps(s) if not st.cached]
    if not misses:
        return failed("every step came from the cache: change a file the build copies, then rebuild")
    first = misses[0]
    if first.keyword in ("COPY", "ADD"):
        return passed()
    return failed(f"the first rebuilt step is step {first.n} ({first.keyword}), not the COPY of "
                  f"the file you changed")


EXERCISES = (
    Exercise(
        id="07-a", title="Keep the cache",
        task="Build a Dockerfile that COPYs a file you then change, and rebuild it: on the rebuild "
             "at least 2 steps must come from the cache, and the first rebuilt step must be the "
             "COPY. Pass the rebuild's record.",
        params=("record",),
        checks=(
            Check("built", _built, 1, success="the rebuild made an image",
                  failure="the rebuild should succeed and make an image",
                  hints=("record = engine.build(dir, tag='cached') returns the record to pass.",)),
            Check("cache-hits", _hits, 2, success="at least 2 steps came from the cache",
                  failure="at least 2 steps should come from the cache",
                  hints=("A step is reused when the same instruction already ran on the same parent.",
                         "Put the steps that do not depend on your file BEFORE the COPY.",
                         "FROM, then two RUN steps that do not read the file, then COPY app.txt "
                         "/app.txt; build, edit app.txt, build again.")),
            Check("copy-rebuilt", _rebuilt, 1, success="the cache broke exactly at the COPY",
                  failure="the first rebuilt step should be the COPY of the changed file",
                  hints=("COPY's cache key includes a checksum of the files it copies.",
                         "Change the copied file between the two builds, and nothing else.",
                         "Edit app.txt (its content, not just its time), then build again.")),
        )),
)
