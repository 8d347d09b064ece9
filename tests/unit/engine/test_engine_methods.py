"""The Engine methods the registry and storage modules use (ref, diff_ids, load, push, pull,
layer_storage), on the simulator and on the real daemon: each result is checked against what
the engine's own ``docker save`` tar holds, against Docker's words for a push/pull to Debian's
real docker-registry, and against the daemon's real layer directories."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from requirekit import skip_unless_required

import labkit
from labkit.engine import session
from labkit.errors import BuildError, EngineError, EngineUnavailable, UnsupportedOperation
from labkit.daemon.registry import RealRegistry, Registry, open_registry


def _committed(engine, text: str, tag: str):
    """base + one layer holding /app/version (unique text: no other image shares the layer)."""
    c = engine.start(engine.base_image())
    try:
        assert engine.exec(c, f"mkdir -p /app && echo {text} > /app/version").exit_code == 0
        return engine.commit(c, tag=tag)
    finally:
        engine.remove(c)


def _saved_diff_ids(engine, ref, path) -> tuple[str, ...]:
    """sha256 of each uncompressed layer tar in the engine's own save, bottom first."""
    with labkit.open_image(engine.save(ref, path), verify=False) as img:
        out = []
        for i in range(len(img.layers)):
            h = hashlib.sha256()
            with img.open_layer(i) as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            out.append("sha256:" + h.hexdigest())
        return tuple(out)


def _require_registry(engine):
    if engine.name == "docker" and not RealRegistry.available():
        skip_unless_required("LABKIT_REQUIRE_DOCKER", "docker-registry is not installed "
                             "(apt-get install docker-registry)")


def test_ref_and_diff_ids_match_the_saved_layers(engine, tmp_path):
    ref = _committed(engine, tmp_path.name, "meth-ref")
    tag = session.qualify("meth-ref")
    by_tag = engine.ref(tag)
    assert by_tag.id == ref.id and tag in by_tag.tags and by_tag.engine == engine.name
    assert engine.ref(ref.short_id).id == ref.id           # a short id finds it too
    assert engine.ref(ref).tags == by_tag.tags
    diff_ids = engine.diff_ids(ref)
    assert isinstance(diff_ids, tuple) and len(diff_ids) == 2
    assert diff_ids == _saved_diff_ids(engine, ref, tmp_path / "img.tar")
    assert diff_ids[0] == engine.diff_ids(engine.base_image())[0]
    with pytest.raises(EngineError):
        engine.ref("sha256:" + "0" * 64)


def test_load_brings_a_removed_image_back_unchanged(engine, tmp_path):
    ref = _committed(engine, tmp_path.name, "meth-load")
    saved = engine.save(ref, tmp_path / "img.tar")
    with labkit.open_image(saved, verify=False) as img:
        names = set(img.ref.tags)          # Docker's save by id records no names; the sim's does
    diff_ids = engine.diff_ids(ref)
    engine.remove(ref)
    assert ref.id not in {i.id for i in engine.images()}
    loaded = engine.load(saved)
    assert [r.id for r in loaded] == [ref.id]               # the config (so the id) is unchanged
    assert set(loaded[0].tags) == names
    assert engine.diff_ids(loaded[0]) == diff_ids
    assert engine.run(loaded[0], "cat /app/version", keep=False).output == f"{tmp_path.name}\n"


def test_push_then_pull_say_what_docker_says(engine, tmp_path):
    _require_registry(engine)
    ref = _committed(engine, tmp_path.name, "meth-push")
    name = session.qualify("meth-push:v1")
    with open_registry(engine) as registry:
        first = engine.push(ref, registry, name)
        assert first.image.id == ref.id
        assert first.statuses == ("Pushed", "Pushed")
        again = engine.push(ref, registry, name)
        assert again.statuses == ("Layer already exists",) * 2
        assert registry.config(name)["rootfs"]["diff_ids"] == list(engine.diff_ids(ref))
        engine.remove(ref)
        pulled = engine.pull(registry, name)
    assert pulled.image.id == ref.id                         # same config, same id
    assert pulled.statuses == ("Already exists", "Pull complete")   # the base layer is here
    assert name in pulled.image.tags
    assert not any(t.startswith("127.0.0.1") for t in engine.ref(pulled.image).tags)
    assert engine.run(pulled.image, "cat /app/version", keep=False).output == f"{tmp_path.name}\n"


