"""Lesson 08 helpers against the real systems: a key deleted by a later step stays in a lower
layer of the saved image (checked with the standard library's tarfile on the daemon's own
``docker save`` as well), a container no longer sees it, and the multi-stage fix stores it in
no layer at all."""
from __future__ import annotations

import io
import json
import re
import tarfile

import pytest
from layout import ROOT

import labkit
from labkit.lessons import lesson08 as l08
from labkit.analysis.secrets import scan

KEY_PATH = "root/.ssh/id_rsa"


def test_fake_key_is_pem_shaped_deterministic_and_found_by_the_scanner():
    key = l08.fake_private_key()
    lines = key.splitlines()
    assert lines[0] == "-----BEGIN RSA " + "PRIVATE KEY-----" and lines[-1].startswith("-----END RSA ")
    assert all(re.fullmatch(r"[A-Za-z0-9+/=]{1,64}", ln) for ln in lines[1:-1])
    assert key == l08.fake_private_key() and key != l08.fake_private_key("other")
    assert [k for k, _ in scan("id_rsa", key.encode())][0].startswith("private key")
    assert [k for k, _ in scan("deploy.txt", key.encode())] == ["private key"]


def test_no_pem_header_is_stored_in_the_lessons_files():
    header = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----")
    mine = [ROOT / "labkit" / "lessons" / "lesson08.py", ROOT / "labkit" / "lessons" / "lesson11.py",
            ROOT / "solutions" / "08.py", *sorted((ROOT / "solutions" / "11").rglob("*")),
            *sorted((ROOT / "labkit" / "data" / "examples" / "secret-key").rglob("*")),
            *sorted((ROOT / "labkit" / "data" / "examples" / "capstone-bad").rglob("*")),
            *sorted((ROOT / "notebooks").glob("*08-*")), *sorted((ROOT / "notebooks").glob("*11-*")),
            *sorted((ROOT / "notebooks" / "src").glob("08-*")),
            *sorted((ROOT / "notebooks" / "src").glob("11-*"))]
    for path in (p for p in mine if p.is_file()):
        assert not header.search(path.read_bytes()), f"{path} holds a PEM header"


def test_write_fake_key_is_private(tmp_path):
    path = l08.write_fake_key(tmp_path)
    assert path.name == "id_rsa" and path.stat().st_mode & 0o777 == 0o600
    assert path.read_text() == l08.fake_private_key()


@pytest.fixture(scope="module")
def builds(engine, tmp_path_factory):
    context = labkit.example("secret-key", tmp_path_factory.mktemp(f"l08-{engine.name}") / "ctx")
    l08.write_fake_key(context)
    leaky = engine.build(context, tag="l08-leaky", no_cache=True)
    fixed = engine.build(context, dockerfile="fixed.Dockerfile", tag="l08-fixed")
    assert leaky.ok and fixed.ok
    return context, leaky, fixed


def test_deleted_key_is_gone_for_a_container_but_stored_below(engine, builds):
    context, leaky, _ = builds
    assert l08.container_sees(engine, leaky, KEY_PATH) == "gone"
    assert engine.run(leaky.image, "cat /app/deps.txt", keep=False).output.strip() == \
        "private dependencies fetched"
    found = l08.scan_layers(engine, leaky)
    assert [(c.layer, c.path) for c in found.copies] == [(2, KEY_PATH)]
    assert found.deletions == ((4, KEY_PATH),)
    assert [(f.path, f.added_by, f.removed_by) for f in found.findings] == [(KEY_PATH, 2, 4)]
    assert not found.clean
    rec = l08.recover(engine, leaky, "/" + KEY_PATH)
    assert rec.layer == 2 and rec.same_as(context / "id_rsa")
    body = (context / "id_rsa").read_text().splitlines()[1:-1]
    for text in (str(found), str(rec), repr(rec)):
        assert not any(line in text for line in body), "a key line leaked into printed output"


def test_fixed_image_stores_no_key_in_any_layer(engine, builds):
    _, _, fixed = builds
    found = l08.scan_layers(engine, fixed)
    assert found.clean and not found.deletions and found.layers == 4
    assert engine.run(fixed.image, "sh /app/app.sh", keep=False).output.split("\n")[1] == \
        "private dependencies fetched"
    with pytest.raises(labkit.LabkitError, match="no layer"):
        l08.recover(engine, fixed, KEY_PATH)


def _daemon_layers(docker_client, tag: str) -> list[dict[str, bytes | None]]:
    """docker save by the daemon, read with tarfile only: path -> data (None for non-files)."""
    blob = b"".join(docker_client.images.get(tag).save())
    outer = tarfile.open(fileobj=io.BytesIO(blob))
    manifest = json.load(outer.extractfile("manifest.json"))[0]
    layers = []
    for name in manifest["Layers"]:
        inner = tarfile.open(fileobj=io.BytesIO(outer.extractfile(name).read()))
        layers.append({m.name.lstrip("./"): (inner.extractfile(m).read() if m.isfile() else None)
                       for m in inner})
    return layers


def test_the_daemons_own_save_agrees(docker_engine, docker_client, tmp_path):
    context = labkit.example("secret-key", tmp_path / "ctx")
    key = l08.write_fake_key(context).read_bytes()
    leaky = docker_engine.build(context, tag="l08-daemon-leaky")
    fixed = docker_engine.build(context, dockerfile="fixed.Dockerfile", tag="l08-daemon-fixed")
    leaky_layers = _daemon_layers(docker_client, leaky.image.tags[0])
    holders = [i for i, la in enumerate(leaky_layers) if la.get(KEY_PATH) == key]
    assert holders == [2]
    assert [i for i, la in enumerate(leaky_layers) if "root/.ssh/.wh.id_rsa" in la] == [4]
    fixed_layers = _daemon_layers(docker_client, fixed.image.tags[0])
    assert not any(p.rsplit("/", 1)[-1] in ("id_rsa", ".wh.id_rsa") for la in fixed_layers for p in la)
    assert not any(data and b"PRIVATE" + b" KEY" in data for la in fixed_layers for data in la.values())
