"""Distribution: a registry stores blobs by digest and manifests by tag; push and pull move
only the layer blobs the other side does not have.

Two registries behind the same verbs:

* ``Registry`` — a small in-memory model (standard library only): blobs keyed by the digest
  of their bytes (layers gzip-compressed, like a push stores them), manifests keyed by
  ``repo:tag``. ``push_image`` uploads what is missing; ``plan_pull`` says which layers a
  puller with some layers already (by chainID) must download.
* ``RealRegistry`` — Debian's ``docker-registry`` binary started on ``127.0.0.1`` (a free
  port, a temp storage dir, a temp config), stopped and removed on exit, always.

``push(engine, registry, image, name)`` and ``pull(engine, registry, name)`` work on either
engine: the simulator with the model, the Docker engine with the real registry (the daemon
reports "Pushed" / "Layer already exists" and "Pull complete" / "Already exists"; the model
reports the same words). Only labkit-labelled images are pushed or pulled.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ..engine import session
from ..engine.base import Engine
from ..errors import EngineError, EngineUnavailable, ImageError
from ..values import LABEL, ImageRef, instruction_of

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"

# Docker's own words in push/pull progress events
PUSHED, PUSH_EXISTS = "Pushed", "Layer already exists"
PULLED, PULL_EXISTS = "Pull complete", "Already exists"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _chain_ids(diff_ids: Sequence[str]) -> list[str]:
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else _digest(f"{out[-1]} {d}".encode()))
    return out


# --------------------------------------------------------------------------- values

@dataclass(frozen=True)
class LayerTransfer:
    """One layer of a push or pull: whether its blob moved, in Docker's words."""
    index: int                 # 0 = bottom
    diff_id: str
    status: str                # "Pushed" | "Layer already exists" | "Pull complete" | "Already exists"
    instruction: str = ""      # what made the layer (from the history), when known

    @property
    def transferred(self) -> bool:
        return self.status in (PUSHED, PULLED)


@dataclass(frozen=True)
class TransferReport:
    """What a push or a pull moved, layer by layer (bottom first)."""
    action: str                # "push" | "pull"
    name: str                  # "repo:tag" inside the registry
    layers: tuple[LayerTransfer, ...]
    image: ImageRef | None = None

    @property
    def transferred(self) -> int:
        return sum(1 for layer in self.layers if layer.transferred)

    @property
    def skipped(self) -> int:
        return len(self.layers) - self.transferred

    @property
    def statuses(self) -> tuple[str, ...]:
        return tuple(layer.status for layer in self.layers)

    def __str__(self) -> str:
        lines = [f"{self.action} {self.name}: {self.transferred} of {len(self.layers)} layer(s) "
                 f"transferred, {self.skipped} skipped"]
        for layer in self.layers:
            what = f"  {layer.instruction[:50]}" if layer.instruction else ""
            lines.append(f"  layer {layer.index}: {layer.status:<20}{what}")
        return "\n".join(lines)

    __repr__ = __str__


# --------------------------------------------------------------------------- the model

def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


class Registry:
    """An in-memory registry: blobs by digest, manifests by ``repo:tag``.

    Mutable on purpose (it is a server): ``push_image`` stores what is missing and reports,
    per layer, "Pushed" or "Layer already exists"; config and manifest are blobs too, as on
    disk in the real registry, so ``blob_count()`` agrees with it.
    """

    kind = "model"

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._tags: dict[str, str] = {}          # "repo:tag" -> manifest digest

    def start(self) -> "Registry":
        return self

    def stop(self) -> None:
        self._blobs.clear()
        self._tags.clear()

    def __enter__(self) -> "Registry":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def describe(self) -> str:
        return "registry: labkit's in-memory registry model"

    def blob_count(self) -> int:
        return len(self._blobs)

    def has_blob(self, digest: str) -> bool:
        return digest in self._blobs

    def tags(self) -> list[str]:
        return sorted(self._tags)

    def _put(self, data: bytes) -> str:
        d = _digest(data)
        self._blobs.setdefault(d, data)
        return d

    def push_image(self, layers: Sequence[bytes], config: Mapping, name: str,
                   instructions: Sequence[str] = ()) -> TransferReport:
        """Push an image given as its uncompressed layer tars (bottom first) and its config."""
        name = _full(name)
        out, descriptors = [], []
        for i, raw in enumerate(layers):
            blob = _gzip(raw)
            d = _digest(blob)
            status = PUSH_EXISTS if d in self._blobs else PUSHED
            self._blobs.setdefault(d, blob)
            descriptors.append({"mediaType": LAYER_TYPE, "size": len(blob), "digest": d})
            out.append(LayerTransfer(i, _digest(raw), status, _at(instructions, i)))
        config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE,
                    "config": {"mediaType": CONFIG_TYPE, "size": len(config_bytes),
                               "digest": self._put(config_bytes)},
                    "layers": descriptors}
        self._tags[name] = self._put(json.dumps(manifest, indent=3).encode())
        return TransferReport("push", name, tuple(out))

    def manifest(self, name: str) -> dict:
        name = _full(name)
        if name not in self._tags:
            raise ImageError(f"no manifest {name!r} in the registry",
                             fix=f"push it first; the registry has {self.tags() or 'nothing'}")
        return json.loads(self._blobs[self._tags[name]])

    def config(self, name: str) -> dict:
        return json.loads(self._blobs[self.manifest(name)["config"]["digest"]])

    def layer_tar(self, digest: str) -> bytes:
        """A layer blob, uncompressed (what a puller unpacks)."""
        return gzip.decompress(self._blobs[digest])

    def plan_pull(self, name: str, have_chain_ids: Iterable[str]) -> TransferReport:
        """Which layers of ``name`` a puller must download, given the chainIDs it already has."""
        return _plan(_full(name), self.config(name), set(have_chain_ids))


