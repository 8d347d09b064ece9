"""``formatting.human_size`` against what the real ``docker history`` and ``docker images``
print: tiny FROM scratch images whose layers hold files of known sizes, and labkit's base
image. The byte counts come from the daemon's API, the strings from the docker CLI."""
from __future__ import annotations

import re
import shutil
import subprocess
import uuid

import pytest
from requirekit import skip_unless_required

from labkit.formatting import format_history, human_size, short_instruction
from labkit.values import LABEL, instruction_of

# one layer per file: edges of each unit and of three-digit rounding
SIZES = (0, 1, 999, 1000, 1001, 1234, 1995, 1996, 99_949, 99_950, 999_499, 999_500, 999_999,
         1_000_000, 1_234_567, 12_345_678)
_UNIT = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
_PRINTED = re.compile(r"^([0-9.e+]+)(B|kB|MB|GB|TB)$")


def _value(text: str) -> float:
    m = _PRINTED.match(text)
    assert m, text
    return float(m.group(1)) * _UNIT[m.group(2)]


def _cli(*args: str) -> list[str]:
    if not shutil.which("docker"):
        skip_unless_required("LABKIT_REQUIRE_DOCKER", "the docker CLI is not installed")
    return subprocess.run(["docker", *args], check=True, capture_output=True,
                          text=True).stdout.splitlines()


def _same_as_docker(ours: str, printed: str) -> None:
    """Equal text, except where Docker prints Go's exponent form (1e+03kB): then the same
    number, which labkit writes without an exponent."""
    if "e+" in printed:
        assert "e+" not in ours and _value(ours) == _value(printed), (ours, printed)
    else:
        assert ours == printed


@pytest.fixture(scope="module")
def sized_image(docker_client, tmp_path_factory):
    ctx = tmp_path_factory.mktemp("sized")
    lines = ["FROM scratch"]
    for n in SIZES:
        (ctx / f"f{n}").write_bytes(b"\0" * n)
        lines.append(f"COPY f{n} /f{n}")
    (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
    tag = f"labkit-fmt-test:{uuid.uuid4().hex[:8]}"
    for _ in docker_client.api.build(path=str(ctx), tag=tag, rm=True, forcerm=True, decode=True,
                                     network_mode="none", labels={LABEL: "true"}):
        pass
    image_id = docker_client.api.inspect_image(tag)["Id"]
    yield image_id
    docker_client.api.remove_image(image_id, force=True)


def test_history_sizes_are_printed_as_docker_prints_them(docker_client, sized_image):
    rows = docker_client.api.history(sized_image)                   # newest first, raw bytes
    printed = _cli("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", sized_image)
    assert len(printed) == len(rows)
    seen = {}
    for row, line in zip(rows, printed):
        text, created_by = line.split("\t", 1)
        m = re.search(r" in /f(\d+)\s*$", created_by)
        if m:                                                      # a COPY layer: one known file
            assert int(row["Size"]) == int(m.group(1))
            seen[int(m.group(1))] = text
        _same_as_docker(human_size(int(row["Size"])), text)
    assert sorted(seen) == sorted(SIZES)
    assert "e+" in seen[999_999]               # Docker's own form here (see human_size's docstring)
    assert human_size(999_999) == "1MB"


def test_image_size_is_printed_as_docker_images_prints_it(docker_client, sized_image):
    total = int(docker_client.api.inspect_image(sized_image)["Size"])
    assert total == sum(SIZES)
    rows = [line.split("\t") for line in _cli("images", "--no-trunc", "--format", "{{.ID}}\t{{.Size}}",
                                              "--filter", "reference=labkit-fmt-test")]
    (text,) = [size for image_id, size in rows if image_id == sized_image]
    _same_as_docker(human_size(total), text)


def test_the_base_image_history_size(docker_engine, docker_client):
    base = docker_engine.base_image()
    rows = docker_client.api.history(base.id)
    printed = _cli("history", "--format", "{{.Size}}", base.id)
    assert [human_size(int(r["Size"])) for r in rows] == printed
    assert any(int(r["Size"]) > 1_000_000 for r in rows)          # the busybox layer, in MB


def test_units_and_edges():
    assert [human_size(n) for n in (0, 999, 1000, 1_500_000, 2 * 10**9, 3 * 10**12, 4 * 10**15)] == \
        ["0B", "999B", "1kB", "1.5MB", "2GB", "3TB", "4PB"]
    assert human_size(-1) == "?"
    from labkit.ui import viz
    assert viz.human_size is human_size                    # one function, imported by viz


def test_every_view_names_a_step_by_the_line_the_learner_wrote(engine, tmp_path):
    """``instruction_of`` (and the views built on it: history, findings, diagrams) turns what
    the engine records — ``#(nop)`` metadata, ``|N ARG=v`` build-arg prefixes on RUN — back
    into the Dockerfile line, on both engines."""
    lines = ["ARG V=2", "ENV W=3", "RUN echo $V > /v", "COPY note.txt /note.txt"]
    (tmp_path / "note.txt").write_text("n\n")
    (tmp_path / "Dockerfile").write_text(f"FROM {engine.base_image().tags[0]}\n" + "\n".join(lines) + "\n")
    record = engine.build(tmp_path)
    made = {}
    for h in engine.history(record.image):
        made.setdefault(instruction_of(h.created_by).split()[0], instruction_of(h.created_by))
    assert made["ARG"] == "ARG V=2" and made["ENV"] == "ENV W=3" and made["RUN"] == "RUN echo $V > /v"
    assert made["COPY"].startswith("COPY file:") and made["COPY"].endswith(" in /note.txt")
    run = next(h for h in engine.history(record.image) if h.created_by.startswith("|1 V=2 "))
    assert short_instruction(run.created_by, 12) == "RUN echo $V\u2026"
    assert format_history(engine.history(record.image)).count("RUN echo $V > /v") == 1
