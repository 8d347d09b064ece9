"""The cache model on its own, against the classic builder's documented rules
(reference rules 21-23); the last test checks its COPY checksums byte for byte
against ``docker history`` for the awkward entries (links, owners, long names ...).
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from requirekit import skip_unless_required

from labkit.build.cache import BaseImage, CacheState, plan, predict
from labkit.build.context import list_context, tarsum_v1
from labkit.build.dockerfile import parse
from labkit.errors import BuildError


def _ctx(tmp_path: Path, files: dict[str, str], dockerfile: str) -> Path:
    for name, content in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
        os.chmod(p, 0o644)
    (tmp_path / "Dockerfile").write_text(dockerfile)
    return tmp_path


def _run(ctx: Path, cache: CacheState, **kw):
    df = parse((ctx / "Dockerfile").read_text(), build_args=kw.get("build_args"))
    return predict(df, ctx, cache=cache, **kw)


DF = ("FROM base\nWORKDIR /app\nCOPY app.py ./\nRUN python app.py\nENV MODE=prod\n"
      "CMD [\"python\", \"app.py\"]\n")


def test_first_build_misses_and_the_same_build_hits(tmp_path):
    ctx = _ctx(tmp_path, {"app.py": "print(1)\n"}, DF)
    first = _run(ctx, CacheState())
    assert first.hits == (False,) * 5
    assert [s.step for s in first.steps] == [2, 3, 4, 5, 6]     # FROM is step 1, no probe
    again = _run(ctx, first.state)
    assert again.hits == (True,) * 5
    assert "mtime is ignored" in again.steps[1].reason


def test_mtime_only_change_hits_content_and_mode_changes_miss(tmp_path):
    ctx = _ctx(tmp_path, {"app.py": "print(1)\n"}, DF)
    state = _run(ctx, CacheState()).state
    os.utime(ctx / "app.py", (1, 1))
    assert _run(ctx, state).hits == (True,) * 5
    (ctx / "app.py").write_text("print(2)\n")
    changed = _run(ctx, state)
    assert changed.hits == (True, False, False, False, False)
    assert "app.py: content changed" in changed.steps[1].reason
    assert "busted" in changed.steps[2].reason and "step 3" in changed.steps[2].reason
    (ctx / "app.py").write_text("print(1)\n")
    os.chmod(ctx / "app.py", 0o755)
    moded = _run(ctx, state)
    assert moded.hits[1] is False and "mode 0644 -> 0755" in moded.steps[1].reason


def test_instruction_change_busts_only_the_rest_of_its_stage(tmp_path):
    text = "FROM base AS a\nRUN one\nRUN two\nFROM base\nRUN three\n"
    ctx = _ctx(tmp_path, {}, text)
    state = _run(ctx, CacheState()).state
    (ctx / "Dockerfile").write_text(text.replace("RUN one", "RUN uno"))
    pred = _run(ctx, state)
    assert pred.hits == (False, False, True)
    assert "instruction text changed" in pred.steps[0].reason and "'RUN one'" in pred.steps[0].reason


def test_a_stage_built_from_a_rebuilt_stage_misses(tmp_path):
    text = "FROM base AS a\nRUN one\nFROM a\nRUN two\n"
    ctx = _ctx(tmp_path, {}, text)
    state = _run(ctx, CacheState()).state
    (ctx / "Dockerfile").write_text(text.replace("RUN one", "RUN uno"))
    pred = _run(ctx, state)
    assert pred.hits == (False, False)
    assert "FROM stage a, which was rebuilt" in pred.steps[1].reason


def test_reordering_misses_from_the_first_moved_step(tmp_path):
    text = "FROM base\nENV A=1\nRUN one\nRUN two\n"
    ctx = _ctx(tmp_path, {}, text)
    state = _run(ctx, CacheState()).state
    (ctx / "Dockerfile").write_text("FROM base\nENV A=1\nRUN two\nRUN one\n")
    pred = _run(ctx, state)
    assert pred.hits == (True, False, False)
    assert "cached at another position" in pred.steps[1].reason


def test_a_rename_is_named(tmp_path):
    ctx = _ctx(tmp_path, {"a.txt": "same"}, "FROM base\nCOPY *.txt /x/\n")
    state = _run(ctx, CacheState()).state
    (ctx / "a.txt").rename(ctx / "b.txt")
    pred = _run(ctx, state)
    assert pred.hits == (False,) and "a.txt renamed to b.txt" in pred.steps[0].reason


def test_arg_change_misses_at_first_use(tmp_path):
    text = "FROM base\nARG V=1\nENV X=y\nRUN echo hi\nRUN echo $V\n"
    ctx = _ctx(tmp_path, {}, text)
    state = _run(ctx, CacheState()).state
    pred = _run(ctx, state, build_args={"V": "2"})
    # the ARG step keys on the Dockerfile's default; the first RUN after it sees V=2
    assert pred.hits == (True, True, False, False)
    assert "ARG V changed (1 -> 2)" in pred.steps[2].reason
    assert pred.steps[2].key == "|1 V=2 /bin/sh -c echo hi"


def test_arg_used_by_substitution_misses_there(tmp_path):
    text = "FROM base\nARG V=1\nLABEL version=$V\n"
    ctx = _ctx(tmp_path, {}, text)
    state = _run(ctx, CacheState()).state
    pred = _run(ctx, state, build_args={"V": "2"})
    assert pred.hits == (True, False)
    assert "$V changed ('1' -> '2')" in pred.steps[1].reason


def test_env_shadows_arg(tmp_path):
    text = "FROM base\nARG MODE=dev\nENV MODE=prod\nRUN echo $MODE\n"
    ctx = _ctx(tmp_path, {}, text)
    state = _run(ctx, CacheState()).state
    assert _run(ctx, state, build_args={"MODE": "test"}).hits == (True, True, True)


def test_base_image_env_shadows_arg_too(tmp_path):
    ctx = _ctx(tmp_path, {}, "FROM base\nARG MODE=dev\nRUN echo $MODE\n")
    env = {"base": BaseImage("base", (("MODE", "from-image"),))}
    state = _run(ctx, CacheState(), bases=env).state
    assert _run(ctx, state, bases=env, build_args={"MODE": "x"}).hits == (True, True)
    assert _run(ctx, state, build_args={"MODE": "x"}).hits == (True, False)


def test_undeclared_build_args_do_not_reach_run(tmp_path):
    ctx = _ctx(tmp_path, {}, "FROM base\nRUN echo hi\n")
    state = _run(ctx, CacheState()).state
    assert _run(ctx, state, build_args={"OTHER": "1"}).hits == (True,)


def test_equal_keys_from_different_text(tmp_path):
    """ENV's old form and a relative WORKDIR resolve to the same keys: still hits."""
    text = "FROM base\nWORKDIR /srv\nWORKDIR app\nENV A=b\n"
    ctx = _ctx(tmp_path, {}, text)
    state = _run(ctx, CacheState()).state
    (ctx / "Dockerfile").write_text("FROM base\nWORKDIR /srv\nWORKDIR /srv/app\nENV A b\n")
    assert _run(ctx, state).hits == (True, True, True)


