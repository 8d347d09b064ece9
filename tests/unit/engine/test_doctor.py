"""`labkit doctor` explains this machine, and fails when the chosen engine cannot work."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

LABKIT = [sys.executable, "-m", "labkit"]


def doctor(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, **env}
    return subprocess.run([*LABKIT, "doctor"], env=full, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)


def test_sim_engine_ready_with_busybox(tmp_path):
    r = doctor(tmp_path, LABKIT_ENGINE="sim")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "engine sim is ready" in r.stdout
    busybox = shutil.which("busybox")
    assert f"[ok ] busybox (base image): {Path(busybox).resolve()}" in r.stdout
    dot = subprocess.run(["dot", "-V"], capture_output=True, text=True).stderr.strip()
    assert dot in r.stdout


def test_missing_busybox_fails_and_names_the_fix(tmp_path):
    r = doctor(tmp_path, LABKIT_ENGINE="sim", LABKIT_BUSYBOX=str(tmp_path / "nope"))
    assert r.returncode == 1
    assert "NOT ready" in r.stdout and "[ERR] busybox" in r.stdout
    assert "LABKIT_BUSYBOX" in r.stdout


def test_missing_dot_is_reported_with_its_fix(tmp_path):
    # a PATH with python and busybox but no graphviz
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "busybox").symlink_to(Path(shutil.which("busybox")).resolve())
    r = doctor(tmp_path, LABKIT_ENGINE="sim", PATH=str(bindir))
    assert "[-- ] graphviz dot: not found" in r.stdout
    assert "apt-get install -y graphviz" in r.stdout


def test_forced_docker_without_daemon_fails_with_start_command(tmp_path):
    r = doctor(tmp_path, LABKIT_ENGINE="docker", DOCKER_HOST=f"unix://{tmp_path}/none.sock")
    assert r.returncode == 1
    assert "[ERR] docker daemon" in r.stdout
    assert "dockerd --bridge=none --iptables=false --ip-masq=false" in r.stdout


def test_reports_the_daemon_and_its_storage_driver(tmp_path, docker_client):
    info = docker_client.info()
    r = doctor(tmp_path)
    assert r.returncode == 0, r.stdout
    assert f"Docker {info['ServerVersion']} reachable, storage driver {info['Driver']}" in r.stdout
    assert "engine docker is ready" in r.stdout
