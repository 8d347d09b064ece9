"""Lesson 11, the capstone: make the capstone-bad example small, cache-friendly and secret-free.

11-a is scored: each property earns points on its own, so a partial fix shows partial credit.
The size limit is relative to the bad image AS BUILT ON THE LEARNER'S ENGINE (``bad=``), not a
number from a book: the fixed image may add at most ``SIZE_RATIO`` of the bytes the bad one
adds above the base layer.
"""
from __future__ import annotations

from ..analysis.efficiency import analyze
from .spec import Check, Exercise, Verdict, failed, passed

SIZE_RATIO = 0.25              # the fixed image adds at most this share of the bad one's bytes
MIN_EFFICIENCY = 0.95          # dive's score (its CI default is 0.9)
MAX_LAYERS = 5                 # the bad image has 8
DEPS_DIR = "/opt/deps"         # what the dependency steps fill
KEY_NAME = "id_rsa"
APP_GREETING = "hello from the capstone app"


def _record(s):
    record = s.arg("record")
    if getattr(record, "steps", None) is None:
        raise TypeError("record= should be what engine.build(...) returned (a BuildRecord)")
    return record


def added_bytes(engine, ref) -> int:
    """Bytes of an image's layers above its bottom (base) layer, as the engine's history counts."""
    sizes = sorted((h.layer_index, h.size) for h in engine.history(ref)
                   if not h.empty_layer and h.layer_index is not None)
    return sum(size for _, size in sizes[1:])


def _analysis(s):
    return s.memo("analysis", lambda: analyze(s.image("record")))


def _built(s) -> Verdict:
    record = _record(s)
    if not record.ok:
        return failed(f"the build failed: {record.failure}")
    s.image_ref("record")
    return passed()


def _size(s) -> Verdict:
    mine = added_bytes(s.engine, s.image_ref("record"))
    bad = added_bytes(s.engine, s.image_ref("bad"))
    limit = int(bad * SIZE_RATIO)
    if mine <= limit:
        return passed()
    return failed(f"your image adds {mine:,} bytes above the base; the bad one adds {bad:,} on "
                  f"this engine, so the limit is {limit:,}")


def _efficiency(s) -> Verdict:
    d = _analysis(s).dive
    return passed() if d.efficiency >= MIN_EFFICIENCY else \
        failed(f"efficiency {d.efficiency:.3f}, {d.wasted_bytes:,} wasted bytes (dive's count)")


def _no_secret(s) -> Verdict:
    found = _analysis(s).secrets
    if found:
        f = found[0]
        return failed(f"layer {f.added_by} holds /{f.path} ({f.kind})")
    for i in range(s.layer_count("record")):
        for path, node in s.layer_dir(i, "record").items():
            if path.rsplit("/", 1)[-1] == KEY_NAME:
                what = "deletes" if node.kind == "whiteout" else "holds"
                return failed(f"layer {i} {what} /{path}")
    return passed()


def _deps_cached(s) -> Verdict:
    record = _record(s)
    if not record.ok:
        return failed("the rebuild failed")
    deps = [st for st in record.steps if st.keyword == "RUN" and DEPS_DIR in st.instruction]
    if not deps:
        return failed(f"no RUN step of the rebuild mentions {DEPS_DIR}")
    rebuilt = [st for st in deps if not st.cached]
    if rebuilt:
        return failed(f"step {rebuilt[0].n} (a dependency step) was rebuilt")
    copies = [st for st in record.steps if st.keyword in ("COPY", "ADD")]
    if copies and all(st.cached for st in copies):
        return failed("every COPY came from the cache: edit a source file (its content) under "
                      "src/ before the rebuild")
    return passed()


def _app_runs(s) -> Verdict:
    out = s.run(f"test -s {DEPS_DIR}/lib/libdeps.so && test -f {DEPS_DIR}/installed && "
                f"sh /app/src/main.sh", "record").output.strip()
    return passed() if out.splitlines()[:1] == [APP_GREETING] else \
        failed(f"the app printed {out[:80]!r} (or the dependencies are missing)")


def _few_layers(s) -> Verdict:
    n = s.layer_count("record")
    return passed() if n <= MAX_LAYERS else failed(f"the image has {n} layers")


EXERCISES = (
    Exercise(
        id="11-a", title="Capstone: small, cache-friendly, secret-free",
        task="Rewrite the capstone-bad Dockerfile. Build the bad one (bad=...), build yours, edit a "
             "file under src/, build yours again and pass that rebuild's record. Points for: a "
             f"size at most {SIZE_RATIO:.0%} of the bad image's (above the base, measured on your "
             f"engine), dive efficiency of at least {MIN_EFFICIENCY}, no secret in any layer, and "
             f"the dependency steps ({DEPS_DIR}) coming from the cache on the rebuild.",
        params=("record", "bad"),
        checks=(
            Check("built", _built, 1, success="your rebuild made an image",
                  failure="your rebuild should succeed and make an image",
                  hints=("record = build_and_rebuild(engine, context) (labkit.lessons.lesson11) builds "
                         "my.Dockerfile, edits a source file and rebuilds; bad = the bad build.",)),
            Check("size", _size, 2, success=f"at most {SIZE_RATIO:.0%} of the bad image's bytes",
                  failure="the image is too big",
                  hints=("Files deleted in a later layer still ship; so does everything COPY . copies.",
                         "Make and delete the temporary bundle in the SAME RUN step, and copy only "
                         "what the app needs (src/), not the whole context.",
                         "A dependency stage (FROM labkit/base AS deps) that builds /opt/deps, then "
                         "FROM labkit/base + COPY --from=deps /opt/deps/ /opt/deps/ + COPY src/ "
                         "/app/src/.")),
            Check("efficiency", _efficiency, 2, success=f"efficiency of at least {MIN_EFFICIENCY}",
                  failure=f"efficiency should be at least {MIN_EFFICIENCY}",
                  hints=("labkit.analyze(...) lists what is stored but hidden, and by which layer.",
                         "Nothing the final image ships may be deleted or overwritten by a later layer.",
                         "Only the last stage ships: do the deleting in the dependency stage, and copy "
                         "its clean result.")),
            Check("no-secret", _no_secret, 2, success="no secret in any layer",
                  failure="a layer holds (or deletes) a secret",
                  hints=("A key removed by a later RUN is still in the layer that added it.",
                         "COPY . /app/ copies the key too: copy named folders, or list the key in "
                         ".dockerignore.",
                         "Let only the dependency stage see id_rsa (COPY id_rsa ... in that stage); "
                         "the final stage copies /opt/deps from it and never the key.")),
            Check("deps-cached", _deps_cached, 2,
                  success="the dependency steps came from the cache after a source edit",
                  failure="the dependency steps should come from the cache after a source-only edit",
                  hints=("The first step that misses rebuilds every later step of its stage.",
                         "Copy the dependency manifest (deps.txt) before the install, and the "
                         "sources after it.",
                         "Edit src/version.sh (its content), rebuild and pass that record: the "
                         f"RUN that fills {DEPS_DIR} must say 'cache hit'.")),
            Check("app-runs", _app_runs, 1, hidden=True, success="the app runs with its dependencies",
                  failure="the app should run and find its dependencies"),
            Check("few-layers", _few_layers, 1, hidden=True, success=f"at most {MAX_LAYERS} layers",
                  failure=f"the image should have at most {MAX_LAYERS} layers"),
        )),
)
