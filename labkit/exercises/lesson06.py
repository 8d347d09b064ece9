"""Lesson 06: the build cache — order instructions so a change rebuilds little."""
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


DEPS_DIR = "/opt/deps"        # what the cache-app example's install step fills


def _install_index(s):
    steps = _steps(s)
    for i, st in enumerate(steps):
        if st.keyword == "RUN" and DEPS_DIR in st.instruction:
            return steps, i
    return steps, None


def _install_cached(s) -> Verdict:
    steps, i = _install_index(s)
    if i is None:
        return failed(f"no RUN step of the rebuild mentions {DEPS_DIR}")
    return passed() if steps[i].cached else \
        failed(f"step {steps[i].n} (the install) was rebuilt")


def _source_rebuilt(s) -> Verdict:
    steps, i = _install_index(s)
    if i is None:
        return failed(f"no RUN step of the rebuild mentions {DEPS_DIR}")
    later = [st for st in steps[i + 1:] if st.keyword in ("COPY", "ADD")]
    if not later:
        return failed("no COPY comes after the install step: where does the source go?")
    if all(st.cached for st in later):
        return failed("every COPY after the install came from the cache: edit a source file "
                      "(its content) before the rebuild")
    return passed()


def _installed(s) -> Verdict:
    result = s.run(f"test -s {DEPS_DIR}/installed && test -f /app/src/main.sh && echo ok", "record")
    return passed() if result.output.strip() == "ok" else \
        failed(f"the image lacks {DEPS_DIR}/installed or /app/src/main.sh")


EXERCISES = (
    Exercise(
        id="06-a", title="Keep the cache",
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
    Exercise(
        id="06-b", title="Dependencies first",
        task="In the cache-app example, write a Dockerfile that installs the dependencies (the RUN "
             f"that fills {DEPS_DIR}) so that editing a file under app/src/ does not re-run it. "
             "Build, edit app/src/main.sh, build again and pass the second build's record.",
        params=("record",),
        checks=(
            Check("built", _built, 1, success="the rebuild made an image",
                  failure="the rebuild should succeed and make an image",
                  hints=("record = engine.build(context, dockerfile='my.Dockerfile', tag='deps') "
                         "returns the record to pass.",)),
            Check("install-cached", _install_cached, 2,
                  success="the dependency install came from the cache",
                  failure="the dependency install should come from the cache after a source edit",
                  hints=("A step is reused only if every step before it was reused, and a COPY is "
                         "reused only if the files it copies did not change.",
                         "Copy only the dependency manifest (app/deps.txt) before the install step; "
                         "copy the rest of app/ after it.",
                         "Look at the example's Dockerfile: COPY app/deps.txt ..., RUN <install>, "
                         "COPY app/ /app/ — in that order.")),
            Check("source-rebuilt", _source_rebuilt, 1,
                  success="the source COPY after the install was rebuilt",
                  failure="a COPY after the install should be rebuilt (the edited source)",
                  hints=("Change the content of app/src/main.sh between the two builds; touching it "
                         "(only its time) does not count.",)),
            Check("installed", _installed, 1, hidden=True,
                  success="the image has the dependencies and the source",
                  failure="the image should have the dependencies and the source"),
        )),
)
