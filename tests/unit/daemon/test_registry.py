"""The registry model against Debian's real docker-registry and the real daemon's push/pull."""
from __future__ import annotations

import os

import pytest

from requirekit import skip_unless_required

import labkit
from labkit.errors import EngineError, EngineUnavailable
from labkit.daemon.registry import (
    PULL_EXISTS, PULLED, PUSH_EXISTS, PUSHED, RealRegistry, Registry, local_chain_ids,
    plain_http_allowed, pull, push, registry_name)


def _require_registry():
    if not RealRegistry.available():
        skip_unless_required("LABKIT_REQUIRE_DOCKER", "docker-registry is not installed "
                             "(apt-get install docker-registry)")


def _saved(engine, ref, path):
    """The image as the engine saves it: uncompressed layer tars and the config."""
    with labkit.open_image(engine.save(ref, path)) as img:
        layers = []
        for i in range(len(img.layers)):
            with img.open_layer(i) as f:
                layers.append(f.read())
        return layers, dict(img.config)


def _two_versions(engine, tmp_path):
    ctx = labkit.example("dist09", tmp_path / "ctx")
    v1 = engine.build(ctx, dockerfile="Dockerfile.v1", tag="reg-t:v1", no_cache=True)
    v2 = engine.build(ctx, dockerfile="Dockerfile.v2", tag="reg-t:v2")
    return v1.image, v2.image


def test_model_stores_each_blob_once_and_plans_pulls(sim_engine, tmp_path):
    v1, v2 = _two_versions(sim_engine, tmp_path)
    reg = Registry()
    a = reg.push_image(*_saved(sim_engine, v1, tmp_path / "1.tar"), "x/app:v1")
    b = reg.push_image(*_saved(sim_engine, v2, tmp_path / "2.tar"), "x/app:v2")
    again = reg.push_image(*_saved(sim_engine, v2, tmp_path / "3.tar"), "x/app:v2")
    assert a.statuses == (PUSHED,) * 3
    assert b.statuses == (PUSH_EXISTS, PUSH_EXISTS, PUSHED)
    assert again.transferred == 0
    assert reg.blob_count() == 4 + 2 + 2            # 4 distinct layers, 2 configs, 2 manifests
    chain_v1 = labkit.chain_ids(reg.config("x/app:v1")["rootfs"]["diff_ids"])
    plan = reg.plan_pull("x/app:v2", chain_v1)
    assert plan.statuses == (PULL_EXISTS, PULL_EXISTS, PULLED)
    assert reg.plan_pull("x/app:v2", []).transferred == 3


def test_sim_pull_restores_the_same_image(tmp_path):
    from labkit.engine.sim import SimEngine
    sim_engine = SimEngine()        # fresh: another test's identical layers would be "Already exists"
    v1, v2 = _two_versions(sim_engine, tmp_path)
    with Registry() as reg:
        push(sim_engine, reg, v1, "reg-s:v1")
        push(sim_engine, reg, v2, "reg-s:v2")
        sim_engine.remove(v2)
        report = pull(sim_engine, reg, "reg-s:v2")
    assert report.image.id == v2.id
    assert report.statuses == (PULL_EXISTS, PULL_EXISTS, PULLED)


def test_real_registry_agrees_with_the_model(docker_engine, docker_client, tmp_path):
    _require_registry()
    cidrs = docker_client.info()["RegistryConfig"]["InsecureRegistryCIDRs"]
    assert "127.0.0.0/8" in cidrs                   # plain HTTP to 127.0.0.1:PORT is allowed
    assert plain_http_allowed(docker_engine)
    v1, v2 = _two_versions(docker_engine, tmp_path)
    model = Registry()
    predicted = [model.push_image(*_saved(docker_engine, ref, tmp_path / f"{i}.tar"), f"m/app:{i}")
                 for i, ref in enumerate((v1, v2))]
    reg = RealRegistry()
    with reg:
        storage = reg.dir
        real = [push(docker_engine, reg, v1, "reg-t:v1"), push(docker_engine, reg, v2, "reg-t:v2")]
        assert [r.statuses for r in real] == [p.statuses for p in predicted]
        assert real[1].statuses == (PUSH_EXISTS, PUSH_EXISTS, PUSHED)
        assert reg.blob_count() == model.blob_count() == 8
        for layer in real[1].layers:                 # the registry's manifest names the same diffIDs
            assert layer.diff_id in reg.config(registry_name("reg-t:v2"))["rootfs"]["diff_ids"]
        docker_engine.remove(v2)
        plan = reg.plan_pull(registry_name("reg-t:v2"), local_chain_ids(docker_engine))
        pulled = pull(docker_engine, reg, "reg-t:v2")
        assert pulled.statuses == plan.statuses == (PULL_EXISTS, PULL_EXISTS, PULLED)
        assert pulled.image.id == v2.id              # the config (and so the id) travels unchanged
        tags = docker_client.api.inspect_image(v2.id)["RepoTags"]
        assert tags and not any(t.startswith("127.0.0.1:") for t in tags)
        pid = reg._proc.pid
    assert not reg.running and not storage.exists()
    assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()


def test_unlabelled_images_are_refused_and_the_registry_stops_on_errors(docker_engine, sentinel):
    _require_registry()
    reg = RealRegistry()
    with pytest.raises(EngineError, match="not a labkit image"):
        with reg:
            storage = reg.dir
            try:
                push(docker_engine, reg, sentinel["image"], "sentinel:v1")
            finally:
                assert reg.blob_count() == 0
    assert not reg.running and not storage.exists()


def test_missing_binary_names_the_package():
    reg = RealRegistry()
    reg.binary = ""
    with pytest.raises(EngineUnavailable, match="apt-get install docker-registry"):
        reg.start()
    assert reg.dir is None


def test_transfer_diagram_colours_what_moved(sim_engine, tmp_path):
    v1, v2 = _two_versions(sim_engine, tmp_path)
    reg = Registry()
    reg.push_image(*_saved(sim_engine, v1, tmp_path / "1.tar"), "x/app:v1")
    second = reg.push_image(*_saved(sim_engine, v2, tmp_path / "2.tar"), "x/app:v2")
    from labkit.daemon.registry import transfer_diagram
    dot = transfer_diagram(second)
    assert dot.source.count("#9ecae1") == 1 and dot.source.count("#eeeeee") == 2
    assert b"<svg" in dot.pipe(format="svg")        # graphviz's dot draws it
