"""THE differential test of the simulator's builder: every case folder, built on the real
daemon and on ``labkit.simbuild``, must give the same layers and the same cache decisions.

For every folder in tests/cases (present now or added later; format in its README):

1. a base image is built the same way on both sides — ``FROM scratch``, ``COPY busybox
   /bin/busybox``, ``RUN ["/bin/busybox", "--install", "-s", "/bin"]`` with the same bytes
   — and its layers are compared;
2. the case is built, then rebuilt after each scripted edit (cumulative), on both;
3. after every build: the same steps (``Step n/N`` text), the same hit/miss for every step,
   the same history (``created_by`` text and which entries made no layer), and per layer
   (``docker save`` -> ``labkit.image.open_image`` -> ``layer_dir``) the same paths, kinds,
   modes, owners, sizes, content digests, symlink targets, whiteouts, opaque marks and
   hard-link groups.

Where the simulator deliberately does not model Docker, the difference is listed in
``KNOWN_DIFFERENCES`` by case and path and checked to the extent it can be; nothing else is
ignored. Everything built carries labkit's label and this run's session label and is
removed at the end (with the unlabelled intermediate images our builds made).
"""
from __future__ import annotations

import tempfile
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from requirekit import skip_unless_required

from labkit.sim import builder as simbuild
from labkit.build.events import BuildRecord, parse_docker_stream, record_from_events
from labkit.values import LABEL, SESSION_LABEL
from labkit.errors import BuildError
from labkit.oci.image import open_image

from cases.casekit import apply_ops, load_cases  # noqa: E402

pytestmark = pytest.mark.docker

SESSION = "simdiff-" + uuid.uuid4().hex[:12]
LABELS = {LABEL: "true", SESSION_LABEL: SESSION}
CASES = load_cases()
WORKERS = 6          # cases built on the daemon at once
BASE_DOCKERFILE = ('FROM scratch\nCOPY busybox /bin/busybox\n'
                   'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n')

# (case, path in the image) -> why the simulator's bytes differ there. Only the file's
# size and digest are exempt; its presence, kind, mode and owner are still compared.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    ("owners-links", "owners"): "written by `ls -ln`: Docker prints real dates, link counts "
                                "and disk-block totals; the simulator has no disk",
    ("dockerignore", "listing"): "written by `ls -lR` after an edit: it prints the time of the "
                                 "build for directories the daemon creates (logs/, re-entered for "
                                 "an exception), which differs between any two builds",
}


def comparable(layer: dict, exempt: set[str] = frozenset()) -> dict:
    out: dict = {}
    for path, n in layer.items():
        row: tuple = (n.kind, 0 if n.kind == "whiteout" else n.mode, n.uid, n.gid)
        if n.kind == "file":
            row += ("<content not compared>",) if path in exempt else (n.size, n.sha256)
        elif n.kind == "symlink":
            row += (n.linkname,)
        elif n.kind == "dir":
            row += (n.opaque,)
        out[path] = row
    groups: dict[int, list[str]] = {}
    for path, n in layer.items():
        if n.kind == "file" and n.inode is not None:
            groups.setdefault(n.inode, []).append(path)
    out["<hard links>"] = sorted(sorted(g) for g in groups.values() if len(g) > 1)
    return out


