"""Storage drivers and disk use: what an image costs on disk under overlay2 and under vfs.

The model (standard library only): overlay2 keeps each layer's *diff* in its own directory;
vfs has no union filesystem, so each layer's directory is a full copy of the image's tree up
to that layer. ``model_use(layers)`` gives the bytes per layer both ways (file content, each
hard-link group once, symlink targets' lengths, as ``docker history`` counts).

The measurement (Docker engine, root): the main daemon's overlay2 layer directories, read from
the image's ``GraphDriver`` data, and a SECOND dockerd started by ``SecondDaemon`` with
``--storage-driver vfs`` on its own temp data-root, exec-root, pidfile and socket, into which
the same image is loaded. The second daemon is always stopped and its directories removed;
the main daemon's data is only read.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..engine.base import Engine
from ..engine.docker import DockerEngine
from ..errors import EngineError, EngineUnavailable
from ..fs.layers import merge, size_on_disk
from ..fs.node import LayerDir
from ..oci.image import chain_ids
from ..values import ImageRef, instruction_of

DRIVERS = ("overlay2", "vfs")


def model_use(layers: Sequence[LayerDir], driver: str) -> list[int]:
    """Bytes each layer's directory holds under ``driver`` (bottom first)."""
    if driver == "overlay2":
        return [size_on_disk(layer) for layer in layers]
    if driver == "vfs":
        return [size_on_disk(merge(layers[:i + 1])) for i in range(len(layers))]
    raise EngineError(f"storage driver {driver!r} is not modelled", fix=f"use one of {DRIVERS}")


def measure_dir(root: str | Path) -> int:
    """The same count on a real directory: regular files' sizes (each inode once) plus symlink
    target lengths; whiteouts (char devices) and directories count 0."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            st = os.lstat(os.path.join(dirpath, name))
            if os.path.islink(os.path.join(dirpath, name)):
                total += st.st_size
            elif os.path.isfile(os.path.join(dirpath, name)) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def human(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


# --------------------------------------------------------------------------- values

@dataclass(frozen=True)
class LayerUse:
    index: int
    instruction: str
    model: dict                     # driver -> modelled bytes
    measured: dict                  # driver -> measured bytes (empty when not measured)


@dataclass(frozen=True)
class StorageReport:
    """Model (and, on Docker as root, measurement) of one image under overlay2 and vfs."""
    layers: tuple[LayerUse, ...]
    measured_why: str               # "" when measured, else why not

    def total(self, driver: str, *, measured: bool = False) -> int:
        return sum((l.measured if measured else l.model).get(driver, 0) for l in self.layers)

    @property
    def is_measured(self) -> bool:
        return not self.measured_why

    @property
    def agrees(self) -> bool:
        """Every measured layer directory holds exactly the bytes the model says."""
        return self.is_measured and all(l.model[d] == l.measured[d] for l in self.layers for d in DRIVERS)

    def ratio(self, *, measured: bool = False) -> float:
        o = self.total("overlay2", measured=measured)
        return self.total("vfs", measured=measured) / o if o else 0.0

    def conclusions(self) -> str:
        """Engine-independent statements (measured when possible, else the model's)."""
        m = self.is_measured
        return "\n".join([
            f"vfs uses more than overlay2: {self.total('vfs', measured=m) > self.total('overlay2', measured=m)}",
            f"each vfs layer holds at least as much as the one below it: "
            f"{all(a.model['vfs'] <= b.model['vfs'] for a, b in zip(self.layers, self.layers[1:]))}",
        ])

    def table(self, *, measured: bool = False) -> str:
        """One line per layer; no column padding, so machine-dependent sizes never shift text."""
        src = "measured" if measured else "model"
        rows = [f"bytes per layer directory ({src}), bottom first:"]
        for l in self.layers:
            vals = l.measured if measured else l.model
            over = human(vals.get("overlay2", 0)) + (" (incl. base)" if l.index == 0 else "")
            rows.append(f"  layer {l.index}: overlay2 {over} | vfs {human(vals.get('vfs', 0))} (incl. base)"
                        f" | {l.instruction[:45]}")
        rows.append(f"  total:   overlay2 {human(self.total('overlay2', measured=measured))} (incl. base)"
                    f" | vfs {human(self.total('vfs', measured=measured))} (incl. base)")
        return "\n".join(rows)

    def measurement(self) -> str:
        """The measured side (Docker as root), or why there is none."""
        if not self.is_measured:
            return f"not measured here: {self.measured_why}; the model above is what labkit expects"
        return "\n".join([self.table(measured=True),
                          f"every layer directory holds exactly what the model says: {self.agrees}",
                          f"vfs / overlay2 on this machine: {self.ratio(measured=True):.1f}x"])

    def __str__(self) -> str:
        return self.table()


# --------------------------------------------------------------------------- second daemon

class SecondDaemon:
    """A second dockerd (vfs by default) on temp dirs; a context manager that always stops it.

    ``engine`` is labkit's ``DockerEngine`` connected to it (while it runs; ``None`` otherwise).
    """

    def __init__(self, *, driver: str = "vfs", start_timeout: float = 60) -> None:
        self.driver = driver
        self.start_timeout = start_timeout
        self.dir: Path | None = None
        self.engine: Engine | None = None
        self._proc: subprocess.Popen | None = None

    @staticmethod
    def unavailable() -> str:
        """Why a second daemon cannot run here ("" when it can)."""
        if os.geteuid() != 0:
            return "not root: a second dockerd needs root"
        if not shutil.which("dockerd"):
            return "dockerd is not installed"
        return ""

    @property
    def data_root(self) -> Path:
        assert self.dir is not None
        return self.dir / "data"

    def start(self) -> "SecondDaemon":
        why = self.unavailable()
        if why:
            raise EngineUnavailable(f"cannot start a second Docker daemon: {why}",
                                    fix="run as root on a machine with Docker installed")
        self.dir = Path(tempfile.mkdtemp(prefix="labkit-dockerd-", dir="/tmp"))
        try:
            sock = self.dir / "docker.sock"
            ns = f"labkit-{self.dir.name[-8:].lower()}"
            cmd = ["dockerd", "--bridge=none", "--iptables=false", "--ip-masq=false",
                   "--storage-driver", self.driver, "--data-root", str(self.data_root),
                   "--exec-root", str(self.dir / "exec"), "--pidfile", str(self.dir / "docker.pid"),
                   "--containerd-namespace", ns, "--containerd-plugins-namespace", ns + "-plugins",
                   "-H", f"unix://{sock}"]
            log = open(self.dir / "dockerd.log", "wb")
            try:
                self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, start_new_session=True)
            finally:
                log.close()
            deadline = time.monotonic() + self.start_timeout
            while True:
                if self._proc.poll() is not None:
                    tail = (self.dir / "dockerd.log").read_text(errors="replace")[-600:]
                    raise EngineError(f"the second dockerd exited at start: {tail}",
                                      fix="run the same dockerd command by hand to see why")
                if sock.exists():
                    try:
                        self.engine = DockerEngine.connect(base_url=f"unix://{sock}", timeout=120)
                        break
                    except Exception:   # not answering yet (refused, timed out)
                        self.engine = None
                if time.monotonic() > deadline:
                    raise EngineError(f"the second dockerd did not answer within {self.start_timeout:.0f} s",
                                      fix=f"see {self.dir / 'dockerd.log'}")
                time.sleep(0.2)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.engine is not None:
            try:
                self.engine.close()
            except Exception:   # the daemon may be gone already: stopping goes on
                pass
            self.engine = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self.dir is not None:
            subprocess.run(["umount", "-R", "-l", str(self.dir)], capture_output=True)
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> "SecondDaemon":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def load(self, tar_path: str | Path) -> str:
        """``docker load`` a saved labkit image; returns its id."""
        assert self.engine is not None, "start the second daemon first"
        try:
            self.engine.load(tar_path)
        except EngineError as exc:
            raise EngineError(f"load into the second daemon failed: {exc}") from None
        ids = [r.id for r in self.engine.images()]     # labkit-labelled images only
        if not ids:
            raise EngineError("the loaded image is not a labkit image", fix="load labkit images only")
        return ids[0]

    def layer_dirs(self, diff_ids: Sequence[str]) -> list[Path]:
        """The driver's directory for each layer (bottom first), via the layer store's cache-id."""
        db = self.data_root / "image" / self.driver / "layerdb" / "sha256"
        out = []
        for c in chain_ids(list(diff_ids)):
            cache_id = (db / c.split(":", 1)[1] / "cache-id").read_text().strip()
            out.append(self.data_root / self.driver / "dir" / cache_id)
        return out


