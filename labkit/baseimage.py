"""labkit's offline base image: ``FROM scratch`` plus Debian's static busybox.

No registry is ever needed. The base layer is made here, byte for byte the same on both
engines (so it has the same diffID on the simulator and in Docker): ``bin/busybox``, one
symlink ``bin/<applet> -> /bin/busybox`` per applet (what ``busybox --install -s /bin``
makes), ``etc/passwd``, ``etc/group``, ``root/`` and ``tmp/``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import EngineUnavailable
from .fsmodel import LayerDir, Node

BASE_REPO = "labkit/base"
EPOCH = 946684800  # 2000-01-01T00:00:00Z: fixed mtimes make the layer reproducible
BUSYBOX_FIX = ("sudo apt-get install -y busybox-static   "
               "(or set LABKIT_BUSYBOX=/path/to/a/static/busybox)")
_PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = b"root:x:0:\nnogroup:x:65534:\n"


@dataclass(frozen=True)
class BaseSpec:
    """What goes into the base image: the busybox binary and its applet names."""
    busybox: Path
    applets: tuple[str, ...]


def find_busybox() -> Path:
    """``LABKIT_BUSYBOX`` if set, else a static busybox on PATH; a clear error otherwise."""
    wanted = os.environ.get("LABKIT_BUSYBOX")
    if wanted:
        path = Path(wanted)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise EngineUnavailable(f"LABKIT_BUSYBOX={wanted} is not an executable file",
                                    fix="point LABKIT_BUSYBOX at a static busybox binary")
        return path
    found = shutil.which("busybox")
    if not found:
        raise EngineUnavailable("no busybox found: labkit builds its base image from a static busybox",
                                fix=BUSYBOX_FIX)
    return Path(found).resolve()


@lru_cache(maxsize=4)
def _spec(busybox: Path) -> BaseSpec:
    try:
        out = subprocess.run([str(busybox), "--list"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise EngineUnavailable(f"{busybox} --list failed ({exc}); is it a busybox binary?",
                                fix=BUSYBOX_FIX) from exc
    applets = tuple(sorted({a for a in out.split() if a and "/" not in a and a != "busybox"}))
    if "sh" not in applets:
        raise EngineUnavailable(f"{busybox} has no 'sh' applet", fix=BUSYBOX_FIX)
    return BaseSpec(busybox, applets)


def base_spec() -> BaseSpec:
    return _spec(find_busybox())


def base_layer(spec: BaseSpec | None = None) -> LayerDir:
    """The one layer of the base image, as a layer directory (content held in memory)."""
    spec = spec or base_spec()
    t = {"mtime": EPOCH}
    layer: LayerDir = {
        "bin": Node.dir(0o755, **t),
        "bin/busybox": Node.file(spec.busybox.read_bytes(), 0o755, **t),
        "etc": Node.dir(0o755, **t),
        "etc/passwd": Node.file(_PASSWD, 0o644, **t),
        "etc/group": Node.file(_GROUP, 0o644, **t),
        "root": Node.dir(0o700, **t),
        "tmp": Node.dir(0o1777, **t),
    }
    for applet in spec.applets:
        layer[f"bin/{applet}"] = Node.symlink("/bin/busybox", **t)
    return layer


def base_config(diff_id: str, labels: dict[str, str]) -> dict:
    """The image config Docker would write for this base (one layer, ``CMD ["sh"]``)."""
    return {
        "architecture": _docker_arch(),
        "os": "linux",
        "created": "2000-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["sh"], "Labels": dict(labels)},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2000-01-01T00:00:00Z",
                     "created_by": "labkit base: busybox + applet symlinks (FROM scratch)"},
                    {"created": "2000-01-01T00:00:00Z", "created_by": 'CMD ["sh"]',
                     "empty_layer": True}],
    }


def _docker_arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def base_tag(diff_id: str) -> str:
    """``labkit/base:<12 hex of the diffID>``: a new busybox gives a new tag, never a clash."""
    return f"{BASE_REPO}:{diff_id.split(':', 1)[-1][:12]}"
