"""The Docker engine: a real daemon through the docker SDK. The ONLY module that imports ``docker``.

Everything it creates carries ``LABEL=true`` and the session label, runs with no network,
and is named under ``labkit-<session>/`` so students sharing a daemon never collide. It
refuses to remove, tag or clean anything it did not create.
"""
from __future__ import annotations

import contextlib
import json
import re
import tarfile
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from ..build.dockerfile import find_stage, parse
from ..build.events import parse_docker_stream, record_from_events
from ..errors import BuildError, DockerfileError, EngineError, EngineUnavailable, LabkitError
from ..oci.write import write_image_tar
from ..values import (
    LABEL,
    SESSION_LABEL,
    Change,
    ContainerSize,
    HistoryEntry,
    ImageRef,
    LayerStorage,
    RunResult,
    TransferResult,
)
from . import baseimage, session
from .base import Engine

START_DAEMON = ("sudo apt-get install -y docker.io && "
                "sudo dockerd --bridge=none --iptables=false --ip-masq=false &")
_KIND = {0: "C", 1: "A", 2: "D"}


def _labels() -> dict[str, str]:
    return {LABEL: "true", SESSION_LABEL: session.session_id()}


@contextlib.contextmanager
def _calls(what: str) -> Iterator[None]:
    """Turn the SDK's and requests' exceptions into one clear labkit error."""
    import docker.errors
    import requests.exceptions
    try:
        yield
    except LabkitError:
        raise
    except docker.errors.NotFound as exc:
        raise EngineError(f"{what}: not found ({exc.explanation or exc})",
                          fix="list what labkit made with engine.images()") from None
    except docker.errors.APIError as exc:
        said = str(exc.explanation or exc)
        parse = re.match(r"dockerfile parse error line (\d+): (.*)", said, re.S)
        if parse:   # the same error the simulator's parser raises for this Dockerfile
            raise DockerfileError(parse.group(2).strip(), line=int(parse.group(1)),
                                  fix="fix that line of the Dockerfile and build again") from None
        raise EngineError(f"{what}: the daemon refused: {said}") from None
    except PermissionError as exc:
        raise EngineUnavailable(f"{what}: permission denied on the Docker socket ({exc})",
                                fix="sudo usermod -aG docker $USER, then log in again "
                                    "(or LABKIT_ENGINE=sim)") from None
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        if "Permission denied" in str(exc):
            raise EngineUnavailable(f"{what}: permission denied on the Docker socket",
                                    fix="sudo usermod -aG docker $USER, then log in again "
                                        "(or LABKIT_ENGINE=sim)") from None
        raise EngineUnavailable(f"{what}: the Docker daemon does not answer ({type(exc).__name__})",
                                fix=f"start it: {START_DAEMON}   (or use LABKIT_ENGINE=sim)") from None