def overlay2_dirs(engine: Engine, image: ImageRef | str) -> list[Path]:
    """The main daemon's overlay2 ``diff`` directories of an image, bottom first (read only)."""
    where = engine.layer_storage(image)
    if where.driver != "overlay2" or not where.dirs:
        raise EngineError(f"the daemon's storage driver is {where.driver!r}, not overlay2",
                          fix="this comparison measures an overlay2 daemon")
    return list(where.dirs)


# --------------------------------------------------------------------------- the comparison

def compare_drivers(engine: Engine, image: ImageRef | str) -> StorageReport:
    """Model both drivers for ``image``; on Docker as root, measure both as well."""
    layers = engine.layer_dirs(image)
    made = [instruction_of(h.created_by) for h in sorted(
        (h for h in engine.history(image) if h.layer_index is not None), key=lambda h: h.layer_index)]
    model = {d: model_use(layers, d) for d in DRIVERS}
    measured: dict[str, list[int]] = {}
    why = "the simulator has no daemon storage to measure" if engine.name != "docker" else \
        SecondDaemon.unavailable()
    if not why:
        measured = _measure(engine, image)
    rows = tuple(LayerUse(i, made[i] if i < len(made) else "",
                          {d: model[d][i] for d in DRIVERS},
                          {d: measured[d][i] for d in measured})
                 for i in range(len(layers)))
    return StorageReport(rows, why)


def _measure(engine: Engine, image: ImageRef | str) -> dict[str, list[int]]:
    ref = engine.ref(image)
    over = [measure_dir(p) for p in overlay2_dirs(engine, ref)]
    with tempfile.TemporaryDirectory(prefix="labkit-storage-") as tmp:
        saved = engine.save(ref, Path(tmp) / "image.tar")
        with SecondDaemon() as daemon:
            image_id = daemon.load(saved)
            diff_ids = daemon.engine.diff_ids(image_id)   # type: ignore[union-attr]
            vfs = [measure_dir(p) for p in daemon.layer_dirs(diff_ids)]
    return {"overlay2": over, "vfs": vfs}
