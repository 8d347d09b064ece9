"""Lesson 01 helpers against the real systems.

* ``path_history`` is checked against the kernel's overlayfs: the layers of a saved image are
  written to disk and stacked with ``mount -t overlay`` one more layer at a time; what the
  kernel shows at each height (present, absent, other content) must give the same events.
* ``count_steps`` and ``layer_table`` are checked against what the Docker daemon itself
  reports (``docker inspect`` RootFS layers, ``docker history``).
Expected numbers for the lesson's example come from reading its Dockerfile, not from labkit.
"""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

import labkit
from labkit.errors import LabkitError
from labkit.exercises.materials import material
from labkit.lessons.lesson01 import (PathEvent, count_steps, format_path_history, format_recorded,
                                     layer_table, path_history)
from labkit.fs.realfs import write_dir

# layers01/Dockerfile: FROM labkit/base (1 layer, 2 history steps) + 7 steps, of which
# 3 (RUN, COPY, RUN) make a layer; labkit appends 2 LABEL steps.
EXAMPLE_LAYERS = 1 + 3
EXAMPLE_STEPS = 2 + 7 + 2


@pytest.fixture(scope="module")
def built(engine):
    return engine.build(labkit.example("layers01"), tag="lesson01-test")


@pytest.fixture(scope="module")
def saved(engine, built, tmp_path_factory):
    path = engine.save(built.image, tmp_path_factory.mktemp("l01") / "layers01.tar")
    with labkit.open_image(path) as image:
        yield image


def _kernel_view(layer_dirs: list[Path], empty: Path, mnt: Path, path: str):
    """(exists, what it is: mode and content, or mode, mtime and listing) of ``path`` in a read-only overlay of layer_dirs."""
    lowers = ":".join(str(d) for d in reversed(layer_dirs)) + f":{empty}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lowers}", str(mnt)],
                   check=True, capture_output=True)
    try:
        target = mnt / path.lstrip("/")
        if not (target.exists() or target.is_symlink()):
            return False, None
        st = target.lstat()
        if target.is_dir():   # a directory changes when its entries or its metadata do
            return True, (st.st_mode, st.st_mtime_ns, tuple(sorted(p.name for p in target.iterdir())))
        return True, (st.st_mode, hashlib.sha256(target.read_bytes()).hexdigest())
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def _kernel_events(image, path: str, tmp: Path) -> list[tuple[int, str]]:
    dirs = []
    for i in range(len(image.layers)):
        d = tmp / f"layer{i}"
        d.mkdir()
        write_dir(image.layer_dir(i, with_data=True), d)
        dirs.append(d)
    empty, mnt = tmp / "empty", tmp / "mnt"
    empty.mkdir()
    mnt.mkdir()
    events, before = [], (False, None)
    for k in range(len(dirs)):
        now = _kernel_view(dirs[: k + 1], empty, mnt, path)
        if not before[0] and now[0]:
            events.append((k, "added"))
        elif before[0] and not now[0]:
            events.append((k, "deleted"))
        elif now[0] and now[1] != before[1]:
            events.append((k, "changed"))
        before = now
    return events


HUNT_PATHS = ["/etc/app.conf", "/srv/data/cache.bin", "/srv/data", "/opt/app/app.conf",
              "/etc/hostname", "/etc/app.conf.bak", "/not/there"]


@pytest.mark.parametrize("path", HUNT_PATHS)
def test_path_history_matches_the_kernel_on_the_hunt_image(kernel_overlay, tmp_path, path):
    with labkit.open_image(material("01-b", tmp_path / "m")) as image:
        ours = [(e.layer, e.action) for e in path_history(image, path)]
        assert ours == _kernel_events(image, path, tmp_path)