class DockerEngine(Engine):
    name = "docker"

    def __init__(self, client: object) -> None:
        self._client = client
        self._api = client.api  # type: ignore[attr-defined]

    @classmethod
    def connect(cls, *, base_url: str | None = None, timeout: int = 120,
                ping_timeout: float = 5) -> "DockerEngine":
        """Connect to the daemon at ``base_url`` (e.g. ``unix:///tmp/x/docker.sock``), by default
        the one DOCKER_HOST names (default socket); a clear error if none answers."""
        import docker

        def client(seconds: float):
            if base_url:
                return docker.DockerClient(base_url=base_url, version="auto", timeout=seconds)
            return docker.from_env(timeout=seconds)
        with _calls("connecting to Docker"):
            probe = client(ping_timeout)
            try:
                probe.ping()
            finally:
                probe.close()
            return cls(client(timeout))

    def close(self) -> None:
        self._client.close()  # type: ignore[attr-defined]

    # -- what it is ---------------------------------------------------------------
    def info(self) -> dict:
        with _calls("docker info"):
            return self._api.info()

    def describe(self) -> str:
        info = self.info()
        return (f"labkit engine: docker (Docker {info.get('ServerVersion', '?')}, storage driver "
                f"{info.get('Driver', '?')})")

    # -- images -------------------------------------------------------------------
    def _ref_of(self, image: ImageRef | str) -> ImageRef:
        name = image.id if isinstance(image, ImageRef) else image
        with _calls(f"image {name}"):
            attrs = self._api.inspect_image(name)
        return ImageRef(attrs["Id"], tuple(attrs.get("RepoTags") or ()), self.name)

    def diff_ids(self, image: ImageRef | str) -> tuple[str, ...]:
        name = image.id if isinstance(image, ImageRef) else image
        with _calls(f"image {name}"):
            return tuple(self._api.inspect_image(name)["RootFS"]["Layers"])

    def layer_storage(self, image: ImageRef | str) -> LayerStorage:
        """The storage driver, and for overlay2 each layer's ``diff`` directory (from the image's
        ``GraphDriver`` data: ``LowerDir`` lists them top first, ``UpperDir`` is the top one)."""
        name = image.id if isinstance(image, ImageRef) else image
        with _calls(f"image {name}"):
            graph = self._api.inspect_image(name).get("GraphDriver") or {}
        driver, data = graph.get("Name") or "", graph.get("Data") or {}
        if driver != "overlay2" or not data.get("UpperDir"):
            return LayerStorage(driver)
        lowers = [Path(p) for p in (data.get("LowerDir") or "").split(":") if p]
        return LayerStorage(driver, (*reversed(lowers), Path(data["UpperDir"])))

    def load(self, source: str | Path) -> list[ImageRef]:
        names: list[str] = []
        with _calls(f"docker load {source}"), open(source, "rb") as fh:
            for ev in self._api.load_image(fh):
                if ev.get("error"):
                    raise EngineError(f"docker load {source} failed: {ev['error']}",
                                      fix="load a tar written by docker save (or engine.save)")
                text = str(ev.get("stream") or "").strip()
                for prefix in ("Loaded image ID: ", "Loaded image: "):
                    if text.startswith(prefix):
                        names.append(text[len(prefix):].strip())
        refs: dict[str, ImageRef] = {}
        for name in names:
            ref = self.ref(name)
            refs[ref.id] = ref
        return list(refs.values())

    # -- registries (labkit.daemon.registry.RealRegistry: a real docker-registry) ----------
    @staticmethod
    def _real(registry, verb: str) -> str:
        """The address of a running RealRegistry; a clear error for anything else."""
        kind = getattr(registry, "kind", "")
        if kind == "model":
            raise EngineError("the registry model serves the simulator engine only",
                              fix="on Docker use RealRegistry (open_registry(engine))")
        if kind != "docker-registry" or not getattr(registry, "running", False):
            raise EngineError(f"docker {verb} needs a running labkit.RealRegistry",
                              fix="with open_registry(engine) as registry: ... (it starts and stops it)")
        return registry.address

    def push(self, image: ImageRef | str, registry, name: str) -> TransferResult:
        """``docker push`` through a temporary ``<registry address>/<name>`` tag (removed again
        when the image has another name); each layer's last progress word, found by diffID."""
        address = self._real(registry, "push")
        ref = self.ref(image)
        repo, _, tag = f"{address}/{name}".rpartition(":")
        with _calls(f"docker push {name}"):
            attrs = self._api.inspect_image(ref.id)
            if not self._owned(attrs):
                raise EngineError(f"image {ref.short_id} is not a labkit image",
                                  fix="labkit pushes only images it built (label org.labkit.managed=true)")
            self._api.tag(ref.id, repo, tag)
            try:
                last = _progress(self._api.push(repo, tag, stream=True, decode=True), f"push of {name}")
            finally:
                if len(attrs.get("RepoTags") or []) >= 1:      # other names keep the image
                    self._api.remove_image(f"{repo}:{tag}", noprune=True)
        statuses = tuple(last.get(d.split(":", 1)[1][:12], "") for d in attrs["RootFS"]["Layers"])
        return TransferResult(ref, statuses)

    def pull(self, registry, name: str) -> TransferResult:
        """``docker pull`` from the registry, then renamed to ``name`` (the registry's address
        dropped); each layer's last progress word, found by the manifest's blob digests."""
        address = self._real(registry, "pull")
        blobs = registry.manifest(name)["layers"]
        repo, _, tag = f"{address}/{name}".rpartition(":")
        local_repo, _, local_tag = name.rpartition(":")
        with _calls(f"docker pull {name}"):
            last = _progress(self._api.pull(repo, tag, stream=True, decode=True), f"pull of {name}")
            image_id = self._api.inspect_image(f"{repo}:{tag}")["Id"]
            self._api.tag(image_id, local_repo, local_tag)      # the session name labkit uses
            self._api.remove_image(f"{repo}:{tag}", noprune=True)   # drop the registry's name
        statuses = tuple(last.get(b["digest"].split(":", 1)[1][:12], "") for b in blobs)
        return TransferResult(self.ref(image_id), statuses)

    def _owned(self, attrs: Mapping) -> bool:
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        return labels.get(LABEL) == "true"

    def base_image(self) -> ImageRef:
        diff_id = baseimage.base_diff_id()   # made once per busybox file, then cached
        tag = baseimage.base_tag(diff_id)
        with _calls("looking for the base image"):
            found = self._api.images(name=tag, quiet=True)
        if not found:
            self._load_base(baseimage.base_layer_tar(), diff_id, tag)
        with _calls("tagging the base image"):  # Dockerfiles say FROM labkit/base
            self._api.tag(tag, baseimage.BASE_REPO, "latest")
        return self.ref(tag)

    def _load_base(self, data: bytes, diff_id: str, tag: str) -> None:
        with tempfile.TemporaryDirectory(prefix="labkit-base-") as tmp:
            dest = Path(tmp) / "base.tar"
            write_image_tar([data], baseimage.base_config(diff_id, {LABEL: "true"}), dest,
                            repo_tags=(tag,))
            with _calls("loading the base image"), open(dest, "rb") as fh:
                self._client.images.load(fh)  # type: ignore[attr-defined]

    def build(self, context: str | Path, *, dockerfile: str = "Dockerfile", tag: str | None = None,
              no_cache: bool = False, buildargs: Mapping[str, str] | None = None,
              on_event: Callable[[object], None] | None = None, squash: bool = False):
        self._check_local_bases(Path(context), dockerfile, buildargs or {})
        events = []
        name = session.qualify(tag) if tag else None
        with _calls("docker build"):
            stream = self._api.build(path=str(context), dockerfile=dockerfile, tag=name,
                                     nocache=no_cache, buildargs=dict(buildargs or {}), rm=True,
                                     forcerm=True, network_mode="none", labels=_labels(),
                                     decode=True, squash=squash or None)
            for event in parse_docker_stream(stream):
                events.append(event)
                if on_event:
                    on_event(event)
        record = record_from_events(events, engine=self.name)
        if record.failure is not None or record.image is None:
            self._remove_half_built(record)
            raise _build_error(record, Path(context) / dockerfile)
        return self._with_step_sizes(_with_image(record, self.ref(record.image.id)), squashed=squash)

    def _check_local_bases(self, context: Path, dockerfile: str, buildargs: Mapping[str, str]) -> None:
        """Refuse, before the daemon sees it, a FROM or ``COPY --from`` image this daemon does
        not have: the daemon would try to pull it, and labkit's builds never touch a network.
        A Dockerfile labkit cannot parse is left to the daemon (its error is the one to show)."""
        import docker.errors
        try:
            df = parse((context / dockerfile).read_text(), build_args=dict(buildargs))
        except (LabkitError, OSError, UnicodeDecodeError):
            return
        wanted: list[tuple[str, int]] = []
        for st in df.stages:
            if st.base_stage is None and st.base.lower() != "scratch":
                wanted.append((st.base, st.line))
            for ins in st.instructions:
                ref = ins.flag("from") if ins.keyword == "COPY" else None
                if ref and "$" not in ref and not ref.isdigit() and find_stage(df.stages[:st.index], ref) is None:
                    wanted.append((ref, ins.line))
        for ref, line in wanted:
            if "$" in ref:
                continue
            if ref.split(":")[0] == baseimage.BASE_REPO:
                self.base_image()          # labkit's own base is built when missing, as on the simulator
            try:
                with _calls(f"docker image inspect {ref}"):
                    self._api.inspect_image(ref)
            except EngineError as exc:
                if isinstance(exc.__context__, docker.errors.NotFound) or "not found" in str(exc):
                    raise BuildError(f"{ref}: no such image on this daemon, and labkit builds never "
                                     "pull (no network)", line=line,
                                     fix="build or load that image first, or start FROM labkit/base "
                                         "(engine.base_image())") from None
                raise

    def _history_sizes(self, image: ImageRef | str) -> list[int]:
        name = image.id if isinstance(image, ImageRef) else image
        with _calls(f"docker history {name}"):  # one row per history entry, no save needed
            return [int(row.get("Size", 0)) for row in reversed(self._api.history(name))]

    def _remove_half_built(self, record) -> None:
        """A failed build leaves the images of the steps it did build, without labkit's session
        label (the classic builder appends the LABEL steps last; FROM scratch they carry no
        label at all). Remove exactly those: made by this build (not cache hits), untagged."""
        import docker.errors
        for step in reversed(record.steps):
            if step.cached or not step.image_id or step.keyword == "FROM":
                continue
            try:
                attrs = self._api.inspect_image(step.image_id)
                if attrs.get("RepoTags"):
                    continue
                self._api.remove_image(attrs["Id"], noprune=True)
            except docker.errors.APIError:  # gone already, or a child depends on it: leave it
                continue

    def history(self, image: ImageRef | str) -> list[HistoryEntry]:
        """Newest first, like ``docker history``; each entry mapped to its layer by the config."""
        name = image.id if isinstance(image, ImageRef) else image
        config = self.config(image)
        with _calls(f"docker history {name}"):
            rows = self._api.history(name)[::-1]  # the API lists one row per config entry
        entries = config.get("history", [])
        if len(rows) != len(entries):
            raise EngineError(f"docker history {name}: {len(rows)} rows but the config has "
                              f"{len(entries)} history entries")
        out: list[HistoryEntry] = []
        index = 0
        for h, row in zip(entries, rows):
            empty = bool(h.get("empty_layer"))
            out.append(HistoryEntry(h.get("created_by", ""), empty, 0 if empty else int(row.get("Size", 0)),
                                    None if empty else index, h.get("created", "")))
            index += 0 if empty else 1
        return out[::-1]

    def config(self, image: ImageRef | str) -> dict:
        """The image's config JSON (history with empty_layer, rootfs.diff_ids), read from a save."""
        name = image.id if isinstance(image, ImageRef) else image
        with _calls(f"docker save {name}"):
            chunks = self._api.get_image(name)
            with tempfile.TemporaryFile() as fh:
                for chunk in chunks:
                    fh.write(chunk)
                fh.seek(0)
                with tarfile.open(fileobj=fh, mode="r:") as tar:
                    manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
                    return json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]

    def save(self, image: ImageRef | str, dest: str | Path) -> Path:
        name = image.id if isinstance(image, ImageRef) else image
        dest = Path(dest)
        with _calls(f"docker save {name}"), open(dest, "wb") as fh:
            for chunk in self._api.get_image(name):
                fh.write(chunk)
        return dest

    # -- containers ---------------------------------------------------------------
    def run(self, image: ImageRef | str, command: str | Sequence[str], *, keep: bool = True) -> RunResult:
        name = image.id if isinstance(image, ImageRef) else image
        cmd = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        with _calls(f"docker run {name}"):
            cid = self._api.create_container(
                name, cmd, labels=_labels(), network_disabled=True,
                host_config=self._api.create_host_config(network_mode="none"))["Id"]
            try:
                self._api.start(cid)
                code = self._api.wait(cid, timeout=300)["StatusCode"]
                output = self._api.logs(cid).decode("utf-8", "replace")
            except BaseException:
                self._api.remove_container(cid, force=True)
                raise
            if not keep:
                self._api.remove_container(cid, force=True)
        return RunResult(cid, code, output)

    def exec(self, container: str, command: str | Sequence[str]) -> RunResult:
        cmd = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        with _calls(f"docker exec {container[:12]}"):
            self._check_owned_container(container)
            if not self._api.inspect_container(container)["State"]["Running"]:
                raise EngineError(f"container {container[:12]} has stopped; exec needs a running one",
                                  fix="make one with engine.start(image), or chain commands: "
                                      "engine.run(image, 'cmd1 && cmd2')")
            eid = self._api.exec_create(container, cmd)["Id"]
            out = self._api.exec_start(eid).decode("utf-8", "replace")
            code = self._api.exec_inspect(eid)["ExitCode"]
        return RunResult(container, code, out)

    def start(self, image: ImageRef | str) -> str:
        """A long-lived container (it sleeps) to exec into, write to and diff step by step."""
        name = image.id if isinstance(image, ImageRef) else image
        with _calls(f"docker run -d {name}"):
            cid = self._api.create_container(
                name, ["/bin/sh", "-c", "exec sleep 86400"], labels=_labels(), network_disabled=True,
                host_config=self._api.create_host_config(network_mode="none"))["Id"]
            self._api.start(cid)
        return cid

    def diff(self, container: str) -> list[Change]:
        with _calls(f"docker diff {container[:12]}"):
            rows = self._api.diff(container) or []
        return sorted((Change(_KIND[r["Kind"]], r["Path"]) for r in rows), key=lambda c: c.path)

    def container_size(self, container: str) -> ContainerSize:
        with _calls(f"docker ps -s {container[:12]}"):
            rows = self._api.containers(all=True, size=True, filters={"id": container})
            if not rows:
                raise EngineError(f"container {container[:12]}: not found")
            attrs = rows[0]
        return ContainerSize(int(attrs.get("SizeRw") or 0), int(attrs.get("SizeRootFs") or 0))

    def commit(self, container: str, tag: str | None = None) -> ImageRef:
        name = session.qualify(tag) if tag else None
        repo, _, version = (name or "").rpartition(":")
        with _calls(f"docker commit {container[:12]}"):
            self._check_owned_container(container)
            res = self._api.commit(container, repository=repo or None, tag=version or None,
                                   conf={"Labels": _labels()})
        return self.ref(res["Id"])

    def _check_owned_container(self, container: str) -> None:
        attrs = self._api.inspect_container(container)
        if (attrs.get("Config", {}).get("Labels") or {}).get(LABEL) != "true":
            raise EngineError(f"container {container[:12]} was not made by labkit; labkit leaves it alone")

    # -- naming and cleaning ----------------------------------------------------
    def tag(self, image: ImageRef | str, tag: str) -> ImageRef:
        ref = self.ref(image)
        name = session.qualify(tag)
        repo, _, version = name.rpartition(":")
        with _calls(f"docker tag {name}"):
            if not self._owned(self._api.inspect_image(ref.id)):
                raise EngineError(f"image {ref.short_id} was not made by labkit; labkit does not tag it")
            self._api.tag(ref.id, repo, version)
        return self.ref(ref.id)

    def images(self) -> list[ImageRef]:
        with _calls("docker images"):
            rows = self._api.images(filters={"label": f"{LABEL}=true"})
        return [ImageRef(r["Id"], tuple(t for t in (r.get("RepoTags") or ()) if t != "<none>:<none>"),
                         self.name) for r in rows]

    def remove(self, ref: ImageRef | str) -> None:
        import docker.errors
        name = ref.id if isinstance(ref, ImageRef) else ref
        with _calls(f"removing {name}"):
            try:
                attrs = self._api.inspect_container(name)
            except docker.errors.NotFound:
                attrs = None  # not a container: an image, then
            if attrs is not None:
                if (attrs["Config"].get("Labels") or {}).get(LABEL) != "true":
                    raise EngineError(f"container {name} was not made by labkit; labkit leaves it alone")
                self._api.remove_container(attrs["Id"], force=True)
                return
            attrs = self._api.inspect_image(name)
            if not self._owned(attrs):
                raise EngineError(f"image {name} was not made by labkit; labkit leaves it alone")
            self._api.remove_image(attrs["Id"], force=True)

    def clean(self, *, session_only: bool = False, dry_run: bool = False) -> list[str]:
        """Remove containers, images, volumes and networks carrying labkit's label (only those)."""
        label = f"{LABEL}=true"
        labels = [label] + ([f"{SESSION_LABEL}={session.session_id()}"] if session_only else [])
        removed: list[str] = []
        with _calls("labkit clean"):
            for c in self._api.containers(all=True, filters={"label": labels}):
                removed.append(f"container {c['Id'][:12]}")
                if not dry_run:
                    self._api.remove_container(c["Id"], force=True)
            removed += self._remove_images(self._api.images(all=True, filters={"label": labels}),
                                           dry_run)
            if session_only:
                removed += self._clean_orphans(label, dry_run)
            for v in (self._api.volumes(filters={"label": labels}) or {}).get("Volumes") or []:
                removed.append(f"volume {v['Name']}")
                if not dry_run:
                    self._api.remove_volume(v["Name"], force=True)
            for n in self._api.networks(filters={"label": labels}):
                removed.append(f"network {n['Name']}")
                if not dry_run:
                    self._api.remove_network(n["Id"])
        return removed


    def _remove_images(self, rows: list, dry_run: bool) -> list[str]:
        """Remove these images, children before the images they are built on: the daemon
        refuses a parent while a child exists (even forced), and ``Created`` does not give
        that order (a build that hits the cache reuses an older image). Each pass removes
        what it can; only what was really removed is reported."""
        import docker.errors
        def shown(r: dict) -> str:
            tags = " ".join(t for t in r.get("RepoTags") or [] if t != "<none>:<none>")
            return f"image {r['Id'].split(':')[-1][:12]} {tags}".rstrip()
        if dry_run:
            return [shown(r) for r in rows]
        out: list[str] = []
        pending = {r["Id"]: r for r in rows}
        while pending:
            progress = False
            for image_id, r in list(pending.items()):
                try:
                    self._api.remove_image(image_id, force=True)
                except docker.errors.NotFound:
                    del pending[image_id]          # pruned with a child already
                    progress = True
                    continue
                except docker.errors.APIError:
                    continue                        # a child is still there: next pass
                out.append(shown(r))
                del pending[image_id]
                progress = True
            if not progress:
                break
        return out

    def _clean_orphans(self, label: str, dry_run: bool) -> list[str]:
        """labkit's untagged images that nothing is built on any more. A build's last steps
        are labkit's LABELs (managed first, session last), so removing a session's images can
        leave the managed-only step behind when another build hung on it at the time; it
        carries no session label, and no session clean would ever find it. Only images that
        ARE that step (their newest history entry is labkit's own LABEL), untagged, and leaves
        (no image has them as parent; the daemon refuses one a container uses): an image
        someone else built FROM labkit's base inherits the label but is never one of them."""
        import docker.errors
        removed: list[str] = []
        for _ in range(4):
            everything = self._api.images(all=True)
            parents = {r.get("ParentId") for r in everything}
            mine = self._api.images(all=True, filters={"label": label, "dangling": True})
            leaves = [r for r in mine if r["Id"] not in parents
                      and not [t for t in r.get("RepoTags") or [] if t != "<none>:<none>"]
                      and self._is_label_step(r["Id"], label)]
            if not leaves:
                break
            for r in leaves:
                removed.append(f"image {r['Id'].split(':')[-1][:12]} (untagged, built on by nothing)")
                if not dry_run:
                    with contextlib.suppress(docker.errors.APIError):
                        self._api.remove_image(r["Id"])
            if dry_run:
                break
        return removed


    def _is_label_step(self, image_id: str, label: str) -> bool:
        import docker.errors
        try:
            newest = self._api.history(image_id)[0]
        except (docker.errors.APIError, IndexError):
            return False
        return newest.get("CreatedBy", "").endswith(f"#(nop)  LABEL {label}")


