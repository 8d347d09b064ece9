"""Storage-driver disk use: the model against the kernel's overlay and a real second dockerd (vfs)."""
from __future__ import annotations

import os

import pytest

from requirekit import skip_unless_required

import labkit
from labkit.fs.node import Node
from labkit.fs.kernel import KernelOverlay
from labkit.fs.realfs import write_dir
from labkit.daemon.storage import SecondDaemon, compare_drivers, measure_dir, model_use

LAYERS = [
    {"a": Node.file(b"x" * 1000), "d": Node.dir(), "d/link": Node.symlink("../a")},
    {"b": Node.file(b"y" * 500), "h1": Node.file(b"z" * 300, inode=7), "h2": Node.file(b"z" * 300, inode=7)},
    {"a": Node.whiteout(), "c": Node.file(b"w" * 20)},
]


def test_overlay2_model_is_each_layer_dir_on_disk(tmp_path, kernel_overlay):
    got = []
    for i, layer in enumerate(LAYERS):
        write_dir(layer, tmp_path / str(i))
        got.append(measure_dir(tmp_path / str(i)))
    assert model_use(LAYERS, "overlay2") == got


def test_vfs_model_is_the_kernels_merged_tree_per_layer(kernel_overlay):
    got = []
    for i in range(len(LAYERS)):
        with KernelOverlay(list(reversed(LAYERS[:i + 1]))) as ovl:
            got.append(measure_dir(ovl.merged))
    assert model_use(LAYERS, "vfs") == got
    assert got[2] < got[1]                       # a deletion makes the vfs copy smaller


def test_sim_reports_the_model_only(sim_engine):
    image = sim_engine.build(labkit.example("disk10"), tag="disk-t").image
    report = compare_drivers(sim_engine, image)
    assert not report.is_measured and "simulator" in report.measured_why
    assert report.total("vfs") > report.total("overlay2")


def test_docker_measurement_matches_the_model(docker_engine, docker_client, sentinel):
    why = SecondDaemon.unavailable()
    if why:
        skip_unless_required("LABKIT_REQUIRE_DOCKER", why)
    image = docker_engine.build(labkit.example("disk10"), tag="disk-t").image
    report = compare_drivers(docker_engine, image)
    assert report.is_measured
    for layer in report.layers:                  # every layer dir holds what the model says
        assert layer.measured == layer.model, layer
    assert report.total("vfs", measured=True) > report.total("overlay2", measured=True)
    # the main daemon is untouched: what labkit did not make is still there, its driver unchanged
    assert docker_client.api.inspect_image(sentinel["image"])["Id"] == sentinel["image"]
    assert docker_client.info()["Driver"] == "overlay2"


def test_second_daemon_always_stops_and_leaves_nothing(docker_engine):
    why = SecondDaemon.unavailable()
    if why:
        skip_unless_required("LABKIT_REQUIRE_DOCKER", why)
    daemon = SecondDaemon()
    with pytest.raises(RuntimeError):
        with daemon:
            root, pid = daemon.dir, daemon._proc.pid
            info = daemon.engine.info()
            assert info["Driver"] == "vfs" and info["DockerRootDir"] == str(daemon.data_root)
            assert info["Images"] == 0
            raise RuntimeError("boom")
    assert not daemon.running and not root.exists()
    assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()