def test_path_history_of_the_hunt_by_hand(tmp_path):
    # written while reading make_hunt's layers: app.conf added in 1, rewritten in 3;
    # cache.bin added in 2 and deleted in 4 by a whiteout of its parent directory
    with labkit.open_image(material("01-b", tmp_path)) as image:
        assert [(e.layer, e.action) for e in path_history(image, "etc/app.conf")] == [(1, "added"), (3, "changed")]
        assert [(e.layer, e.action) for e in path_history(image, "/srv/data/cache.bin")] == [(2, "added"), (4, "deleted")]
        assert path_history(image, "/nope") == ()
        first = path_history(image, "/etc/app.conf")[0]
        assert first.instruction == "COPY app.conf /etc/app.conf"
        assert str(first).startswith("layer 1: added")
        with pytest.raises(LabkitError, match="root directory"):
            path_history(image, "/")


@pytest.mark.parametrize("path", ["/app/version.txt", "/app/notes.txt", "/app"])
def test_path_history_matches_the_kernel_on_an_engine_build(kernel_overlay, saved, tmp_path, path):
    ours = [(e.layer, e.action) for e in path_history(saved, path)]
    assert ours == _kernel_events(saved, path, tmp_path)


def test_the_example_as_the_dockerfile_says(engine, built, saved):
    steps = count_steps(engine.history(built.image))
    assert (steps.steps, steps.layers, steps.config_only) == (EXAMPLE_STEPS, EXAMPLE_LAYERS,
                                                             EXAMPLE_STEPS - EXAMPLE_LAYERS)
    assert str(steps) == f"{EXAMPLE_STEPS} steps: {EXAMPLE_LAYERS} made a layer, " \
                         f"{EXAMPLE_STEPS - EXAMPLE_LAYERS} changed only the config"
    notes = path_history(saved, "/app/notes.txt")
    assert [(e.layer, e.action) for e in notes] == [(2, "added"), (3, "deleted")]
    assert notes[0].instruction.startswith("COPY ") and notes[1].instruction.startswith("RUN echo")
    # what a container of the image really sees agrees with the last event
    assert engine.run(built.image, "test -e /app/notes.txt", keep=False).exit_code != 0
    assert engine.run(built.image, "cat /app/version.txt", keep=False).output.strip() == "version 2"
    text = format_path_history("/app/notes.txt", notes)
    assert text.splitlines()[0] == "/app/notes.txt:" and "deleted" in text.splitlines()[2]
    assert format_path_history("nope", ()) == "/nope: no layer touches it"


def test_counts_and_table_match_the_daemon(docker_client, docker_engine, tmp_path):
    record = docker_engine.build(labkit.example("layers01"), tag="lesson01-daemon")
    info = docker_client.api.inspect_image(record.image.id)
    daemon_history = docker_client.api.history(record.image.id)
    steps = count_steps(docker_engine.history(record.image))
    assert steps.layers == len(info["RootFS"]["Layers"])
    assert steps.steps == len(daemon_history)
    with labkit.open_image(docker_engine.save(record.image, tmp_path / "i.tar")) as image:
        rows = layer_table(image).splitlines()[1:]
    assert len(rows) == len(info["RootFS"]["Layers"])
    # each row names the daemon's diffID and the daemon's own size and instruction for it
    layer_rows = [h for h in reversed(daemon_history)
                  if not h["CreatedBy"].startswith("/bin/sh -c #(nop) ") or " COPY " in h["CreatedBy"]]
    layer_rows = [h for h in layer_rows if h["CreatedBy"] != 'CMD ["sh"]']
    for row, diff_id, h in zip(rows, info["RootFS"]["Layers"], layer_rows):
        assert diff_id[:19] in row
        assert f"{h['Size']:,} B" in row
        assert row.endswith(labkit.instruction_of(h["CreatedBy"]))


def test_format_recorded_shows_both_forms(saved):
    lines = format_recorded(saved.history).splitlines()
    assert len(lines) == 2 * len(saved.history)
    assert ' 1  recorded:    /bin/sh -c mkdir -p /app && echo "version 1" > /app/version.txt' in lines
    assert "    instruction: RUN mkdir -p /app && echo \"version 1\" > /app/version.txt" in lines
    assert "    instruction: ENV APP_HOME=/app" in lines
    assert all(line == line.rstrip() for line in lines)
    assert isinstance(path_history(saved, "/app")[0], PathEvent)