def _progress(stream, what: str) -> dict[str, str]:
    """Docker's push/pull progress stream: the last status per progress id (a layer's short
    digest); raises on an error event."""
    last: dict[str, str] = {}
    for ev in stream:
        if ev.get("error"):
            raise EngineError(f"{what} failed: {ev['error']}",
                              fix="check the registry is running (RealRegistry) and the name")
        if ev.get("id") and ev.get("status"):
            last[ev["id"]] = ev["status"]
    return last


def _build_error(record, dockerfile: Path) -> BuildError:
    """The same error the simulator raises for a failed build: step, line, exit code, output."""
    failure = record.failure
    step = failure.step if failure else None
    instruction, line = "", None
    if step is not None:
        instruction = next((s.instruction for s in record.steps if s.n == step), "")
        try:
            steps = list(parse(dockerfile.read_text()).steps())
            if 0 < step <= len(steps):
                line = steps[step - 1][1].line
        except (LabkitError, OSError):
            pass
    message = failure.message if failure else "the build produced no image"
    where = f"step {step}" + (f" (Dockerfile line {line})" if line else "") if step else "the build"
    err = BuildError(f"{where} failed: {message}", step=step, instruction=instruction,
                     exit_code=failure.exit_code if failure else None,
                     output=failure.output if failure else "", line=line, reason=message,
                     fix="read the step's output; fix the instruction and build again")
    err.record = record  # type: ignore[attr-defined]
    return err


def _with_image(record, ref: ImageRef):
    from dataclasses import replace
    return replace(record, image=ref)
