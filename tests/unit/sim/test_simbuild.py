"""Behaviour of the simulator's builder (no daemon needed).

What Docker's classic builder does is checked against a real daemon, layer by layer, in
tests/test_simbuild_docker.py. Here: the builder's own contract — the classic cache rules
(docs: "a step hits when a child of the same parent has the same instruction; the first
miss busts the rest"), errors that name the step/line/file, refusing what it does not
model, events, values, and speed.
"""
from __future__ import annotations

import hashlib
import io
import time
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from requirekit import skip_unless_required

from labkit.build import events as ev
from labkit.sim import builder as simbuild
from labkit.errors import BuildError, UnsupportedOperation
from labkit.sim.image import SimImage
from labkit.oci.tar.unpack import read_layer
from labkit.oci.tar.writer import layer_bytes

BUSYBOX = Path("/bin/busybox")
BASE_DOCKERFILE = ('FROM scratch\nCOPY busybox /bin/busybox\n'
                   'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n')


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    if not BUSYBOX.exists():
        skip_unless_required("LABKIT_REQUIRE_DOCKER", "needs the static busybox at /bin/busybox")
    ctx = tmp_path_factory.mktemp("simbuild-base")
    (ctx / "busybox").write_bytes(BUSYBOX.read_bytes())
    (ctx / "busybox").chmod(0o755)
    (ctx / "Dockerfile").write_text(BASE_DOCKERFILE)
    _, img = simbuild.build(ctx, resolve=lambda name: None)
    return img


