"""Exercise checks on the learner's REAL state, on the simulator and on the real daemon.

Every expected value here is computed independently of labkit.exercises: layer counts and
diffIDs are read from the saved tar with tarfile + hashlib, and the states are made by real
builds, execs and commits on the engine under test.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

import labkit.exercises as ex
from labkit.errors import ExerciseError

PKG = Path(ex.__file__).parent


@pytest.fixture(autouse=True)
def _fresh_attempts(monkeypatch):
    monkeypatch.delenv("LABKIT_GRADE_LOG", raising=False)
    ex.reset_attempts()
    yield
    ex.reset_attempts()


def build(engine, tmp_path: Path, dockerfile: str, tag: str, files: dict[str, str] | None = None):
    ctx = tmp_path / f"ctx-{tag}"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        (ctx / name).write_text(text)
    record = engine.build(ctx, tag=tag)
    assert record.image is not None, record
    return record


def saved_layers(engine, image, tmp_path: Path) -> list[bytes]:
    """The image's layer tars, bottom first, read with tarfile only (legacy docker-save layout)."""
    dest = tmp_path / f"saved-{uuid.uuid4().hex[:6]}.tar"
    engine.save(image, dest)
    with tarfile.open(dest) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        return [tar.extractfile(name).read() for name in manifest[0]["Layers"]]


