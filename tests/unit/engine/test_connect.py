"""Engine selection: LABKIT_ENGINE, auto-detection, and the one visible line."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from requirekit import skip_unless_required

from labkit.engine.connect import connect, wanted_engine
from labkit.errors import EngineUnavailable


def test_forced_sim_announces_itself(capsys, monkeypatch):
    monkeypatch.setenv("LABKIT_ENGINE", "sim")
    engine = connect()
    assert engine.name == "sim"
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "sim" in out[0]


def test_unknown_engine_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("LABKIT_ENGINE", "podman")
    with pytest.raises(EngineUnavailable, match="unknown engine 'podman'") as exc:
        wanted_engine()
    assert "LABKIT_ENGINE=sim" in str(exc.value)


def test_forced_docker_without_a_daemon_explains_how_to_start_one(monkeypatch, tmp_path):
    # a real socket path where no daemon listens: the SDK really fails to connect
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    monkeypatch.setenv("LABKIT_ENGINE", "docker")
    with pytest.raises(EngineUnavailable) as exc:
        connect()
    text = str(exc.value)
    assert "dockerd --bridge=none --iptables=false --ip-masq=false" in text
    assert "Traceback" not in text and "urllib3" not in text


def test_auto_falls_back_to_sim_without_a_daemon(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    monkeypatch.delenv("LABKIT_ENGINE", raising=False)
    assert connect().name == "sim"
    assert "sim" in capsys.readouterr().out


def test_auto_uses_a_reachable_daemon(docker_client, monkeypatch, capsys):
    monkeypatch.delenv("LABKIT_ENGINE", raising=False)
    engine = connect()
    assert engine.name == "docker"
    line = capsys.readouterr().out.strip()
    assert docker_client.version()["Version"] in line


def test_socket_permission_denied_is_explained(tmp_path):
    """A real socket the process may not open (mode 000; as root, DAC override dropped)."""
    import shutil
    import socket
    path = tmp_path / "locked.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(path))
    srv.listen(1)
    os.chmod(path, 0o000)
    code = ("from labkit.engine.docker import DockerEngine\n"
            "from labkit.errors import EngineUnavailable\n"
            "try:\n    DockerEngine.connect(ping_timeout=3)\n"
            "except EngineUnavailable as e:\n    print(e)\n")
    cmd = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            skip_unless_required("LABKIT_REQUIRE_KERNEL", "root without setpriv: cannot drop the "
                                 "capabilities that make the socket readable to this process")
        drop = "-dac_override,-dac_read_search"
        cmd = ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", *cmd]
    try:
        r = subprocess.run(cmd, env={**os.environ, "DOCKER_HOST": f"unix://{path}"},
                           capture_output=True, text=True, timeout=60)
    finally:
        srv.close()
    assert "permission denied" in r.stdout.lower(), r.stdout + r.stderr
    assert "usermod -aG docker" in r.stdout


def test_daemon_dropping_the_connection_mid_call_is_a_clear_error(tmp_path):
    """A real socket that accepts, reads the request and hangs up (a daemon dying mid-call)."""
    import socket
    import threading

    import docker

    from labkit.engine.docker import DockerEngine

    path = tmp_path / "dying.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(path))
    srv.listen(4)
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.recv(65536)
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        engine = DockerEngine(docker.DockerClient(base_url=f"unix://{path}", version="1.41", timeout=5))
        with pytest.raises(EngineUnavailable) as exc:
            engine.images()
        assert "does not answer" in str(exc.value)
        assert "dockerd" in str(exc.value)
    finally:
        stop.set()
        t.join()
        srv.close()
