"""THE cache test: the model's hit/miss predictions against the real classic builder.

For every case folder in tests/cases (see its README): build on the real daemon, then
apply each scripted edit, predict with ``labkit.cache.predict`` and rebuild; the
predicted hit/miss of every step must equal what the daemon reports (parsed with
``labkit.buildevents``). The predicted cache keys of the final stage must equal
``docker history``'s CreatedBy strings — COPY checksums included. Nothing expected is
stored: the daemon is the oracle.

All images carry labkit's label and this run's session label and are removed at the end.
"""
from __future__ import annotations

import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from labkit.build.events import BuildRecord, parse_docker_stream, record_from_events
from labkit.build.cache import BaseImage, CacheState, Prediction, predict
from labkit.build.dockerfile import parse
from labkit.values import LABEL, SESSION_LABEL

from cases.casekit import apply_ops, load_cases  # noqa: E402

pytestmark = pytest.mark.docker

SESSION = "cachetest-" + uuid.uuid4().hex[:12]
BASE_LABELS = {LABEL: "true", SESSION_LABEL: SESSION}   # makes our base (and chains) unique
LABELS = {LABEL: "true"}                                # case builds: one label step less
CASES = load_cases()


class Lab:
    """The real daemon plus the model's view of its cache, for one test session."""

    def __init__(self, client) -> None:
        self.api = client.api
        self.made: list[str] = []          # final images of our builds (labelled)
        self.steps_made: list[str] = []    # step images our builds created (not cache hits)

    def build(self, context: Path, build_args: dict[str, str], *, no_cache: bool = False,
              tag: str | None = None, labels: dict[str, str] = LABELS) -> BuildRecord:
        chunks = self.api.build(path=str(context), decode=True, rm=True, forcerm=True,
                                network_mode="none", labels=labels, buildargs=build_args,
                                nocache=no_cache, tag=tag)
        rec = record_from_events(parse_docker_stream(chunks))
        for s in rec.steps:
            if not s.cached and s.image_id and s.keyword != "FROM":
                self.steps_made.append(s.image_id)
        if rec.image is not None:
            self.made.append(rec.image.id)
        return rec

    def _labelled(self, image: str) -> bool:
        try:
            labels = self.api.inspect_image(image)["Config"].get("Labels") or {}
        except Exception:  # gone already
            return False
        return labels.get(LABEL) == "true"

    def remove_all(self) -> list[str]:
        """Remove our builds' labelled images (newest first; Docker prunes the untagged step
        images below them), then our session's labelled bases. Returns what is left."""
        todo = [i for i in dict.fromkeys(reversed(self.made)) if self._labelled(i)]
        for _ in range(4):
            left = []
            for image in todo:
                try:
                    self.api.remove_image(image)
                except Exception as exc:  # gone already, or still a parent: retry, then leave
                    if "No such image" not in str(exc):
                        left.append(image)
            todo = left
        for _ in range(8):
            mine = [i["Id"] for i in self.api.images(filters={"label": SESSION_LABEL}, all=True)
                    if (i.get("Labels") or {}).get(SESSION_LABEL, "").startswith(SESSION)]
            if not mine:
                break
            for image in mine:
                try:
                    self.api.remove_image(image, force=True)
                except Exception:  # a child still depends on it: next pass
                    pass
        left = []
        for image in dict.fromkeys(self.made + self.steps_made):
            try:
                self.api.inspect_image(image)
                left.append(image)
            except Exception:  # removed, as it should be
                pass
        return left


BASE_DOCKERFILE = ('FROM scratch\nCOPY busybox /bin/busybox\n'
                   'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n')


def _base(lab: Lab, folder: Path, case) -> tuple[str, BaseImage]:
    """A base image of our own: scratch + busybox (+ the case's ``base.Dockerfile``), with a
    session label that makes its id (and so every cache chain on it) unique to this case in
    this run; what the model needs of it is read back from the daemon."""
    folder.mkdir()
    (folder / "busybox").write_bytes(Path("/bin/busybox").read_bytes())
    (folder / "busybox").chmod(0o755)
    (folder / "Dockerfile").write_text(BASE_DOCKERFILE + case.base_steps)
    tag = f"labkit-cachetest-base:{SESSION}-{case.name}"
    rec = lab.build(folder, {}, tag=tag, labels={**BASE_LABELS, SESSION_LABEL: f"{SESSION}-{case.name}"})
    assert rec.ok, rec.failure
    config = lab.api.inspect_image(rec.image.id)["Config"]
    return tag, BaseImage.of(rec.image.id, {"config": config})