def test_no_cache_misses_everything_and_its_images_serve_later_builds(tmp_path):
    ctx = _ctx(tmp_path, {"app.py": "x"}, DF)
    state = _run(ctx, CacheState()).state
    nocache = _run(ctx, state, no_cache=True)
    assert nocache.hits == (False,) * 5 and "--no-cache" in nocache.steps[0].reason
    assert _run(ctx, nocache.state).hits == (True,) * 5


def test_dockerignore_change_is_named(tmp_path):
    ctx = _ctx(tmp_path, {"app.py": "a", "secret.txt": "s"}, "FROM base\nCOPY . /app\n")
    state = _run(ctx, CacheState()).state
    (ctx / ".dockerignore").write_text(".dockerignore\nsecret.txt\n")
    pred = _run(ctx, state)
    assert pred.hits == (False,)
    assert ".dockerignore now excludes secret.txt" in pred.steps[0].reason


def test_build_labels_are_extra_steps_and_numbering_counts_global_args(tmp_path):
    ctx = _ctx(tmp_path, {}, "ARG B=base\nFROM $B\nRUN x\n")
    steps = plan(parse("ARG B=base\nFROM $B\nRUN x\n"), ctx, labels={"z": "1", "a": "2"})
    assert [s.instruction.original for s in steps] == [
        "ARG B=base", "FROM $B", "RUN x", "LABEL a=2", "LABEL z=1"]
    assert [s.step for s in steps] == [1, 2, 3, 4, 5]
    assert [s.probes for s in steps] == [False, False, True, True, True]


def test_target_stops_after_that_stage(tmp_path):
    text = "FROM base AS a\nRUN one\nFROM base AS b\nRUN two\nFROM base\nRUN three\n"
    ctx = _ctx(tmp_path, {}, text)
    pred = _run(ctx, CacheState(), target="b")
    assert [s.instruction for s in pred.steps] == ["RUN one", "RUN two"]


def test_copy_from_a_rebuilt_stage_is_flagged_uncertain(tmp_path):
    text = "FROM base AS build\nARG V=1\nRUN make $V\nFROM base\nCOPY --from=build /out /out\n"
    ctx = _ctx(tmp_path, {}, text)
    state = _run(ctx, CacheState()).state
    same = _run(ctx, state)
    assert same.hits == (True, True, True) and all(s.certain for s in same.steps)
    rebuilt = _run(ctx, state, build_args={"V": "2"})
    assert rebuilt.hits == (True, False, False) and not rebuilt.steps[2].certain


