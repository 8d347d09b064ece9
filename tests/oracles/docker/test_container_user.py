"""A container of an image with ``USER``: the same script on both engines must succeed or
fail the same way, and leave the same files with the same owners (checked against dockerd)."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker

DOCKERFILE = """\
FROM {base}
RUN mkdir -p /home/app /srv/ro && echo 'app:x:1001:1002::/home/app:/bin/sh' >> /etc/passwd \\
    && echo 'app:x:1002:' >> /etc/group && chown 1001:1002 /home/app && echo locked > /srv/ro/f \\
    && chmod 555 /srv/ro
USER app
"""
SCRIPTS = (
    'echo "$HOME" > /home/app/h && mkdir /home/app/d && touch /tmp/t',
    "echo no > /root/x",
    "echo no > /srv/ro/f",
    "rm /srv/ro/f",
    "cat /srv/ro/f > /home/app/copy && chmod 600 /home/app/copy",
    "chown 0 /home/app/h",
)


def _outcome(engine, tmp_path, script: str) -> tuple:
    base = engine.base_image()
    ctx = tmp_path / engine.name
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE.format(base=base.tags[0]))
    image = engine.build(ctx).image
    cid = engine.start(image)
    try:
        run = engine.exec(cid, ["sh", "-c", script])
        changes = sorted((c.kind, c.path) for c in engine.diff(cid))
        committed = engine.commit(cid)
    finally:
        engine.remove(cid)
    top = engine.layer_dirs(committed)[-1]
    owners = sorted((p, n.kind, n.mode, n.uid, n.gid) for p, n in top.items() if n.kind != "dir")
    return run.exit_code, changes, owners


@pytest.mark.parametrize("script", SCRIPTS)
def test_user_container_matches_the_daemon(script, tmp_path, docker_engine, sim_engine):
    assert _outcome(sim_engine, tmp_path, script) == _outcome(docker_engine, tmp_path, script)