def _run_case(lab: Lab, case, root: Path) -> list[tuple[str, Prediction, BuildRecord]]:
    """Build the case and each edit on the daemon, predicting each build first."""
    base, base_image = _base(lab, root / "base", case)
    ctx = case.prepare(root / "context")
    args = dict(case.build_args)
    state = CacheState()
    out = []
    runs = [("first build", (), False)] + [(e.name, e.ops, e.no_cache) for e in case.edits]
    for name, ops, no_cache in runs:
        apply_ops(ctx, ops, args)
        build_args = {"BASE": base, **args}
        df = parse((ctx / "Dockerfile").read_text(), build_args=build_args)
        pred = predict(df, ctx, cache=state, build_args=build_args, no_cache=no_cache,
                       labels=LABELS, bases={base: base_image})
        rec = lab.build(ctx, build_args, no_cache=no_cache)
        state = state.record(pred, rec)
        out.append((f"{case.name} / {name}", pred, rec))
        if not rec.ok:
            break
    return out


@pytest.fixture(scope="module")
def lab(docker_client):
    lab = Lab(docker_client)
    try:
        yield lab
    finally:
        left = lab.remove_all()
        if left:  # e.g. another build started from one of our images meanwhile
            warnings.warn(f"{len(left)} images this test made are still there: {left[:5]}")


@pytest.fixture(scope="module")
def runs(lab, tmp_path_factory):
    """All cases built on the daemon, four at a time (each on its own base, so their
    caches cannot meet); the tests below check the results case by case."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return {c.name: pool.submit(_run_case, lab, c, tmp_path_factory.mktemp(c.name))
                for c in CASES}


def _check(pred: Prediction, rec: BuildRecord, what: str, api) -> None:
    print(f"== {what}\n{pred}")  # shown when a check fails (or with -s)
    assert rec.ok, f"{what}: the real build failed: {rec.failure}"
    assert [s.n for s in rec.steps] == [p.step for p in pred.plan], \
        f"{what}: Docker ran {len(rec.steps)} steps, the model planned {pred.total}"
    for p in pred.plan:  # the parser gives Docker's own instruction text
        assert rec.step(p.step).instruction == p.instruction.original, what
    # an uncertain prediction is one the model cannot make (COPY --from keys on files it has
    # not got): it must say so and name the step, and it is not held to the daemon's outcome
    for s in pred.steps:
        assert s.certain or "uncertain" in s.reason or "byte-identical" in s.reason, (what, s)
    wrong = [f"  step {s.step} {s.instruction!r}: model {'HIT' if s.hit else 'MISS'}, "
             f"docker {'HIT' if rec.step(s.step).cached else 'MISS'} (model: {s.reason})"
             for s in pred.steps if s.certain and s.hit != rec.step(s.step).cached]
    assert not wrong, f"{what}: predictions differ from the daemon:\n" + "\n".join(wrong)
    # exact keys: the final stage's steps appear in docker history as CreatedBy
    last = pred.plan[-1].stage_index
    mine = [p for p in pred.plan if p.stage_index == last and p.probes]
    history = [h["CreatedBy"] for h in reversed(api.history(rec.image.id))][-len(mine):]
    for p, created_by in zip(mine, history):
        if p.from_stage is None:  # COPY --from keys on image content the model lacks
            assert p.created_by == created_by, f"{what}: step {p.step} key"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_predictions_match_the_daemon(lab, runs, case):
    results = runs[case.name].result()
    assert len(results) == 1 + len(case.edits)
    for what, pred, rec in results:
        _check(pred, rec, what, lab.api)


def test_corpus_covers_the_edit_kinds():
    """The corpus exercises every kind of edit the cache model must explain."""
    kinds = set()
    for case in CASES:
        for e in case.edits:
            kinds.update(op["op"] for op in e.ops)
            if not e.ops:
                kinds.add("no-op")
            if e.no_cache:
                kinds.add("no_cache")
            if any(op["op"] == "replace" and op["path"] == ".dockerignore" for op in e.ops):
                kinds.add("dockerignore")
    assert len(CASES) >= 6
    assert {"write", "touch", "chmod", "chown", "replace", "build_args", "delete", "symlink",
            "rename", "no-op", "no_cache", "dockerignore"} <= kinds


def test_a_stage_rebuilt_to_the_same_files_still_hits_after_it(runs):
    """The rule the model cannot see: the final stage's COPY --from, and the RUN after it, hit
    on the daemon when the rebuilt builder stage made byte-identical files; the model flags
    both as uncertain instead of predicting a certain miss. A real change makes both miss."""
    (_, _, first), (_, same, rec), (_, _, changed) = runs["same-artifact"].result()
    final = [s for s in same.steps if s.stage == same.steps[-1].stage
             and s.instruction.split()[0] in ("COPY", "RUN")]         # not the build labels
    assert [s.instruction.split()[0] for s in final] == ["COPY", "RUN"]
    assert [rec.step(s.step).cached for s in final] == [True, True]
    assert [s.certain for s in final] == [False, False]
    assert [changed.step(s.step).cached for s in final] == [False, False]