def _plan(name: str, config: Mapping, have: set[str]) -> TransferReport:
    diff_ids = list(config.get("rootfs", {}).get("diff_ids", []))
    made = [h.get("created_by", "") for h in config.get("history", []) if not h.get("empty_layer")]
    out = [LayerTransfer(i, d, PULL_EXISTS if c in have else PULLED, _at(made, i, raw=True))
           for i, (d, c) in enumerate(zip(diff_ids, _chain_ids(diff_ids)))]
    return TransferReport("pull", name, tuple(out))


def _at(items: Sequence[str], i: int, *, raw: bool = False) -> str:
    if i >= len(items):
        return ""
    return instruction_of(items[i]) if raw else items[i]


def _full(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


# --------------------------------------------------------------------------- the real one

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RealRegistry:
    """Debian's ``docker-registry`` on 127.0.0.1:<free port>, storage in a temp dir.

    A context manager: ``__exit__`` (and ``stop()``) terminates the process and removes the
    temp dir, whatever happened inside. Docker accepts plain HTTP to 127.0.0.0/8 registries
    (``docker info``: insecure registries ``127.0.0.0/8``), so no TLS is needed.
    """

    kind = "docker-registry"
    BINARY = "docker-registry"

    def __init__(self, *, binary: str | None = None, start_timeout: float = 15) -> None:
        self.binary = binary or shutil.which(self.BINARY) or ""
        self.start_timeout = start_timeout
        self.port = 0
        self.dir: Path | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def storage(self) -> Path:
        assert self.dir is not None
        return self.dir / "storage"

    def describe(self) -> str:
        return f"registry: docker-registry on {self.address}, storage {self.storage}"

    @classmethod
    def available(cls) -> bool:
        return shutil.which(cls.BINARY) is not None

    def start(self) -> "RealRegistry":
        if not self.binary:
            raise EngineUnavailable("the docker-registry program is not installed",
                                    fix="apt-get install docker-registry (Debian/Ubuntu)")
        self.dir = Path(tempfile.mkdtemp(prefix="labkit-registry-"))
        try:
            self.port = _free_port()
            config = self.dir / "config.yml"
            config.write_text("version: 0.1\nlog:\n  level: error\n"
                              f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n"
                              "  delete:\n    enabled: true\n"
                              f"http:\n  addr: {self.address}\n")
            log = open(self.dir / "registry.log", "wb")
            try:
                self._proc = subprocess.Popen([self.binary, "serve", str(config)], stdout=log,
                                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            finally:
                log.close()
            self._wait_ready()
            import atexit
            atexit.register(self.stop)      # a notebook kernel that dies still stops it
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                text = (self.dir / "registry.log").read_text(errors="replace")[-500:]
                raise EngineError(f"docker-registry exited at start (code {self._proc.returncode}): {text}",
                                  fix="run it by hand with the same config to see why")
            try:
                with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise EngineError(f"docker-registry did not answer on {self.address} within "
                          f"{self.start_timeout:.0f} s", fix="check that 127.0.0.1 ports can be bound")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> "RealRegistry":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- reading what it stores --------------------------------------------------
    def blob_count(self) -> int:
        """Blob files on disk (layers, configs and manifests all live under blobs/)."""
        root = self.storage / "docker" / "registry" / "v2" / "blobs"
        return sum(1 for _ in root.glob("sha256/*/*/data")) if root.exists() else 0

    def has_blob(self, digest: str) -> bool:
        hexd = digest.split(":", 1)[-1]
        return (self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data").exists()

    def _get(self, path: str, accept: str | None = None) -> bytes:
        req = urllib.request.Request(f"http://{self.address}/v2/{path}",
                                     headers={"Accept": accept} if accept else {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.read()
        except urllib.error.HTTPError as exc:
            raise ImageError(f"registry {self.address}: GET /v2/{path} answered {exc.code}",
                             fix="push the image first") from None

    def manifest(self, name: str) -> dict:
        repo, _, tag = _full(name).rpartition(":")
        return json.loads(self._get(f"{repo}/manifests/{tag}", MANIFEST_TYPE))

    def config(self, name: str) -> dict:
        repo = _full(name).rpartition(":")[0]
        return json.loads(self._get(f"{repo}/blobs/{self.manifest(name)['config']['digest']}"))

    def plan_pull(self, name: str, have_chain_ids: Iterable[str]) -> TransferReport:
        return _plan(_full(name), self.config(name), set(have_chain_ids))


# --------------------------------------------------------------------------- engines

def open_registry(engine: Engine) -> Registry | RealRegistry:
    """The registry for this engine, not yet started: use it in a ``with`` block."""
    return RealRegistry() if engine.name == "docker" else Registry()


def plain_http_allowed(engine: Engine) -> bool:
    """Whether the engine may talk plain HTTP to a registry on 127.0.0.1: the daemon's own
    answer (``docker info``: insecure registry CIDRs) on Docker; the model needs no TLS."""
    if engine.name != "docker":
        return True
    cidrs = (engine.info().get("RegistryConfig") or {}).get("InsecureRegistryCIDRs") or []   # type: ignore[attr-defined]
    import ipaddress
    return any(ipaddress.ip_address("127.0.0.1") in ipaddress.ip_network(c) for c in cidrs)


def registry_name(name: str) -> str:
    """A learner's short name ("app:v1") as labkit stores it in a registry: session-qualified."""
    return session.qualify(name)


def local_chain_ids(engine: Engine) -> set[str]:
    """chainIDs of every layer of every image labkit made on this engine."""
    have: set[str] = set()
    for ref in engine.images():
        have.update(_chain_ids(engine.diff_ids(ref)))
    return have


def _instructions(engine: Engine, ref: ImageRef) -> list[str]:
    return [instruction_of(h.created_by) for h in sorted(
        (h for h in engine.history(ref) if h.layer_index is not None), key=lambda h: h.layer_index)]


def _labelled(config: Mapping) -> bool:
    return ((config.get("config") or {}).get("Labels") or {}).get(LABEL) == "true"


def push(engine: Engine, registry: Registry | RealRegistry, image: ImageRef | str,
         name: str) -> TransferReport:
    """Push a labkit image to ``registry`` as ``name`` (session-qualified); report per layer.

    The simulator pushes to the model, Docker to a RealRegistry (``open_registry(engine)``);
    a real daemon's "Mounted from <repo>" is reported as "Layer already exists"."""
    target = registry_name(name)
    done = engine.push(image, registry, target)
    made = _instructions(engine, done.image)
    layers = tuple(LayerTransfer(i, d, PUSH_EXISTS if s.startswith("Mounted from") else s, _at(made, i))
                   for i, (d, s) in enumerate(zip(engine.diff_ids(done.image), done.statuses)))
    return TransferReport("push", _full(target), layers, done.image)


def pull(engine: Engine, registry: Registry | RealRegistry, name: str) -> TransferReport:
    """Pull ``name`` from ``registry`` into the engine; report which layers were downloaded."""
    target = registry_name(name)
    config = registry.config(target)
    if not _labelled(config):
        raise EngineError(f"{target} in the registry is not a labkit image",
                          fix="labkit pulls only images carrying org.labkit.managed=true")
    done = engine.pull(registry, target)
    made = [h.get("created_by", "") for h in config.get("history", []) if not h.get("empty_layer")]
    layers = tuple(LayerTransfer(i, d, s, _at(made, i, raw=True))
                   for i, (d, s) in enumerate(zip(config["rootfs"]["diff_ids"], done.statuses)))
    return TransferReport("pull", _full(target), layers, done.image)


# --------------------------------------------------------------------------- picture

def transfer_diagram(*reports: TransferReport, title: str = ""):
    """Each report as a column of layers (base at the bottom): blue = transferred, grey = skipped.

    Returns a ``graphviz.Digraph`` (graphviz is imported here, on first use).
    """
    import graphviz
    dot = graphviz.Digraph("transfers", graph_attr={"rankdir": "BT", "label": title, "labelloc": "t",
                                                    "fontname": "Helvetica", "nodesep": "0.4"},
                           node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica",
                                      "fontsize": "10", "width": "3"})
    for n, report in enumerate(reports):
        with dot.subgraph(name=f"cluster_{n}") as col:
            col.attr(label=f"{report.action} {report.name.rsplit('/', 1)[-1]}", fontname="Helvetica")
            previous = None
            for layer in report.layers:
                node = f"r{n}l{layer.index}"
                what = layer.instruction[:36].replace("\\", "\\\\").replace('"', "'")
                col.node(node, f"layer {layer.index}: {layer.status}\n{what}",
                         fillcolor="#9ecae1" if layer.transferred else "#eeeeee")
                if previous:
                    col.edge(previous, node, arrowhead="none")
                previous = node
    return dot
