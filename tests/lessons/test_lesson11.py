"""Lesson 11 helpers against the real systems: the capstone context, source-only edits, and the
scorecard's numbers checked against the saved image read with the standard library's tarfile
and against the daemon's own history."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

import labkit
from labkit.lessons import lesson11 as l11
from labkit.lessons.lesson08 import fake_private_key

EXAMPLE = Path(labkit.__file__).resolve().parent / "data" / "examples" / "capstone-bad"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_capstone_context_gets_a_fake_key_the_example_never_ships(tmp_path):
    context = l11.capstone_context(tmp_path / "c")
    assert not (EXAMPLE / "id_rsa").exists()
    assert (context / "id_rsa").read_text() == fake_private_key("labkit-capstone")
    assert fake_private_key("labkit-capstone") != fake_private_key()
    assert {k: v for k, v in _files(context).items() if k != "id_rsa"} == _files(EXAMPLE)


def test_edit_source_changes_only_version_sh_and_never_repeats(tmp_path):
    context = l11.capstone_context(tmp_path / "c")
    before = _files(context)
    seen = {before["src/version.sh"]}
    for _ in range(3):
        path = l11.edit_source(context)
        after = _files(context)
        assert path == context / "src" / "version.sh"
        assert [k for k in after if after[k] != before[k]] == ["src/version.sh"]
        assert after["src/version.sh"] not in seen
        seen.add(after["src/version.sh"])
        before = after


def test_start_dockerfile_copies_once_and_keeps_edits(tmp_path):
    context = l11.capstone_context(tmp_path / "c")
    mine = l11.start_dockerfile(context)
    assert mine.read_text() == (context / "Dockerfile").read_text()
    mine.write_text("FROM labkit/base\n")
    assert l11.start_dockerfile(context).read_text() == "FROM labkit/base\n"


def _saved_layers(engine, ref, dest: Path) -> list[list[tarfile.TarInfo]]:
    """The saved image's layer tars, read with tarfile only (bottom first)."""
    outer = tarfile.open(engine.save(ref, dest))
    manifest = json.load(outer.extractfile("manifest.json"))[0]
    return [list(tarfile.open(fileobj=io.BytesIO(outer.extractfile(n).read()))) for n in manifest["Layers"]]


@pytest.fixture(scope="module")
def bad(engine, tmp_path_factory):
    context = l11.capstone_context(tmp_path_factory.mktemp(f"l11-{engine.name}") / "c")
    record = engine.build(context, tag="l11-bad")
    assert record.ok
    return record


def test_scorecard_measures_the_bad_image(engine, bad, tmp_path):
    layers = _saved_layers(engine, bad.image, tmp_path / "bad.tar")
    file_bytes = [sum(m.size for m in la if m.isreg()) for la in layers]
    card = l11.scorecard(engine, {"bad": bad})
    row = card.rows[0]
    assert row.layers == len(layers) == 8
    assert row.above_base == sum(file_bytes[1:])
    assert l11.size_limit(engine, bad) == int(sum(file_bytes[1:]) * 0.25)
    # the temporary bundle: stored in one layer, whited out in a later one
    bundle = [i for i, la in enumerate(layers) for m in la if m.name.endswith("opt/deps/bundle.tar")]
    gone = [i for i, la in enumerate(layers) for m in la if m.name.endswith("opt/deps/.wh.bundle.tar")]
    assert len(bundle) == 1 and len(gone) == 1 and gone[0] > bundle[0]
    assert row.efficiency < 0.95 and row.wasted >= 600 * 1024
    keys = [i for i, la in enumerate(layers) for m in la if m.isreg() and m.name.split("/")[-1] == "id_rsa"]
    assert len(row.secrets) == len(keys) == 2
    assert all("private key" in s and "deleted by layer" in s for s in row.secrets)
    assert "bad" in str(card) and f"{row.above_base:,} B" in str(card)
    assert card.ratio("bad", "bad") == 1.0
    with pytest.raises(labkit.LabkitError, match="no row"):
        card.ratio("yours", "bad")


def test_the_daemons_history_agrees_with_the_size_check(docker_engine, docker_client, tmp_path):
    from labkit.exercises.lesson11 import added_bytes
    context = l11.capstone_context(tmp_path / "c")
    record = docker_engine.build(context, tag="l11-daemon-bad")
    rows = [h for h in docker_client.api.history(record.image.id) if h["Size"] > 0]
    sizes = sorted(h["Size"] for h in rows)
    assert added_bytes(docker_engine, record.image) == sum(sizes) - max(sizes)   # the base is the biggest
    assert 600 * 1024 in sizes          # the deleted bundle still counts in its layer
