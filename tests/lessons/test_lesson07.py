"""labkit.lessons.lesson07 on BOTH engines: per-stage images, sizes, dive's score, the CI gate
(checked against the ``labkit inspect --ci`` command) and squash.

Expected sizes come from the saved image read with tarfile only (regular files per layer).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import labkit
from labkit.lessons.lesson07 import (analyze_image, build_stages, ci_gate, image_size, size_table,
                                     stage_text)

TOOLCHAIN = 400 * 1024                     # dd bs=1024 count=400 in the slim-app example


def files_per_layer(engine, image, dest: Path, *, links: bool = False) -> list[dict[str, int]]:
    """Each layer's regular files (path -> size), bottom first; with ``links``, symlinks too
    (size = length of the target, as Docker counts a layer's size)."""
    engine.save(image, dest)
    out = []
    with tarfile.open(dest) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        for name in manifest[0]["Layers"]:
            with tarfile.open(fileobj=tar.extractfile(name)) as layer:
                out.append({m.name.lstrip("./"): m.size if m.isfile() else len(m.linkname)
                            for m in layer.getmembers() if m.isfile() or (links and m.issym())})
    return out


def test_stage_text_cuts_before_the_next_from():
    text = "ARG V=1\nFROM labkit/base AS build\nRUN a\n\n# next\nFROM labkit/base\nCOPY --from=build /a /a\n"
    assert stage_text(text, 0) == "ARG V=1\nFROM labkit/base AS build\nRUN a\n\n# next\n"
    assert stage_text(text, 1) == text


def test_each_stage_is_an_image_of_its_own(engine, tmp_path):
    context = labkit.example("slim-app", tmp_path / "slim-app")
    before = sorted(p.name for p in context.iterdir())
    stages = build_stages(engine, context, tag="t07-stage")
    assert sorted(p.name for p in context.iterdir()) == before          # cut files removed
    assert [s.stage for s in stages] == ["build", "1"]
    build_layers = files_per_layer(engine, stages[0].record.image, tmp_path / "b.tar")
    final_layers = files_per_layer(engine, stages[1].record.image, tmp_path / "f.tar")
    assert build_layers[1]["toolchain/cc"] == TOOLCHAIN
    assert list(final_layers[1]) == ["usr/local/bin/app"]
    for s, layers in zip(stages, [build_layers, final_layers]):
        assert s.size.layers == len(layers)
        assert s.size.above_base == sum(sum(la.values()) for la in layers[1:])
    base = files_per_layer(engine, stages[0].record.image, tmp_path / "l.tar", links=True)[0]
    assert stages[0].size.base == stages[1].size.base == sum(base.values())


def test_ci_gate_says_what_labkit_inspect_ci_says(engine, tmp_path):
    context = labkit.example("slim-app", tmp_path / "slim-app")
    cleanup = engine.build(context, dockerfile="cleanup.Dockerfile", tag="t07-cleanup")
    multi = engine.build(context, tag="t07-multi")
    src_bytes = sum(p.stat().st_size for p in (context / "src").iterdir())
    for record, ok in [(cleanup, False), (multi, True)]:
        analysis = analyze_image(engine, record.image)
        gate = ci_gate(analysis, context / ".dive-ci")
        assert gate.passed is ok
        assert analysis.dive.wasted_bytes == (0 if ok else TOOLCHAIN + src_bytes)
        tar = tmp_path / f"{record.image.short_id}.tar"
        engine.save(record.image, tar)
        cli = subprocess.run([sys.executable, "-m", "labkit", "inspect", str(tar), "--ci",
                              "--ci-config", str(context / ".dive-ci"), "--no-secrets"],
                             capture_output=True, text=True, timeout=120)
        assert cli.returncode == (0 if ok else 1), cli.stderr
        assert ("Result: PASS" if ok else "Result: FAIL") in cli.stdout and ("Result: PASS" if ok else "Result: FAIL") in str(gate)
    lenient = ci_gate(analyze_image(engine, cleanup.image), "rules:\n  lowestEfficiency: 0.5\n"
                      "  highestWastedBytes: 1MB\n  highestUserWastedPercent: disabled\n")
    assert lenient.passed and [r.status for r in lenient.results] == ["PASS", "PASS", "SKIP"]


def test_squash_keeps_the_base_and_drops_deleted_bytes(engine, tmp_path):
    context = labkit.example("slim-app", tmp_path / "slim-app")
    plain = engine.build(context, dockerfile="cleanup.Dockerfile", tag="t07-plain")
    squashed = engine.build(context, dockerfile="cleanup.Dockerfile", tag="t07-squashed", squash=True)
    assert squashed.ok
    plain_layers = files_per_layer(engine, plain.image, tmp_path / "p.tar")
    layers = files_per_layer(engine, squashed.image, tmp_path / "s.tar")
    assert len(plain_layers) == 5 and len(layers) == 2
    assert layers[0] == plain_layers[0]                                   # the base layer is kept
    assert list(layers[1]) == ["out/app"]
    table = size_table(engine, {"plain": plain, "squashed": squashed})
    assert [r.above_base for r in table.rows] == [sum(sum(la.values()) for la in plain_layers[1:]),
                                                   layers[1]["out/app"]]
    assert table.as_mapping()["squashed"] == image_size(engine, squashed.image).total
    assert "squashed" in str(table) and "<svg" in table.chart().svg
    assert engine.run(squashed.image, "/out/app", keep=False).output == "hello from the slim app\n"