def diff_id(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def names_in(layer: bytes) -> set[str]:
    import io
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        return {m.name.strip("./").rstrip("/") for m in tar.getmembers()}


def grading_log(monkeypatch, tmp_path: Path) -> Path:
    log = tmp_path / "grade.jsonl"
    monkeypatch.setenv("LABKIT_GRADE_LOG", str(log))
    return log


# ------------------------------------------------------------------ 00-a: three layers

def test_00a_passes_on_three_layers_with_hello_on_top(engine, tmp_path, monkeypatch):
    rec = build(engine, tmp_path, "FROM labkit/base\nRUN echo one > /one\n"
                "RUN echo hello > /hello.txt\n", "ex00good")
    layers = saved_layers(engine, rec.image, tmp_path)
    assert len(layers) == 3 and "hello.txt" in names_in(layers[-1])   # the state is what we claim
    r = ex.check("00-a", image="ex00good", engine=engine)
    assert (r.passed, r.points, r.max_points, r.hint) == (True, 5, 5, None)
    assert r.hidden_pending == 1
    # graded: the hidden check (cat /hello.txt in a container) runs and the result is logged
    log = grading_log(monkeypatch, tmp_path)
    g = ex.check("00-a", rec, engine=engine)        # positional, and a BuildRecord works
    assert (g.passed, g.points, g.max_points) == (True, 6, 6)
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["exercise"] == "00-a" and entry["points"] == 6 and entry["engine"] == engine.name
    assert [c["name"] for c in entry["checks"] if c["hidden"]] == ["readable"]


def test_00a_fails_with_escalating_hints_when_hello_is_not_on_top(engine, tmp_path):
    build(engine, tmp_path, "FROM labkit/base\nRUN echo hello > /hello.txt\n"
          "RUN echo one > /one\n", "ex00swap")
    levels, hints = [], []
    for _ in range(4):
        r = ex.check("00-a", image="ex00swap", engine=engine)
        assert not r.passed and r.points == 3 and r.max_points == 5 and r.status == "partial"
        levels.append(r.hint_level)
        hints.append(r.hint)
    assert levels == [1, 2, 3, 3]
    assert len(set(hints[:3])) == 3                       # each level says something new
    assert any("top layer holds /one" in m for m in r.messages)
    assert r.attempt == 4


def test_00a_reports_the_learners_layer_count(engine, tmp_path):
    rec = build(engine, tmp_path, "FROM labkit/base\nRUN echo a > /a\nRUN echo b > /b\n"
                "RUN echo hello > /hello.txt\n", "ex00four")
    assert len(saved_layers(engine, rec.image, tmp_path)) == 4
    r = ex.check("00-a", image="ex00four", engine=engine)
    assert not r.passed and r.points == 3
    assert any("4 layer(s)" in m for m in r.messages)


def test_missing_image_fails_cleanly_with_a_fix(engine):
    r = ex.check("00-a", image=f"never-built-{uuid.uuid4().hex[:6]}", engine=engine)
    assert not r.passed and r.points == 0
    assert "build it first" in r.messages[0]
    assert r.hint_level == 1 and "engine.build" in r.hint


# ------------------------------------------------------------------ 03-a: writable layer size

def test_03a_writable_layer_over_one_mib(engine):
    c = engine.start(engine.base_image())
    try:
        before = ex.check("03-a", container=c, engine=engine)
        assert not before.passed and before.points == 1       # container exists, layer empty
        assert any("holds 0 bytes" in m for m in before.messages)
        small = engine.exec(c, "dd if=/dev/zero of=/tmp/small bs=1024 count=1000")
        assert small.exit_code == 0, small.output
        assert not ex.check("03-a", container=c, engine=engine).passed   # 1,024,000 < 1 MiB
        big = engine.exec(c, "dd if=/dev/zero of=/tmp/big bs=1024 count=100")
        assert big.exit_code == 0, big.output
        after = ex.check("03-a", c, engine=engine)
        assert after.passed and after.points == 3 and after.hint is None
    finally:
        engine.remove(c)


# ------------------------------------------------------------------ 04: whiteouts

def test_04a_and_04b_delete_then_commit_shows_the_whiteout(engine, tmp_path, monkeypatch):
    base = engine.base_image()
    c = engine.start(base)
    try:
        assert not ex.check("04-a", container=c, engine=engine).passed
        assert engine.exec(c, "rm /etc/group").exit_code == 0
        assert ex.check("04-a", container=c, engine=engine).passed
        img = engine.commit(c, tag="ex04deleted")
    finally:
        engine.remove(c)
    layers = saved_layers(engine, img, tmp_path)
    assert "etc/.wh.group" in names_in(layers[-1]) and "etc/group" in names_in(layers[0])
    r = ex.check("04-b", image="ex04deleted", engine=engine)
    assert r.passed and r.points == 3
    # the base image's top (only) layer holds the file itself, not a whiteout
    wrong = ex.check("04-b", image=base, engine=engine)
    assert not wrong.passed and any("top layer holds a file for /etc/group" in m for m in wrong.messages)


def test_04a_hidden_check_catches_deleting_more(engine, tmp_path, monkeypatch):
    grading_log(monkeypatch, tmp_path)
    c = engine.start(engine.base_image())
    try:
        assert engine.exec(c, "rm /etc/group /etc/passwd").exit_code == 0
        r = ex.check("04-a", container=c, engine=engine)
    finally:
        engine.remove(c)
    assert not r.passed and (r.points, r.max_points) == (3, 4)
    assert r.hint is None                       # hidden checks give no hint
    assert "hidden checks: 0 of 1 passed" in r.messages


# ------------------------------------------------------------------ 05: diffIDs

def _puzzle_diff_ids(tmp_path: Path) -> list[str]:
    path = ex.material("05-a", tmp_path)
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        return [diff_id(tar.extractfile(n).read()) for n in manifest[0]["Layers"]]


def test_05a_hashed_answer(engine, tmp_path):
    ids = _puzzle_diff_ids(tmp_path)
    assert len(ids) == 3
    good = ex.check("05-a", answer=ids[1], engine=engine)
    assert good.passed and good.points == 4
    assert ex.check("05-a", answer="  " + ids[1].split(":")[1].upper() + " ", engine=engine).passed
    wrong = ex.check("05-a", answer=ids[0], engine=engine)
    assert not wrong.passed and wrong.points == 1
    junk = ex.check("05-a", answer="layer one", engine=engine)
    assert junk.points == 0


def test_05a_puzzle_is_reproducible(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert (ex.material("05-a", a).read_bytes() == ex.material("05-a", b).read_bytes())


def test_05b_answer_recomputed_from_the_learners_image(engine, tmp_path):
    rec = build(engine, tmp_path, f"FROM labkit/base\nRUN echo {uuid.uuid4().hex} > /id\n"
                "RUN echo x > /x\n", "ex05own")
    layers = saved_layers(engine, rec.image, tmp_path)
    r = ex.check("05-b", image="ex05own", answer=diff_id(layers[-1]), engine=engine)
    assert r.passed and r.points == 4
    other = ex.check("05-b", image="ex05own", answer=diff_id(layers[1]), engine=engine)
    assert not other.passed and any("another layer" in m for m in other.messages)


def test_no_answer_in_the_package_source(tmp_path):
    ids = _puzzle_diff_ids(tmp_path)
    answer = ids[1].split(":", 1)[1]
    roots = [PKG] + [p for p in (PKG.parents[1] / "notebooks",) if p.is_dir()]
    texts = [f.read_bytes() for root in roots for f in root.rglob("*") if f.is_file()]
    assert texts
    for t in texts:
        low = t.lower()
        assert answer.encode() not in low and answer[:16].encode() not in low
    # what IS stored for it is a salted hash
    from labkit.exercises.lesson05 import _PUZZLE_ANSWER
    assert _PUZZLE_ANSWER.digest == hashlib.sha256(
        (_PUZZLE_ANSWER.salt + ids[1]).encode()).hexdigest()


# ------------------------------------------------------------------ 06-a: build cache

def test_06a_cache_hits_on_a_rebuild(engine, tmp_path):
    token = uuid.uuid4().hex
    df = f"FROM labkit/base\nRUN echo {token} > /token\nRUN mkdir /app\nCOPY app.txt /app/app.txt\n"
    first = build(engine, tmp_path, df, "ex06", {"app.txt": "v1\n"})
    r0 = ex.check("06-a", record=first, engine=engine)
    assert not r0.passed and any("0 step(s) came from the cache" in m for m in r0.messages)
    same = build(engine, tmp_path, df, "ex06", {"app.txt": "v1\n"})
    r1 = ex.check("06-a", record=same, engine=engine)
    assert not r1.passed and any("every step came from the cache" in m for m in r1.messages)
    edited = build(engine, tmp_path, df, "ex06", {"app.txt": "v2\n"})
    steps = [s for s in edited.steps if s.keyword != "FROM"]
    assert [s.cached for s in steps][:3] == [True, True, False]
    r2 = ex.check("06-a", record=edited, engine=engine)
    assert r2.passed and r2.points == 4


def test_06a_cache_busted_too_early(engine, tmp_path):
    # ENV makes this build's parent unique, so no earlier test run can feed its cache
    df = (f"FROM labkit/base\nENV RUN_ID={uuid.uuid4().hex}\nCOPY app.txt /app.txt\n"
          "RUN echo a > /a\nRUN echo b > /b\n")
    build(engine, tmp_path, df, "ex06bad", {"app.txt": "v1\n"})
    rebuilt = build(engine, tmp_path, df, "ex06bad", {"app.txt": "v2\n"})
    assert [s.cached for s in rebuilt.steps if s.keyword != "FROM"][:4] == [True, False, False, False]
    r = ex.check("06-a", record=rebuilt, engine=engine)
    assert not r.passed and any("1 step(s) came from the cache" in m for m in r.messages)
    assert any("the cache broke exactly at the COPY" in m for m in r.messages)


# ------------------------------------------------------------------ 08-a: secrets in layers

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n"


def test_08a_deleted_key_is_still_in_a_layer(engine, tmp_path, monkeypatch):
    bad = build(engine, tmp_path, "FROM labkit/base\nCOPY id_rsa /root/id_rsa\nRUN echo app > /app\n"
                "RUN rm /root/id_rsa\n", "ex08bad", {"id_rsa": KEY})
    layers = saved_layers(engine, bad.image, tmp_path)
    assert "root/id_rsa" in names_in(layers[1]) and "root/.wh.id_rsa" in names_in(layers[-1])
    r = ex.check("08-a", image="ex08bad", engine=engine)
    assert not r.passed and r.points == 1
    assert any("layer 1 holds /root/id_rsa" in m for m in r.messages)
    good = build(engine, tmp_path, "FROM labkit/base\nRUN echo app > /app\n", "ex08good")
    assert ex.check("08-a", image=good, engine=engine).passed
    # the hidden check finds the key under another name when graded
    grading_log(monkeypatch, tmp_path)
    build(engine, tmp_path, "FROM labkit/base\nCOPY deploy.pem /deploy.pem\n", "ex08renamed",
          {"deploy.pem": KEY})
    hidden = ex.check("08-a", image="ex08renamed", engine=engine)
    assert not hidden.passed and (hidden.points, hidden.max_points) == (4, 5)


# ------------------------------------------------------------------ 07-a: efficiency

def test_07a_deleted_bytes_still_count_until_cleaned_in_the_same_step(engine, tmp_path, monkeypatch):
    fat = build(engine, tmp_path, "FROM labkit/base\nRUN mkdir /app && dd if=/dev/zero of=/tmp/junk "
                "bs=1024 count=500\nRUN dd if=/dev/zero of=/app/data bs=1024 count=200\n"
                "RUN rm /tmp/junk\n", "ex07fat")
    layers = saved_layers(engine, fat.image, tmp_path)
    assert "tmp/junk" in names_in(layers[1]) and "tmp/.wh.junk" in names_in(layers[3])
    grading_log(monkeypatch, tmp_path)
    r = ex.check("07-a", image="ex07fat", engine=engine)
    assert not r.passed and (r.points, r.max_points) == (2, 5)
    assert any("efficiency 0." in m for m in r.messages)
    slim = build(engine, tmp_path, "FROM labkit/base\nRUN mkdir /app && dd if=/dev/zero of=/tmp/junk "
                 "bs=1024 count=500 && rm /tmp/junk\nRUN dd if=/dev/zero of=/app/data bs=1024 "
                 "count=200\n", "ex07slim")
    assert not any("junk" in n for layer in saved_layers(engine, slim.image, tmp_path)
                   for n in names_in(layer))
    ok = ex.check("07-a", image="ex07slim", engine=engine)
    assert ok.passed and ok.points == 5


# ------------------------------------------------------------------ API and registry

def test_unknown_exercise_and_arguments_are_clear_errors(sim_engine):
    with pytest.raises(ExerciseError, match="known exercises: 00-a.*07-a"):
        ex.check("99-z", engine=sim_engine)
    with pytest.raises(ExerciseError, match="(?s)no argument 'img'.*takes: image"):
        ex.check("00-a", img="x", engine=sim_engine)
    with pytest.raises(ExerciseError, match="at most 1"):
        ex.check("00-a", "a", "b", engine=sim_engine)


def test_missing_argument_is_a_failed_check_not_a_crash(sim_engine):
    r = ex.check("03-a", engine=sim_engine)
    assert not r.passed and "needs container=" in r.messages[0]


def test_result_renders_as_html_and_plain_text(sim_engine):
    r = ex.check("05-a", answer="<b>nope</b>", engine=sim_engine)
    page = r._repr_html_()
    assert "#cf222e" in page and "&lt;b&gt;nope&lt;/b&gt;" in page and "<b>nope</b>" not in page
    assert "Hint 1" in page
    text = str(r)
    assert text.startswith("[NOT YET] 05-a") and "hint 1:" in text
    assert repr(r) == text and " at 0x" not in text


def test_import_does_no_work_and_lessons_load_lazily():
    code = ("import sys, labkit.exercises as e; a = sorted(m for m in sys.modules if '.lesson' in m);"
            "e.get('03-a'); b = sorted(m for m in sys.modules if '.lesson' in m);"
            "ids = e.all_ids(); print(a, b, ids)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after, ids = out.strip().split("] ", 2)
    assert before == "[" and after == "['labkit.exercises.lesson03'"
    assert {"00-a", "03-a", "04-a", "04-b", "05-a", "05-b", "06-a", "07-a", "08-a"} <= set(re.findall(r"\d\d-[a-z]", ids))


def test_register_adds_an_exercise(sim_engine):
    def always(_s):
        return ex.passed("fine")
    ex.register(ex.Exercise("42-a", "custom", "nothing to do", (), (ex.Check("ok", always, 2),)))
    r = ex.check("42-a", engine=sim_engine)
    assert r.passed and r.points == 2
    with pytest.raises(ExerciseError, match="NN-x"):
        ex.register(ex.Exercise("bad", "x", "x", (), ()))


def test_check_finds_the_notebooks_engine_without_engine_argument(tmp_path):
    """Without engine=, check() uses the engine labkit.connect() last returned in the kernel."""
    script = ("import labkit\nfrom labkit.exercises import check\n"
              "engine = labkit.connect('sim', quiet=True)\n"
              "c = engine.start(engine.base_image())\nengine.exec(c, 'rm /etc/group')\n"
              "print(check('04-a', container=c).passed)\n"
              "other = labkit.connect('sim', quiet=True)\n"
              "import labkit.exercises.runner as r; r._engine.clear()\n"
              "print(check('04-a', container=c).passed)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.strip().splitlines()[:2]
    assert first == "True"
    assert second == "False"   # the newer engine has no such container: checked there, not here


def test_passing_output_is_the_same_text_on_both_engines(sim_engine, docker_engine, tmp_path):
    """nbval compares a lesson's saved output with a re-run on either engine."""
    texts = []
    for engine in (sim_engine, docker_engine):
        ex.reset_attempts()
        c = engine.start(engine.base_image())
        try:
            engine.exec(c, "dd if=/dev/zero of=/tmp/big bs=1024 count=2048 && rm /etc/group")
            rec = build(engine, tmp_path, "FROM labkit/base\nRUN echo one > /one\n"
                        "RUN echo hello > /hello.txt\n", "ex-parity")
            texts.append([str(ex.check(e, **kw, engine=engine)) for e, kw in
                          (("03-a", {"container": c}), ("04-a", {"container": c}),
                           ("00-a", {"image": rec}))])
        finally:
            engine.remove(c)
    assert all(t.startswith("[PASSED]") for t in texts[0])
    assert texts[0] == texts[1]


def test_hashed_answers_normalise_before_hashing():
    from labkit.exercises.answers import make, normalize
    digest = "ab" * 32
    assert normalize(f"  SHA256:{digest.upper()} ") == normalize(digest) == f"sha256:{digest}"
    assert normalize("3") == normalize(3) == normalize(3.0) == normalize(" 3.0 ") == "3"
    assert normalize("1,024") == "1024" and normalize("Two   Layers") == "two layers"
    h = make(3)
    assert h.matches("3.0") and not h.matches(4)
    assert make(3).digest != make(3).digest            # a fresh salt each time
