"""Docker's classic build stream -> typed events -> BuildRecord.

The chunk lists below are shaped exactly like what Docker 20.10 sent in this kit's
builds (one dict per JSON message); the last tests parse live streams from the daemon.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

from labkit.build.events import (
    BuildFailed, BuildSucceeded, BuildWarning, StepCached, StepFinished, StepOutput, StepRunning,
    StepStarted, parse_docker_stream, record_from_events)

SUCCESS = [
    {"stream": "\x1b[91m[WARNING]: Empty continuation line found in:\n    RUN a\n\x1b[0m"},
    {"stream": "Step 1/4 : FROM scratch"}, {"stream": "\n"}, {"stream": " ---> \n"},
    {"stream": "Step 2/4 : COPY busybox /bin/busybox"}, {"stream": "\n"},
    {"stream": " ---> Using cache\n"}, {"stream": " ---> c7d761c5b188\n"},
    {"stream": "Step 3/4 : RUN echo a && echo b"}, {"stream": "\n"},
    {"stream": " ---> Running in 76689ac8fae8\n"}, {"stream": "a\nb"}, {"stream": "\n"},
    {"stream": "\x1b[91merr\n\x1b[0m"},
    {"stream": "Removing intermediate container 76689ac8fae8\n"},
    {"stream": " ---> 6832f3332566\n"},
    {"stream": "Step 4/4 : LABEL org.labkit.managed=true"}, {"stream": "\n"},
    {"stream": " ---> Running in b61351d879c4\n"},
    {"stream": "Removing intermediate container b61351d879c4\n"},
    {"stream": " ---> f5716d73606d\n"},
    {"aux": {"ID": "sha256:f5716d73606d663a20786be5dd5a48717a0735888425ebdedbe92d82b3d892ba"}},
    {"stream": "[Warning] One or more build-args [UNUSED] were not consumed\n"},
    {"stream": "Successfully built f5716d73606d\n"},
    {"stream": "Successfully tagged demo:1\n"},
]


def _clock():
    t = iter(range(0, 10_000, 2))
    return lambda: float(next(t))


def test_success_stream_events():
    events = list(parse_docker_stream(SUCCESS, clock=_clock()))
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "BuildWarning"
    assert StepStarted(2, 4, "COPY busybox /bin/busybox") in events
    assert StepCached(2) in events and StepCached(3) not in events
    assert StepRunning(3, "76689ac8fae8") in events
    out = [e for e in events if isinstance(e, StepOutput)]
    assert [(e.n, e.text, e.stderr) for e in out] == [
        (3, "a\n", False), (3, "b\n", False), (3, "err\n", True)]
    finished = [e for e in events if isinstance(e, StepFinished)]
    assert [(e.n, e.image_id) for e in finished] == [
        (2, "c7d761c5b188"), (3, "6832f3332566"), (4, "f5716d73606d")]
    assert all(e.seconds > 0 for e in finished)
    assert any(isinstance(e, BuildWarning) and "UNUSED" in e.text for e in events)
    assert events[-1] == BuildSucceeded(
        "sha256:f5716d73606d663a20786be5dd5a48717a0735888425ebdedbe92d82b3d892ba", ("demo:1",))


def test_record_from_events():
    rec = record_from_events(parse_docker_stream(SUCCESS))
    assert [s.n for s in rec.steps] == [1, 2, 3, 4]
    assert rec.cached == (False, True, False, False)
    assert rec.step(1).image_id is None                 # FROM scratch shows no id
    assert rec.step(3).output == "a\nb\nerr\n"
    assert rec.step(3).keyword == "RUN" and rec.step(3).layer_size is None
    assert rec.ok and rec.image.tags == ("demo:1",) and rec.image.short_id == "f5716d73606d"
    assert rec.engine == "docker" and len(rec.warnings) == 2


def test_failed_run_carries_exit_code_and_output():
    chunks = SUCCESS[1:10] + [
        {"stream": "out\n"}, {"stream": "\x1b[91merr\n\x1b[0m"},
        {"errorDetail": {"code": 3, "message": "The command '/bin/sh -c exit 3' returned a "
                                               "non-zero code: 3"},
         "error": "The command '/bin/sh -c exit 3' returned a non-zero code: 3"}]
    events = list(parse_docker_stream(chunks))
    assert events[-1] == BuildFailed(3, "The command '/bin/sh -c exit 3' returned a non-zero "
                                        "code: 3", 3, "out\nerr\n")
    rec = record_from_events(events)
    assert not rec.ok and rec.image is None and rec.failure.step == 3


def test_failure_without_code_and_truncated_stream():
    copy_fail = [{"stream": "Step 1/2 : FROM base"}, {"stream": "\n"}, {"stream": " ---> d0861d27d74a\n"},
                 {"stream": "Step 2/2 : COPY nothere /x"}, {"stream": "\n"},
                 {"errorDetail": {"message": "COPY failed: file not found in build context"},
                  "error": "COPY failed: file not found in build context"}]
    last = list(parse_docker_stream(copy_fail))[-1]
    assert isinstance(last, BuildFailed) and last.step == 2 and last.exit_code is None
    cut = list(parse_docker_stream(copy_fail[:4]))[-1]
    assert isinstance(cut, BuildFailed) and "ended before" in cut.message


def test_output_without_newline_before_removing_line():
    chunks = [{"stream": "Step 1/1 : RUN printf abc"}, {"stream": "\n"},
              {"stream": " ---> Running in 0123456789ab\n"}, {"stream": "abc"},
              {"stream": "Removing intermediate container 0123456789ab\n"},
              {"stream": " ---> 0123456789ac\n"}, {"stream": "Successfully built 0123456789ac\n"}]
    rec = record_from_events(parse_docker_stream(chunks))
    assert rec.step(1).output == "abc" and rec.step(1).image_id == "0123456789ac"
    assert rec.image.id == "0123456789ac"


def test_output_that_looks_like_a_step_line_stays_output():
    chunks = [{"stream": "Step 1/1 : RUN echo 'Step 9/9 : FAKE'"}, {"stream": "\n"},
              {"stream": " ---> Running in 0123456789ab\n"}, {"stream": "Step 9/9 : FAKE\n"},
              {"stream": " ---> 0123456789ac\n"}, {"stream": "Successfully built 0123456789ac\n"}]
    rec = record_from_events(parse_docker_stream(chunks))
    assert [s.n for s in rec.steps] == [1] and rec.step(1).output == "Step 9/9 : FAKE\n"


# --------------------------------------------------------------------------- real daemon

def test_live_streams_from_the_daemon(docker_client, tmp_path):
    from labkit.values import LABEL, SESSION_LABEL

    session = "eventstest-" + uuid.uuid4().hex[:10]
    labels = {LABEL: "true", SESSION_LABEL: session}
    api = docker_client.api
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "busybox").write_bytes(Path("/bin/busybox").read_bytes())
    os.chmod(ctx / "busybox", 0o755)
    (ctx / "marker").write_text(session)   # a first step no other build shares
    (ctx / "Dockerfile").write_text(
        'FROM scratch\nCOPY marker /marker\nCOPY busybox /bin/busybox\n'
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        f"RUN echo out-{session}; echo err-{session} >&2\nENV X=1\n")

    def build(**kw):
        return record_from_events(parse_docker_stream(api.build(
            path=str(ctx), decode=True, rm=True, forcerm=True, network_mode="none",
            labels=labels, **kw)))

    try:
        first = build(tag=f"{session}:1")
        assert first.ok, first.failure
        real = api.inspect_image(f"{session}:1")
        assert first.image.id == real["Id"] and first.image.tags == (f"{session}:1",)
        assert len(first.steps) == 6 + len(labels)
        run = first.step(5)
        assert not run.cached   # stdout and stderr are separate pipes: any order
        assert sorted(run.output.splitlines()) == [f"err-{session}", f"out-{session}"]
        history = [h["Id"] for h in api.history(real["Id"]) if h["Id"] != "<missing>"]
        for step in first.steps[1:]:
            assert any(h.split(":")[-1].startswith(step.image_id) for h in history), step
        again = build()
        assert again.cached == (False,) + (True,) * (len(again.steps) - 1), again
        assert again.image.id == real["Id"]
        (ctx / "Dockerfile").write_text((ctx / "Dockerfile").read_text()
                                        + "RUN echo failing >&2; exit 7\n")
        failed = build()
        assert not failed.ok and failed.failure.exit_code == 7
        assert failed.failure.step == 7 and failed.failure.output == "failing\n", failed
        assert failed.step(7).instruction == "RUN echo failing >&2; exit 7"
    finally:
        for _ in range(4):
            for image in api.images(filters={"label": f"{SESSION_LABEL}={session}"}, quiet=True):
                try:
                    api.remove_image(image, force=True)
                except Exception:  # a child still depends on it: next pass
                    pass