def test_what_follows_an_uncertain_step_is_uncertain_and_says_why(tmp_path):
    """A RUN after an uncertain COPY --from, and a stage built FROM that stage: Docker hits
    them all when the rebuilt stage made byte-identical files, so none is a certain miss."""
    text = ("FROM base AS build\nARG V=1\nRUN make $V\nFROM base AS app\n"
            "COPY --from=build /out /out\nRUN use /out\nFROM app\nRUN more\n"
            "FROM base\nRUN independent\n")
    ctx = _ctx(tmp_path, {}, text)
    state = _run(ctx, CacheState()).state
    rebuilt = _run(ctx, state, build_args={"V": "2"})
    got = {s.instruction: (s.hit, s.certain) for s in rebuilt.steps}
    assert got == {"ARG V=1": (True, True), "RUN make $V": (False, True),
                   "COPY --from=build /out /out": (False, False), "RUN use /out": (False, False),
                   "RUN more": (False, False), "RUN independent": (True, True)}
    use = next(s for s in rebuilt.steps if s.instruction == "RUN use /out")
    assert "step 5, COPY --from=build /out /out" in use.reason


def test_missing_copy_source_is_a_build_error(tmp_path):
    ctx = _ctx(tmp_path, {}, "FROM base\nCOPY nothere /x\n")
    with pytest.raises(BuildError, match="nothere"):
        _run(ctx, CacheState())


def test_mtime_is_not_part_of_an_entry_hash(tmp_path):
    ctx = _ctx(tmp_path, {"a": "x"}, "FROM base\n")
    before = list_context(ctx).entry("a").tarsum
    os.utime(ctx / "a", (5, 5))
    assert list_context(ctx).entry("a").tarsum == before
    st = os.stat(ctx / "a")
    assert before == tarsum_v1("a", kind="file", mode=0o644, uid=st.st_uid, gid=st.st_gid, size=1,
                               data=b"x")


def test_owner_is_part_of_an_entry_hash(tmp_path):
    ctx = _ctx(tmp_path, {"a": "x"}, "FROM base\n")
    before = list_context(ctx).entry("a").tarsum
    if os.geteuid() == 0:
        uid, gid = 7, 7
    else:  # without root a file's group can still move to another group of its owner's
        others = [g for g in os.getgroups() if g != os.stat(ctx / "a").st_gid]
        if not others:
            skip_unless_required("LABKIT_REQUIRE_KERNEL", "changing a file's owner needs root "
                                 "(or a second group of this user's)")
        uid, gid = -1, others[0]
    os.chown(ctx / "a", uid, gid)
    st = os.stat(ctx / "a")
    after = list_context(ctx).entry("a").tarsum
    assert after != before
    assert after == tarsum_v1("a", kind="file", mode=0o644, uid=st.st_uid, gid=st.st_gid, size=1,
                              data=b"x")


# --------------------------------------------------------------------------- real daemon

def test_copy_checksums_equal_docker_history(docker_client, tmp_path):
    """Hard links, symlinks (into and out of a copied dir), owners, modes, long and
    non-ASCII names, wildcards, several sources: every key equals Docker's CreatedBy."""
    from labkit.build.events import parse_docker_stream, record_from_events
    from labkit.values import LABEL, SESSION_LABEL

    if os.geteuid() != 0:
        skip_unless_required("LABKIT_REQUIRE_DOCKER", "the context needs a file owned by 1000:1001: "
                             "chown needs root")
    session = "cachemodeltest-" + uuid.uuid4().hex[:10]
    labels = {LABEL: "true", SESSION_LABEL: session}
    api = docker_client.api
    ctx = tmp_path / "ctx"
    long_name = "d/" + "n" * 120 + ".txt"
    ctx_files = {"busybox": None, "a.txt": "a\n", "b.sh": "echo b\n", "d/x": "x\n",
                 "d/sub/y": "y\n", long_name: "long\n", "d/été.txt": "é\n", "e/z": "z\n"}
    for name, content in ctx_files.items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            p.write_bytes(Path("/bin/busybox").read_bytes())
        else:
            p.write_text(content)
    os.chmod(ctx / "busybox", 0o755)
    os.chmod(ctx / "b.sh", 0o750)
    os.chown(ctx / "d" / "x", 1000, 1001)
    os.link(ctx / "d" / "x", ctx / "d" / "x-hardlink")
    os.symlink("x", ctx / "d" / "to-x")
    os.symlink("../e/z", ctx / "d" / "to-outside")
    os.symlink("d/sub", ctx / "sub-link")
    (ctx / ".dockerignore").write_text("e\n!e/z\n")
    text = ('FROM scratch\nCOPY busybox /bin/busybox\n'
            'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
            "COPY a.txt ./\nCOPY d /d\nCOPY d/ e /two/\nCOPY *.sh /bin/\nCOPY sub-link /s\n"
            "COPY --chown=5:5 d/to-x /link\nCOPY . /all\n")
    (ctx / "Dockerfile").write_text(text)
    try:
        rec = record_from_events(parse_docker_stream(api.build(
            path=str(ctx), decode=True, rm=True, forcerm=True, network_mode="none",
            labels=labels, tag=session)))
        assert rec.ok, rec.failure
        steps = [p for p in plan(parse(text), ctx, labels=labels) if p.probes]
        history = [h["CreatedBy"] for h in reversed(api.history(rec.image.id))]
        assert history == [p.created_by for p in steps]
    finally:
        for _ in range(4):
            for image in api.images(filters={"label": f"{SESSION_LABEL}={session}"}, quiet=True):
                try:
                    api.remove_image(image, force=True)
                except Exception:  # a child still depends on it: next pass
                    pass
