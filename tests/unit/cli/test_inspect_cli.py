"""``labkit inspect`` and ``labkit compare`` from the command line."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from tarkit import make_layer

from labkit.cli import main
from labkit.values import LABEL
from labkit.oci.write import write_image_tar

LAYERS = [make_layer(("d", "etc"), ("f", "etc/conf", bytes(1000)), ("f", "etc/other", bytes(500))),
          make_layer(("d", "etc"), ("f", "etc/conf", bytes(1000))),
          make_layer(("d", "etc"), ("w", "etc/other"))]
CONFIG = {"config": {"Labels": {LABEL: "true"}},
          "history": [{"created_by": "COPY etc /etc"}, {"created_by": "RUN touch /etc/conf"},
                      {"created_by": "RUN rm /etc/other"}]}


@pytest.fixture
def tar(tmp_path: Path) -> Path:
    write_image_tar(LAYERS, CONFIG, tmp_path / "img.tar", repo_tags=["cli-demo:1"])
    return tmp_path / "img.tar"


def test_inspect_text(tar: Path, capsys) -> None:
    assert main(["inspect", str(tar)]) == 0
    out = capsys.readouterr().out
    assert "cli-demo:1" in out and "efficiency" in out
    assert "RUN rm /etc/other" in out
    assert "/etc/other: 500B added by layer 0 (COPY etc /etc), deleted by layer 2 (RUN rm /etc/other)" in out


def test_inspect_json(tar: Path, capsys) -> None:
    assert main(["inspect", str(tar), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    # efficiency by hand: conf 1000+1000 (min 1000), other 500 + whiteout 0 (min 0)
    assert d["dive"]["efficiency"] == 1000 / 2500
    assert d["dive"]["wastedBytes"] == 2500
    assert d["labkit"]["reclaimable_bytes"] == 1500
    assert [la["size"] for la in d["layers"]] == [1500, 1000, 0]
    assert d["layers"][2]["deleted"] == ["etc/other"]


def test_inspect_ci_names_the_failed_rule(tar: Path, tmp_path: Path, capsys) -> None:
    rules = tmp_path / ".dive-ci"
    rules.write_text("rules:\n  lowestEfficiency: 0.5\n  highestWastedBytes: disabled\n"
                     "  highestUserWastedPercent: off\n")
    assert main(["inspect", str(tar), "--ci", "--ci-config", str(rules)]) == 1
    captured = capsys.readouterr()
    assert "lowestEfficiency" in captured.err and "FAIL: lowestEfficiency" in captured.out
    rules.write_text("rules:\n  lowestEfficiency: 0.3\n  highestWastedBytes: 3KB\n"
                     "  highestUserWastedPercent: disabled\n")
    assert main(["inspect", str(tar), "--ci", "--ci-config", str(rules), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ci"]["pass"] is True


def test_inspect_html_report(tar: Path, tmp_path: Path, capsys) -> None:
    assert main(["inspect", str(tar), "--html", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert page.startswith("<!doctype html>") and "<table" in page and "cli-demo:1" in page


def test_inspect_errors_are_one_clear_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(make_layer(("f", "x", b"not an image")))
    assert main(["inspect", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("labkit inspect: error: ") and "not a saved image" in err


def test_inspect_a_missing_name_on_the_simulator(monkeypatch, capsys) -> None:
    monkeypatch.setenv("LABKIT_ENGINE", "sim")
    assert main(["inspect", "no-such-image-anywhere:1"]) == 1
    assert "no-such-image-anywhere:1" in capsys.readouterr().err


@pytest.mark.docker
def test_inspect_an_image_by_name_from_docker(docker_client, tar: Path, monkeypatch) -> None:
    tag = f"labkit-test-cli:{uuid.uuid4().hex[:8]}"
    config = json.loads(json.dumps(CONFIG))
    config["config"]["Labels"]["org.labkit.test"] = tag
    dest = tar.parent / "named.tar"
    ref = write_image_tar(LAYERS, config, dest, repo_tags=[tag])
    docker_client.images.load(dest.read_bytes())
    try:
        monkeypatch.setenv("LABKIT_ENGINE", "docker")
        r = subprocess.run([sys.executable, "-m", "labkit", "inspect", tag, "--json"], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        d = json.loads(r.stdout)
        assert d["image"]["id"] == ref.id
        assert d["labkit"]["reclaimable_bytes"] == 1500
    finally:
        docker_client.images.remove(ref.id, force=True)


def test_compare_cli(tmp_path: Path, tar: Path, capsys) -> None:
    other = tmp_path / "other.tar"
    write_image_tar(LAYERS[:1], {"config": {"Labels": {LABEL: "true"}}}, other)
    assert main(["compare", str(other), str(tar), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["shared_chain_layers"] == 1 and d["pull_b_with_a_present"]["layers"] == [1, 2]
    assert {(c["kind"], c["path"]) for c in d["changes"]} == {("D", "/etc/other")}
    assert main(["compare", str(other), str(tar)]) == 0
    assert "fetches 2 layers" in capsys.readouterr().out


def test_inspect_of_a_changed_image_prints_no_result(tar: Path, capsys) -> None:
    import tarfile
    with tarfile.open(tar) as tf:
        name = json.loads(tf.extractfile("manifest.json").read())[0]["Layers"][2]
        off = tf.getmember(name).offset_data
    with open(tar, "r+b") as f:       # the whiteout's header name: .wh.other -> .wh.otheR
        data = bytearray(f.read())
        i = data.index(b".wh.other", off)
        f.seek(i + 8)
        f.write(b"R")
    assert main(["inspect", str(tar), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "layer 2 digest mismatch: expected sha256:" in captured.err


def test_the_ci_environment_variable_does_not_turn_on_the_gate(tmp_path):
    """CI systems export CI=true everywhere; only --ci evaluates dive's rules."""
    import os
    import subprocess
    import sys

    from labkit.fs.node import Node
    from labkit.oci.tar.writer import layer_bytes
    from labkit.oci.write import write_image_tar
    big = Node.file(b"x" * 50_000)
    layers = [layer_bytes({"blob": big}), layer_bytes({"blob": Node.whiteout()})]
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
              "history": [{"created_by": "a"}, {"created_by": "b"}]}
    tar = tmp_path / "wasteful.tar"
    write_image_tar(layers, config, tar)
    env = {**os.environ, "CI": "true"}
    plain = subprocess.run([sys.executable, "-m", "labkit", "inspect", str(tar)], env=env,
                           capture_output=True, text=True, cwd=tmp_path, timeout=120)
    gated = subprocess.run([sys.executable, "-m", "labkit", "inspect", str(tar), "--ci"], env=env,
                           capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert plain.returncode == 0, plain.stderr
    assert gated.returncode == 1 and "lowestEfficiency" in gated.stdout + gated.stderr