class Lab:
    """Both builders side by side for one test session.

    The Docker side of every case runs up front, several cases at once (the daemon spends
    most of a build waiting on containers); each case builds on its own copy of the base
    image (one extra LABEL), so no case can hit the cache of another and the order in
    which they run does not matter. The simulator then replays each case in its test."""

    def __init__(self, client, tmp: Path) -> None:
        self.client = client
        self.api = client.api
        self.tmp = tmp
        self.made: list[str] = []
        self.lock = threading.Lock()
        self.cache = simbuild.SimBuildCache()
        self.sim_images: dict[str, object] = {}
        self.base = f"labkit-simdiff-base:{SESSION}"
        self.docker_runs: dict[str, Future] = {}

    def _api(self):
        """One API client per thread (the SDK's client is not meant to be shared)."""
        local = getattr(self, "_local", None)
        if local is None:
            local = self._local = threading.local()
        if getattr(local, "api", None) is None:
            local.api = type(self.client).from_env(timeout=300).api   # as the fixture made it
        return local.api

    def docker_build(self, context: Path, build_args: dict, *, no_cache: bool = False,
                     tag: str | None = None, dockerfile: str = "Dockerfile") -> BuildRecord:
        chunks = self._api().build(path=str(context), dockerfile=dockerfile, decode=True, rm=True,
                                   forcerm=True, network_mode="none", labels=LABELS,
                                   buildargs=build_args, nocache=no_cache, tag=tag)
        rec = record_from_events(parse_docker_stream(chunks))
        with self.lock:
            for s in rec.steps:
                if not s.cached and s.image_id and s.keyword != "FROM":
                    self.made.append(s.image_id)
            if rec.image is not None:
                self.made.append(rec.image.id)
        return rec

    def sim_build(self, context: Path, build_args: dict, *, no_cache: bool = False):
        return simbuild.build(context, resolve=self.sim_images.__getitem__, cache=self.cache,
                              build_args=build_args, no_cache=no_cache, labels=LABELS)

    def docker_layers(self, image_id: str) -> tuple[list[dict], dict]:
        dest = Path(tempfile.mkstemp(prefix="labkit-simdiff-", suffix=".tar", dir=self.tmp)[1])
        try:
            with open(dest, "wb") as f:
                for chunk in self._api().get_image(image_id):
                    f.write(chunk)
            img = open_image(dest)
            return [img.layer_dir(i, with_data=False) for i in range(len(img.layers))], dict(img.config)
        finally:
            dest.unlink()

    def own_base(self, name: str, *, sim: bool, steps: str = "") -> str:
        """A copy of the base image only this case uses: ``FROM base`` + one LABEL (+ the
        case's ``base.Dockerfile`` lines)."""
        tag = f"labkit-simdiff-{name}:{SESSION}"
        ctx = Path(tempfile.mkdtemp(prefix=f"labkit-simdiff-{name}-", dir=self.tmp))
        (ctx / "Dockerfile").write_text(f"FROM {self.base}\nLABEL org.labkit.test.case={name}\n{steps}")
        if sim:
            _, img = self.sim_build(ctx, {})
            self.sim_images[tag] = img
        else:
            rec = self.docker_build(ctx, {}, tag=tag)
            assert rec.ok, rec.failure
        return tag

    def remove_all(self) -> None:
        for _ in range(8):
            mine = self.api.images(filters={"label": f"{SESSION_LABEL}={SESSION}"}, all=True, quiet=True)
            if not mine:
                break
            for image in mine:
                try:
                    self.api.remove_image(image, force=True)
                except Exception:  # a child still depends on it: next pass
                    pass
        for image in reversed(self.made):
            try:
                self.api.remove_image(image)
            except Exception:  # removed with its child already, or used by a newer build
                pass


@dataclass
class DockerRun:
    """One build of a case on the daemon, and what it left (layers only when new)."""

    name: str
    record: BuildRecord
    layers: list | None = None
    config: dict | None = None


def _runs(case):
    return [("first build", (), False)] + [(e.name, e.ops, e.no_cache) for e in case.edits]


def _docker_case(lab: Lab, case) -> list[DockerRun]:
    base = lab.own_base(case.name, sim=False, steps=case.base_steps)
    ctx = case.prepare(Path(tempfile.mkdtemp(prefix=f"labkit-simdiff-{case.name}-", dir=lab.tmp)) / "c")
    args = dict(case.build_args)
    out: list[DockerRun] = []
    seen: set[str] = set()
    for name, ops, no_cache in _runs(case):
        apply_ops(ctx, ops, args)
        rec = lab.docker_build(ctx, {"BASE": base, **args}, no_cache=no_cache)
        run = DockerRun(name, rec)
        if rec.ok and rec.image.id not in seen:      # a fully cached rebuild: same image
            seen.add(rec.image.id)
            run.layers, run.config = lab.docker_layers(rec.image.id)
        out.append(run)
        if not rec.ok:
            break
    return out


def _docker_job(lab: Lab, name: str, fn) -> None:
    with lab.lock:
        lab.docker_runs[name] = lab.pool.submit(fn)