def test_each_engine_refuses_the_other_registry_kind(engine):
    base = engine.base_image()
    other = RealRegistry() if engine.name == "sim" else Registry()
    with pytest.raises(EngineError, match="registry"):
        engine.push(base, other, session.qualify("meth-wrong:v1"))
    with pytest.raises(EngineError, match="registry"):
        engine.pull(other, session.qualify("meth-wrong:v1"))


def test_layer_storage_names_the_daemons_real_layer_dirs(engine, request, tmp_path):
    ref = _committed(engine, tmp_path.name, "meth-store")
    if engine.name == "sim":
        with pytest.raises(UnsupportedOperation, match="Docker engine"):
            engine.layer_storage(ref)
        return
    where = engine.layer_storage(ref)
    assert where.driver == request.getfixturevalue("docker_client").info()["Driver"]
    if where.driver != "overlay2":
        skip_unless_required("LABKIT_REQUIRE_DOCKER", f"the daemon uses {where.driver}, not overlay2")
    assert len(where.dirs) == len(engine.diff_ids(ref)) == 2
    if os.geteuid() != 0:
        skip_unless_required("LABKIT_REQUIRE_DOCKER", "reading the daemon's layer directories needs root")
    top, bottom = where.dirs[-1], where.dirs[0]
    assert (top / "app" / "version").read_text() == f"{tmp_path.name}\n"
    assert not (top / "bin").exists()                        # the top layer holds only its diff
    from labkit.engine.baseimage import find_busybox
    busybox = find_busybox()
    assert (bottom / "bin" / "busybox").read_bytes() == busybox.read_bytes()


def test_docker_connects_to_a_named_socket(docker_engine, docker_client):
    from labkit.engine.docker import DockerEngine
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    other = DockerEngine.connect(base_url=host)
    try:
        assert other.info()["ID"] == docker_client.info()["ID"]
    finally:
        other.close()
    with pytest.raises(EngineUnavailable, match="does not answer"):
        DockerEngine.connect(base_url=f"unix://{Path('/nonexistent') / 'docker.sock'}", ping_timeout=2)


def test_a_build_record_names_its_image_and_open_image_reads_it(engine, tmp_path):
    """``ref`` and ``open_image`` take what ``build`` returned; a failed build is refused by name."""
    (tmp_path / "Dockerfile").write_text(f"FROM {engine.base_image().tags[0]}\nRUN echo hi > /hi.txt\n")
    record = engine.build(tmp_path)
    assert engine.ref(record) == engine.ref(record.image)
    with engine.open_image(record) as img:
        saved = Path(img.source)
        assert img.diff_ids == engine.diff_ids(record.image)
        assert img.layer_dir(len(img.layers) - 1, with_data=True)["hi.txt"].data == b"hi\n"
    assert not saved.exists()                      # the temporary save is gone after the block
    (tmp_path / "Dockerfile").write_text(f"FROM {engine.base_image().tags[0]}\nRUN exit 3\n")
    with pytest.raises(BuildError) as built:
        engine.build(tmp_path)
    failed = built.value.record
    assert failed.image is None
    with pytest.raises(EngineError, match="the build made no image"):
        engine.ref(failed)


def test_a_build_from_labkit_base_makes_the_base_when_the_daemon_lacks_it(docker_engine, docker_client,
                                                                          tmp_path):
    """On a fresh daemon the first build FROM labkit/base works, as on the simulator: labkit's
    own offline base is made on demand (it is never pulled)."""
    base = docker_engine.base_image()
    for tag in base.tags:                 # untag only: images built on it keep their parent
        docker_client.api.remove_image(tag, noprune=True)
    import docker.errors
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.api.inspect_image("labkit/base:latest")
    (tmp_path / "Dockerfile").write_text("FROM labkit/base\nRUN echo hi > /hi\n")
    record = docker_engine.build(tmp_path)
    assert record.ok and docker_client.api.inspect_image("labkit/base:latest")["Id"] == base.id
