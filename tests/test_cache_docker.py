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

import sys
import uuid
from pathlib import Path

import pytest

from labkit.buildevents import BuildRecord, parse_docker_stream, record_from_events
from labkit.cache import CacheState, Prediction, predict
from labkit.dockerfile import parse
from labkit.engine.base import LABEL, SESSION_LABEL

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases.casekit import apply_ops, load_cases  # noqa: E402

pytestmark = pytest.mark.docker

SESSION = "cachetest-" + uuid.uuid4().hex[:12]
LABELS = {LABEL: "true", SESSION_LABEL: SESSION}
CASES = load_cases()


class Lab:
    """The real daemon plus the model's view of its cache, for one test session."""

    def __init__(self, client) -> None:
        self.api = client.api
        self.state = CacheState()
        self.made: list[str] = []          # images our builds created (not cache hits)
        self.base = ""
        self.base_id = ""

    def build(self, context: Path, build_args: dict[str, str], *, no_cache: bool = False,
              tag: str | None = None) -> BuildRecord:
        chunks = self.api.build(path=str(context), decode=True, rm=True, forcerm=True,
                                network_mode="none", labels=LABELS, buildargs=build_args,
                                nocache=no_cache, tag=tag)
        rec = record_from_events(parse_docker_stream(chunks))
        for s in rec.steps:
            if not s.cached and s.image_id and s.keyword != "FROM":
                self.made.append(s.image_id)
        if rec.image is not None:
            self.made.append(rec.image.id)
        return rec

    def remove_all(self) -> None:
        """Remove our session's labelled images, then whatever our builds made that is left."""
        for _ in range(8):
            mine = self.api.images(filters={"label": f"{SESSION_LABEL}={SESSION}"}, all=True,
                                   quiet=True)
            if not mine:
                break
            for image in mine:
                try:
                    self.api.remove_image(image, force=True)
                except Exception:  # a child still depends on it: next pass
                    pass
        for image in reversed(self.made):
            try:
                self.api.remove_image(image)
            except Exception:  # gone already, or another build now depends on it
                pass


@pytest.fixture(scope="module")
def lab(docker_client, tmp_path_factory):
    lab = Lab(docker_client)
    ctx = tmp_path_factory.mktemp("base")
    (ctx / "busybox").write_bytes(Path("/bin/busybox").read_bytes())
    (ctx / "busybox").chmod(0o755)
    (ctx / "Dockerfile").write_text('FROM scratch\nCOPY busybox /bin/busybox\n'
                                    'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n')
    try:
        lab.base = f"labkit-cachetest-base:{SESSION}"
        rec = lab.build(ctx, {}, tag=lab.base)
        assert rec.ok, rec.failure
        lab.base_id = rec.image.id
        yield lab
    finally:
        lab.remove_all()


def _check(pred: Prediction, rec: BuildRecord, what: str, api) -> None:
    print(f"== {what}\n{pred}")  # shown when a check fails (or with -s)
    assert rec.ok, f"{what}: the real build failed: {rec.failure}"
    assert [s.n for s in rec.steps] == [p.step for p in pred.plan], \
        f"{what}: Docker ran {len(rec.steps)} steps, the model planned {pred.total}"
    for p in pred.plan:  # the parser gives Docker's own instruction text
        assert rec.step(p.step).instruction == p.instruction.original, what
    wrong = [f"  step {s.step} {s.instruction!r}: model {'HIT' if s.hit else 'MISS'}, "
             f"docker {'HIT' if rec.step(s.step).cached else 'MISS'} (model: {s.reason})"
             for s in pred.steps if s.hit != rec.step(s.step).cached]
    assert not wrong, f"{what}: predictions differ from the daemon:\n" + "\n".join(wrong)
    # exact keys: the final stage's steps appear in docker history as CreatedBy
    last = pred.plan[-1].stage_index
    mine = [p for p in pred.plan if p.stage_index == last and p.probes]
    history = [h["CreatedBy"] for h in reversed(api.history(rec.image.id))][-len(mine):]
    for p, created_by in zip(mine, history):
        if p.from_stage is None:  # COPY --from keys on image content the model lacks
            assert p.created_by == created_by, f"{what}: step {p.step} key"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_predictions_match_the_daemon(lab, case, tmp_path):
    ctx = case.prepare(tmp_path / "context")
    args = dict(case.build_args)
    runs = [("first build", (), False)] + [(e.name, e.ops, e.no_cache) for e in case.edits]
    for name, ops, no_cache in runs:
        apply_ops(ctx, ops, args)
        build_args = {"BASE": lab.base, **args}
        df = parse((ctx / "Dockerfile").read_text(), build_args=build_args)
        pred = predict(df, ctx, cache=lab.state, build_args=build_args, no_cache=no_cache,
                       labels=LABELS, base_ids={lab.base: lab.base_id})
        rec = lab.build(ctx, build_args, no_cache=no_cache)
        lab.state = lab.state.record(pred, rec)
        _check(pred, rec, f"{case.name} / {name}", lab.api)


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
            "no-op", "no_cache", "dockerignore"} <= kinds