@pytest.fixture(scope="module")
def lab(docker_client, tmp_path_factory):
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        skip_unless_required("LABKIT_REQUIRE_DOCKER", "needs the static busybox at /bin/busybox")
    lab = Lab(docker_client, tmp_path_factory.mktemp("simdiff"))
    ctx = tmp_path_factory.mktemp("simdiff-base")
    (ctx / "busybox").write_bytes(busybox.read_bytes())
    (ctx / "busybox").chmod(0o755)
    (ctx / "Dockerfile").write_text(BASE_DOCKERFILE)
    lab.pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="simdiff")
    try:
        rec = lab.docker_build(ctx, {}, tag=lab.base)
        assert rec.ok, rec.failure
        lab.base_id = rec.image.id
        _, sim_base = lab.sim_build(ctx, {})
        lab.sim_base = sim_base
        lab.sim_images[lab.base] = sim_base
        for case in CASES:
            _docker_job(lab, case.name, lambda case=case: _docker_case(lab, case))
        _docker_job(lab, "semantics", lambda: _docker_semantics(lab))
        _docker_job(lab, "failures", lambda: _docker_failures(lab))
        yield lab
    finally:
        lab.pool.shutdown(wait=True, cancel_futures=True)
        lab.remove_all()


def _compare_layers(layers: list, config: dict, sim_image, what: str, case: str = "") -> None:
    d_hist = [(h.get("created_by", ""), bool(h.get("empty_layer"))) for h in config["history"]]
    s_hist = [(h.get("created_by", ""), bool(h.get("empty_layer"))) for h in sim_image.config["history"]]
    assert s_hist == d_hist, f"{what}: history differs"
    assert len(sim_image.layers) == len(layers), f"{what}: layer count"
    exempt = {path for (c, path) in KNOWN_DIFFERENCES if c == case}
    made = [h[0] for h in d_hist if not h[1]]
    for i, (d_layer, s_layer) in enumerate(zip(layers, sim_image.layers)):
        assert comparable(s_layer, exempt) == comparable(d_layer, exempt), \
            f"{what}: layer {i} ({made[i]})"
    for key in ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts",
                "Volumes", "Healthcheck", "OnBuild", "StopSignal", "Shell"):
        d_val, s_val = config["config"].get(key), sim_image.config["config"].get(key)
        assert (s_val or None) == (d_val or None), f"{what}: config {key}"


def _compare_images(lab: Lab, docker_id: str, sim_image, what: str, case: str = "") -> None:
    layers, config = lab.docker_layers(docker_id)
    _compare_layers(layers, config, sim_image, what, case)


def test_base_image_is_the_same_on_both(lab):
    _compare_images(lab, lab.base_id, lab.sim_base, "base image")
    assert len(lab.sim_base.layers) == 2 and len(lab.sim_base.layers[1]) > 100


def test_known_differences_name_real_cases():
    names = {c.name for c in CASES}
    assert {case for case, _ in KNOWN_DIFFERENCES} <= names


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_simulator_builds_like_the_daemon(lab, case, tmp_path):
    docker_runs = lab.docker_runs[case.name].result()
    base = lab.own_base(case.name, sim=True, steps=case.base_steps)
    ctx = case.prepare(tmp_path / "context")
    args = dict(case.build_args)
    for (name, ops, no_cache), d in zip(_runs(case), docker_runs):
        what = f"{case.name} / {name}"
        apply_ops(ctx, ops, args)
        d_rec = d.record
        assert d_rec.ok, f"{what}: the real build failed: {d_rec.failure}"
        s_rec, s_img = lab.sim_build(ctx, {"BASE": base, **args}, no_cache=no_cache)
        assert [(s.n, s.instruction) for s in s_rec.steps] == \
               [(s.n, s.instruction) for s in d_rec.steps], f"{what}: steps"
        wrong = [f"step {dd.n} {dd.instruction!r}: docker {'HIT' if dd.cached else 'MISS'}, "
                 f"sim {'HIT' if ss.cached else 'MISS'}"
                 for dd, ss in zip(d_rec.steps, s_rec.steps) if dd.cached != ss.cached]
        assert not wrong, f"{what}: cache decisions differ:\n" + "\n".join(wrong)
        if d.layers is not None:
            _compare_layers(d.layers, d.config, s_img, what, case.name)
    assert len(docker_runs) == len(_runs(case))


FAILING = {
    "run": "RUN echo before > /b\nRUN echo oops && exit 3\nRUN echo never\n",
    "copy": "RUN echo x > /x\nCOPY missing.txt /m\n",
}


def _failure_ctx(lab: Lab, base: str, which: str) -> Path:
    ctx = Path(tempfile.mkdtemp(prefix="labkit-simdiff-fail-", dir=lab.tmp))
    (ctx / "Dockerfile").write_text(f"FROM {base}\n" + FAILING[which])
    return ctx


def _docker_failures(lab: Lab) -> dict[str, BuildRecord]:
    base = lab.own_base("failures", sim=False)
    return {which: lab.docker_build(_failure_ctx(lab, base, which), {}) for which in FAILING}


