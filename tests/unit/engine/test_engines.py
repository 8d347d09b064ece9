"""The Engine interface, on the simulator and on the real daemon (each test runs on both)."""
from __future__ import annotations

import tarfile

import pytest

from labkit.values import LABEL, SESSION_LABEL
from labkit.errors import EngineError


def test_base_image_is_labelled_one_layer_busybox(engine):
    ref = engine.base_image()
    assert ref.id.startswith("sha256:") and any(t.startswith("labkit/base:") for t in ref.tags)
    hist = engine.history(ref)
    layers = [h for h in hist if not h.empty_layer]
    assert len(layers) == 1 and layers[0].layer_index == 0
    assert layers[0].size > 500_000          # the static busybox binary itself
    assert engine.base_image().id == ref.id  # found again, not rebuilt


def test_base_image_is_the_same_content_on_both_engines(sim_engine, docker_engine):
    assert sim_engine.base_image().id == docker_engine.base_image().id


def test_run_returns_output_and_exit_status(engine):
    base = engine.base_image()
    ok = engine.run(base, "echo hello; echo world", keep=False)
    assert (ok.exit_code, ok.output) == (0, "hello\nworld\n")
    bad = engine.run(base, "exit 3", keep=False)
    assert bad.exit_code == 3


def test_copy_on_write_is_seen_in_diff_and_size(engine):
    base = engine.base_image()
    c = engine.start(base)
    try:
        assert engine.container_size(c).rw == 0
        assert engine.diff(c) == []
        r = engine.exec(c, "echo 0123456789 > /tmp/ten && chmod 600 /etc/group && rm /bin/vi")
        assert r.exit_code == 0, r.output
        got = [str(ch) for ch in engine.diff(c)]
        assert got == ["C /bin", "D /bin/vi", "C /etc", "C /etc/group", "C /tmp", "A /tmp/ten"]
        size = engine.container_size(c)
        group = engine.run(base, "cat /etc/group", keep=False).output.encode()
        assert size.rw == 11 + len(group)      # the new file + the whole copied-up file
        assert size.virtual > size.rw
    finally:
        engine.remove(c)


def test_commit_makes_a_labelled_image_with_one_more_layer(engine, tmp_path):
    base = engine.base_image()
    c = engine.start(base)
    try:
        engine.exec(c, "mkdir -p /app && echo v1 > /app/version")
        ref = engine.commit(c, tag="committed")
    finally:
        engine.remove(c)
    assert any(t.endswith("/committed:latest") for t in ref.tags)
    assert ref.id in {i.id for i in engine.images()}
    hist = engine.history(ref)
    assert len([h for h in hist if not h.empty_layer]) == 2
    out = engine.run(ref, "cat /app/version", keep=False)
    assert out.output == "v1\n"
    saved = engine.save(ref, tmp_path / "img.tar")
    with tarfile.open(saved) as tar:
        assert "manifest.json" in tar.getnames()
    engine.remove(ref)
    assert ref.id not in {i.id for i in engine.images()}


def test_exec_on_a_stopped_container_is_a_clear_error(engine):
    r = engine.run(engine.base_image(), "true")
    try:
        with pytest.raises(EngineError, match="stopped"):
            engine.exec(r.container, "true")
    finally:
        engine.remove(r.container)


def test_docker_objects_carry_labels_and_no_network(docker_engine, docker_client):
    base = docker_engine.base_image()
    c = docker_engine.start(base)
    try:
        attrs = docker_client.api.inspect_container(c)
        assert attrs["Config"]["Labels"][LABEL] == "true"
        assert attrs["Config"]["Labels"][SESSION_LABEL]
        assert attrs["HostConfig"]["NetworkMode"] == "none"
        # only loopback inside: no eth0
        r = docker_engine.exec(c, "cat /proc/net/dev")
        assert "lo:" in r.output and "eth0" not in r.output
    finally:
        docker_engine.remove(c)


def test_sizes_count_symlinks_like_docker(engine):
    """docker history / ps -s sizes are an lstat walk: a symlink counts its target's length."""
    base = engine.base_image()
    c = engine.start(base)
    try:
        engine.exec(c, "ln -s /a/target/of/length/27/xx /tmp/link && ln -s x /tmp/l2")
        assert engine.container_size(c).rw == len("/a/target/of/length/27/xx") + 1
    finally:
        engine.remove(c)


def test_a_failing_run_step_is_the_same_clear_error_on_both_engines(engine, tmp_path):
    from labkit.errors import BuildError
    (tmp_path / "Dockerfile").write_text("FROM labkit/base\nRUN echo one > /one\n"
                                         "RUN echo 'about to fail' && exit 7\nRUN echo never\n")
    with pytest.raises(BuildError) as exc:
        engine.build(tmp_path, no_cache=True)
    err = exc.value
    assert (err.step, err.line, err.exit_code) == (3, 3, 7)
    assert "about to fail" in err.output
    assert err.instruction.startswith("RUN echo 'about to fail'")
    assert [s.cached for s in err.record.steps][:2] == [False, False]


def test_a_failed_docker_build_leaves_no_unlabelled_half_built_image(docker_engine, docker_client,
                                                                    tmp_path):
    from labkit.errors import BuildError
    (tmp_path / "Dockerfile").write_text(f"FROM labkit/base\nRUN echo {tmp_path.name} > /made\n"
                                         "RUN echo half > /half\nRUN exit 3\n")
    with pytest.raises(BuildError) as exc:
        docker_engine.build(tmp_path, no_cache=True)
    built = [s.image_id for s in exc.value.record.steps[1:] if s.image_id]
    assert len(built) == 2                       # steps 2 and 3 made images before step 4 failed
    for image_id in built:
        assert not docker_client.api.images(all=True, filters={"reference": image_id}) and \
            image_id.split(":")[-1][:12] not in {i["Id"].split(":")[-1][:12]
                                                 for i in docker_client.api.images(all=True)}


def test_a_missing_copy_source_names_the_file(engine, tmp_path):
    from labkit.errors import BuildError
    (tmp_path / "Dockerfile").write_text("FROM labkit/base\nCOPY not-there.txt /x\n")
    with pytest.raises(BuildError) as exc:
        engine.build(tmp_path)
    assert "not-there.txt" in str(exc.value)
    assert exc.value.step == 2


def test_build_steps_report_the_size_of_the_layer_they_made(engine, tmp_path):
    (tmp_path / "data.bin").write_bytes(b"\0" * 3000)
    (tmp_path / "Dockerfile").write_text("FROM labkit/base\nCOPY data.bin /data.bin\n"
                                         f"RUN echo {tmp_path.name} > /note\nENV X=1\n")
    record = engine.build(tmp_path, no_cache=True)
    sizes = {s.instruction.split()[0]: s.layer_size for s in record.steps}
    assert sizes["FROM"] is None
    assert sizes["COPY"] == 3000
    assert sizes["RUN"] == len(tmp_path.name) + 1
    assert sizes["ENV"] == 0
