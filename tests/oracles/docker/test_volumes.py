"""Volumes in containers, against the real daemon: what ``docker diff`` and ``docker commit``
show of a container whose image declares volumes, and the same on the simulator engine."""
from __future__ import annotations

import pytest


pytestmark = pytest.mark.docker

DOCKERFILE = """\
FROM {base}
RUN mkdir -p /srv/data /srv/other && echo image > /srv/data/a && ln -s /srv/other /linked
VOLUME /srv/data /fresh/deep /linked/sub
"""
# (A volume reached through a symlink INTO another volume is left out: whether the daemon
# makes its mountpoint in the layer or in the other volume depends on Go's map order.)
SCRIPT = ("echo vol > /srv/data/b && echo x > /fresh/deep/x && echo outside > /outside "
          "&& mkdir -p /linked/sub/more && rm /srv/data/a && cat /srv/data/b")


def _build(engine, tmp_path):
    base = engine.base_image()
    (tmp_path / "Dockerfile").write_text(DOCKERFILE.format(base=base.tags[0]))
    record = engine.build(tmp_path)
    assert record.ok, record.failure
    return record.image


def test_container_writes_under_volumes_stay_out_of_diff_and_commit(tmp_path, docker_engine, sim_engine):
    """The same image and script on both engines: exit status and output, ``docker diff``
    (mountpoints the daemon made are there, writes into volumes are not), and the committed
    layer's listing."""
    results = {}
    for eng in (docker_engine, sim_engine):
        image = _build(eng, tmp_path)
        cid = eng.start(image)
        try:
            run = eng.exec(cid, ["sh", "-c", SCRIPT])
            changes = sorted((c.kind, c.path) for c in eng.diff(cid))
            committed = eng.commit(cid)
            listing = eng.run(committed, ["sh", "-c", "ls -A /srv/data /fresh/deep /srv/other /outside; "
                                                       "cat /srv/data/a"], keep=False)
        finally:
            eng.remove(cid)
        results[eng.name] = (run.exit_code, run.output, changes, listing.exit_code, listing.output)
    assert results["sim"] == results["docker"]
    changes = results["docker"][2]
    assert ("A", "/outside") in changes and ("A", "/fresh/deep") in changes
    assert ("A", "/srv/data/b") not in changes and ("D", "/srv/data/a") not in changes