def test_failures_match_the_daemon(lab):
    """A failing RUN stops at the same step with the same status; a missing COPY source
    stops at the COPY and names the file."""
    docker = lab.docker_runs["failures"].result()
    base = lab.own_base("failures", sim=True)
    d_rec = docker["run"]
    assert d_rec.failure is not None
    with pytest.raises(BuildError) as info:
        lab.sim_build(_failure_ctx(lab, base, "run"), {})
    err = info.value
    assert (err.step, err.exit_code) == (d_rec.failure.step, d_rec.failure.exit_code) == (3, 3)
    assert err.line == 3 and "oops" in err.output
    assert [s.n for s in err.record.steps] == [s.n for s in d_rec.steps]

    d_rec = docker["copy"]
    assert d_rec.failure is not None and "missing.txt" in d_rec.failure.message
    with pytest.raises(BuildError) as info:
        lab.sim_build(_failure_ctx(lab, base, "copy"), {})
    assert info.value.step == d_rec.failure.step == 3 and "missing.txt" in str(info.value)


SEMANTICS_DOCKERFILE = """\
FROM {base}
WORKDIR /app
WORKDIR /app
RUN true
RUN mkdir -p /data/x /data/y && echo 1 > /data/x/f && ln -s /data/x /data/link && ln /data/x/f /data/hard
RUN mv /data /moved
COPY d /dd
COPY d/ /ee/
COPY f.txt /new/dir/
COPY --chown=1000:1000 f.txt /owned/deep/f
COPY f.txt rel
COPY link.txt /l
COPY d/sub/b f.txt /multi/
ENV A=1 B="two words"
RUN mv /dd/a /dd/a2 && rm -rf /ee/sub && mkdir /ee/sub && touch /dd/sub/b && chmod 600 /moved/x/f
RUN rm /bin/ls && echo more >> /moved/x/f && cp -a /moved /copied && chown -R 5:6 /copied
WORKDIR sub2
RUN echo "$A $B" > x && dd if=/dev/zero of=/zeros bs=1k count=5 2>/dev/null
RUN for i in 1 2 3; do if [ $i != 2 ]; then echo $((i * 10)) > /n$i; fi; done; x=$(cat /n3) && echo "$x" > /x3
USER 1000
CMD ["sh", "-c", "cat x"]
EXPOSE 80 443/udp
"""


def _semantics_ctx(lab: Lab, base: str) -> Path:
    ctx = Path(tempfile.mkdtemp(prefix="labkit-simdiff-sem-", dir=lab.tmp))
    (ctx / "d" / "sub").mkdir(parents=True)
    (ctx / "d" / "a").write_text("hi\n")
    (ctx / "d" / "sub" / "b").write_text("x\n")
    (ctx / "d" / "sub").chmod(0o750)
    (ctx / "f.txt").write_text("top\n")
    (ctx / "f.txt").chmod(0o600)
    (ctx / "link.txt").symlink_to("f.txt")
    (ctx / "Dockerfile").write_text(SEMANTICS_DOCKERFILE.format(base=base))
    return ctx


def _docker_semantics(lab: Lab) -> DockerRun:
    base = lab.own_base("semantics", sim=False)
    rec = lab.docker_build(_semantics_ctx(lab, base), {})
    run = DockerRun("semantics", rec)
    if rec.ok:
        run.layers, run.config = lab.docker_layers(rec.image.id)
    return run


def test_overlay_semantics_through_a_build(lab):
    """One Dockerfile through the rules the lessons teach: WORKDIR with and without a new
    directory, an empty RUN, mv of a lower directory (EXDEV: copy + whiteout), rm -rf then
    mkdir (opaque directory), copy-up on touch/chmod/append, hard and symbolic links,
    COPY's directory/file/--chown/multi-source forms, loops and substitutions in RUN,
    config-only steps."""
    d = lab.docker_runs["semantics"].result()
    assert d.record.ok, d.record.failure
    base = lab.own_base("semantics", sim=True)
    s_rec, s_img = lab.sim_build(_semantics_ctx(lab, base), {})
    assert [s.instruction for s in s_rec.steps] == [s.instruction for s in d.record.steps]
    _compare_layers(d.layers, d.config, s_img, "overlay semantics")
    hist = s_img.config["history"]
    assert any(h.get("empty_layer") and "WORKDIR" in h["created_by"] for h in hist)
    assert any(h.get("empty_layer") and h["created_by"].endswith("-c true") for h in hist)