def _ctx(tmp_path: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return ctx


def _build(ctx: Path, base, cache=None, **kw):
    return simbuild.build(ctx, resolve={"base": base}.__getitem__, cache=cache, **kw)


CACHED_APP = """\
FROM base
WORKDIR /app
COPY app.txt ./
RUN cat app.txt > copy.txt
ENV MODE=prod
RUN echo "$MODE" > mode.txt
"""


def test_rebuild_hits_and_the_first_miss_busts_the_rest(base, tmp_path):
    ctx = _ctx(tmp_path, CACHED_APP, {"app.txt": "v1\n"})
    cache = simbuild.SimBuildCache()
    first, img1 = _build(ctx, base, cache)
    assert first.ok and not any(first.cached)
    again, img2 = _build(ctx, base, cache)
    assert again.cached == (False, True, True, True, True, True)   # FROM never "hits"
    assert img2.id == img1.id                                       # the same image, reused

    (ctx / "app.txt").write_text("v2\n")
    edited, img3 = _build(ctx, base, cache)
    assert edited.cached == (False, True, False, False, False, False)
    assert img3.id != img1.id
    assert dict(img3.layers[-2])["app/copy.txt"].data == b"v2\n"

    (ctx / "app.txt").write_text("v1\n")          # the old images are still children
    reverted, img4 = _build(ctx, base, cache)
    assert reverted.cached == again.cached and img4.id == img1.id


def test_mtime_does_not_matter_but_no_cache_does(base, tmp_path):
    ctx = _ctx(tmp_path, CACHED_APP, {"app.txt": "v1\n"})
    cache = simbuild.SimBuildCache()
    _build(ctx, base, cache)
    import os
    os.utime(ctx / "app.txt", (1, 1))
    touched, _ = _build(ctx, base, cache)
    assert all(touched.cached[1:])
    forced, _ = _build(ctx, base, cache, no_cache=True)
    assert not any(forced.cached)
    after, _ = _build(ctx, base, cache)
    assert all(after.cached[1:])


def test_a_run_that_changes_nothing_makes_no_layer(base, tmp_path):
    ctx = _ctx(tmp_path, "FROM base\nRUN true\nWORKDIR /bin\nRUN echo hi > /hi\n")
    record, img = _build(ctx, base)
    history = img.config["history"][-3:]
    assert [bool(h.get("empty_layer")) for h in history] == [True, True, False]
    assert len(img.layers) == len(base.layers) + 1
    assert img.config["rootfs"]["diff_ids"] == list(img.diff_ids)


def test_failing_run_reports_step_line_status_and_output(base, tmp_path):
    ctx = _ctx(tmp_path, "FROM base\nRUN echo one > /one\n\nRUN echo bad news && exit 7\nRUN echo never\n")
    events: list = []
    with pytest.raises(BuildError) as info:
        _build(ctx, base, on_event=events.append)
    err = info.value
    assert (err.step, err.line, err.exit_code) == (3, 4, 7)
    assert "bad news" in err.output and "returned a non-zero code: 7" in str(err)
    assert [s.n for s in err.record.steps] == [1, 2, 3] and not err.record.ok
    assert isinstance(events[-1], ev.BuildFailed) and events[-1].exit_code == 7


def test_missing_copy_source_names_the_file_after_running_the_steps_before(base, tmp_path):
    ctx = _ctx(tmp_path, "FROM base\nRUN echo x > /x\nCOPY nowhere.txt /n\nRUN echo never\n")
    with pytest.raises(BuildError, match="nowhere.txt") as info:
        _build(ctx, base)
    assert info.value.step == 3 and info.value.line == 3
    assert [s.n for s in info.value.record.steps] == [1, 2, 3]


def test_copy_from_an_unknown_stage_or_image_fails_at_its_step(base, tmp_path):
    """Docker takes an unknown --from name for an image and fails when it cannot get it."""
    ctx = _ctx(tmp_path, "FROM base AS one\nRUN echo x > /x\nFROM base\nCOPY --from=two /x /x\n")
    with pytest.raises(BuildError, match="invalid from flag value two") as info:
        _build(ctx, base)
    assert (info.value.step, info.value.line) == (4, 4)


@pytest.mark.parametrize("dockerfile, named", [
    ("FROM base\nRUN wget -q -O /x http://127.0.0.1:9/\n", "'wget'"),

    ("FROM base AS parent\nONBUILD RUN echo hi\nFROM parent\nRUN echo child\n", "ONBUILD"),
    ("FROM base\nRUN sleep 1 & wait\n", "background"),
])
def test_what_is_not_modelled_is_refused_by_name(base, tmp_path, dockerfile, named):
    ctx = _ctx(tmp_path, dockerfile)
    with pytest.raises(UnsupportedOperation) as info:
        _build(ctx, base)
    assert named in str(info.value) and "Docker engine" in str(info.value)


def test_events_follow_docker_step_numbering(base, tmp_path):
    ctx = _ctx(tmp_path, "ARG GREETING=hi\nFROM base AS first\nRUN echo $GREETING > /g\n"
                         "FROM base\nCOPY --from=first /g /g\n", {})
    events: list = []
    record, img = _build(ctx, base, on_event=events.append, labels={"a": "1", "b": "2"})
    started = [e for e in events if isinstance(e, ev.StepStarted)]
    assert [e.n for e in started] == list(range(1, 8)) and {e.total for e in started} == {7}
    assert [e.instruction for e in started][-2:] == ["LABEL a=1", "LABEL b=2"]
    assert isinstance(events[-1], ev.BuildSucceeded) and events[-1].image_id == img.id
    assert record.image.id == img.id
    assert img.config["config"]["Labels"] == {"a": "1", "b": "2"}
    assert dict(img.layers[-1])["g"].data == b"\n"      # a global ARG is not seen by RUN


def test_twenty_steps_build_well_under_a_second(base, tmp_path):
    steps = []
    for i in range(5):
        steps += [f"RUN mkdir -p /d{i} && echo {i} > /d{i}/f", f"ENV V{i}={i}",
                  f"COPY f{i}.txt /d{i}/", f"RUN mv /d{i} /m{i} && cp -a /m{i} /c{i}"]
    ctx = _ctx(tmp_path, "FROM base\n" + "\n".join(steps) + "\n",
               {f"f{i}.txt": f"file {i}\n" for i in range(5)})
    timings = []
    for _ in range(2):                      # the better of two: CI machines are shared
        start = time.perf_counter()
        record, img = _build(ctx, base, no_cache=True)
        timings.append(time.perf_counter() - start)
    assert record.ok and len(record.steps) == 21 and not any(record.cached)
    assert min(timings) < 1.0, f"20 steps took {min(timings):.2f}s"


def test_sim_image_is_a_content_addressed_value(base):
    config = dict(base.config)
    again = SimImage(base.layers, config)
    assert again.id == base.id and again == base
    changed = SimImage(base.layers, {**config, "os": "plan9"})
    assert changed.id != base.id
    with pytest.raises(FrozenInstanceError):
        base.layers = ()  # type: ignore[misc]
    for layer, diff_id in zip(base.layers, base.diff_ids):
        data = layer_bytes(layer)
        assert diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
        back = read_layer(io.BytesIO(data))
        assert {p: (n.kind, n.mode, n.sha256, n.linkname) for p, n in back.items()} == \
               {p: (n.kind, n.mode, n.sha256, n.linkname) for p, n in layer.items()}
    assert base.config["rootfs"]["diff_ids"] == list(base.diff_ids)


def test_squash_leaves_one_layer_over_the_base_with_the_same_files(base, tmp_path):
    from labkit.fs.layers import merge
    ctx = _ctx(tmp_path, "FROM base\nRUN echo a > /a && echo b > /b\nENV X=1\nRUN rm /a && mkdir /d\n")
    cache = simbuild.SimBuildCache()
    _, plain = _build(ctx, base, cache)
    _, squashed = _build(ctx, base, cache, squash=True)      # every step a cache hit
    assert len(squashed.layers) == len(base.layers) + 1
    assert merge(squashed.layers) == merge(plain.layers)
    assert set(squashed.layers[-1]) == {"b", "d"}          # /a never existed below: no whiteout
    history = squashed.config["history"]
    assert all(h.get("empty_layer") for h in history[len(base.config["history"]):-1])
    assert history[-1]["comment"] == f"merge {plain.id} to {base.id}"
