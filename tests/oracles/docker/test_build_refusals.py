"""Dockerfiles Docker refuses, or fails at a step, on both engines: the simulator must fail
the same way as the real daemon (error class, step, Dockerfile line and Docker's words).

Docker's own words are the oracle: nothing here is written down from the simulator."""
from __future__ import annotations

import re

import pytest

from labkit.errors import BuildError, DockerfileError, LabkitError

pytestmark = pytest.mark.docker

CASES = {
    "copy --chmod": "COPY --chmod=755 f /f\n",
    "run --mount": "RUN --mount=type=cache,target=/c echo hi\n",
    "copy --link": "COPY --link f /f\n",
    "run --network": "RUN --network=none echo hi\n",
    "unknown instruction": "RUN true\nFOO bar\n",
    "heredoc": "RUN <<EOF\necho hi\nEOF\n",
    "multi-source dest": "COPY f f2 /dir\n",
    "workdir over a file": "RUN echo x > /w\nWORKDIR /w\n",
    "expose word": "EXPOSE abc\n",
    "expose proto": "EXPOSE 80/xyz\n",
    "expose reversed range": "EXPOSE 9-3\n",
    "expose too big": "EXPOSE 70000\n",
    "env without args": "ENV\n",
    "healthcheck 0s": "HEALTHCHECK --interval=0s CMD true\n",
    "healthcheck no unit": "HEALTHCHECK --interval=5 CMD true\n",
    "healthcheck bad unit": "HEALTHCHECK --timeout=5x CMD true\n",
    "healthcheck none args": "HEALTHCHECK NONE x\n",
    "healthcheck type": "HEALTHCHECK RUN true\n",
    "onbuild onbuild": "ONBUILD ONBUILD RUN x\n",
    "onbuild from": "ONBUILD FROM scratch\n",
    "volume empty": 'VOLUME [""]\n',
    "shell not json": "SHELL /bin/sh -c\n",
    "failing run": "RUN echo out && exit 3\n",
    "expose ok, ranges": "EXPOSE 8000-8002/udp 80 443/TCP 1.2.3.4:81:82\nRUN true\n",
    "copy --from an index out of bounds": "RUN true\nCOPY --from=5 /x /x\n",
    "copy --from the current stage": "FROM {base} AS two\nCOPY --from=1 /x /x\n",
    "unknown user": "USER nosuch\nRUN true\n",
    "unknown group": "USER root:nogroup\nRUN true\n",
    "copy --from an image": "COPY --from={base} /bin/busybox /bb\nRUN test -x /bb\n",
}


def _outcome(engine, tmp_path, body: str, exposed_ports) -> tuple:
    base = engine.base_image()
    ctx = tmp_path / engine.name
    ctx.mkdir()
    (ctx / "f").write_text("f\n")
    (ctx / "f2").write_text("f2\n")
    (ctx / "Dockerfile").write_text(f"FROM {base.tags[0]}\n" + body.format(base=base.tags[0]))
    try:
        record = engine.build(ctx)
    except BuildError as exc:
        return ("BuildError", exc.step, exc.line, _words(exc.reason), exc.exit_code)
    except DockerfileError as exc:
        return ("DockerfileError", None, exc.line, _words(str(exc).split("\n")[0].split(": ", 1)[1]), None)
    except LabkitError as exc:
        return (type(exc).__name__, None, None, str(exc), None)
    return ("ok", len(record.steps), sorted(exposed_ports(record.image.id) or {}))


def _words(text: str) -> str:
    """The failure up to its first sentence end: Docker adds links to its docs after it."""
    return re.split(r"[.;] ", text.strip(), maxsplit=1)[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_refused_like_the_daemon(name, tmp_path, docker_client, docker_engine, sim_engine):
    want = _outcome(docker_engine, tmp_path, CASES[name],
                    lambda i: docker_client.images.get(i).attrs["Config"].get("ExposedPorts"))
    got = _outcome(sim_engine, tmp_path, CASES[name],
                   lambda i: sim_engine.image(i).config["config"].get("ExposedPorts"))
    assert got == want


def test_a_missing_image_is_refused_before_the_daemon_could_pull_it(docker_engine, tmp_path):
    """FROM or COPY --from an image the daemon lacks: the Docker engine refuses before the
    build starts (the daemon would go to the network for it), naming the image."""
    base = docker_engine.base_image().tags[0]
    for body in ("FROM labkit-test/missing-image:1\nRUN true\n",
                 f"FROM {base} AS a\nFROM {base}\nCOPY --from=labkit-test/missing:2 /x /x\n"):
        (tmp_path / "Dockerfile").write_text(body)
        events: list = []
        with pytest.raises(BuildError, match="labkit-test/missing") as info:
            docker_engine.build(tmp_path, on_event=events.append)
        assert events == [] and info.value.step is None and info.value.line in (1, 3)
