"""labkit's offline base image: ``FROM scratch`` plus Debian's static busybox.

No registry is ever needed. The base layer is made here, byte for byte the same on both
engines (so it has the same diffID on the simulator and in Docker): ``bin/busybox``, one
symlink ``bin/<applet> -> /bin/busybox`` per applet (what ``busybox --install -s /bin``
makes), ``etc/passwd``, ``etc/group``, ``root/`` and ``tmp/``.

The layer, its tar and its diffID are made once per busybox file and kept (a few MB): the key
is the file's path, device, inode, size and mtime, so replacing or rewriting busybox makes a
new layer (and a new ``base_tag``) on the next call.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import EngineUnavailable
from ..fs.node import LayerDir, Node
from ..oci.tar.writer import layer_bytes

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


def _identity(busybox: Path) -> tuple:
    """What makes the bytes: path, device, inode, size, mtime (ns). A changed file changes it."""
    st = busybox.stat()
    return (str(busybox), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=4)
def _spec(busybox: Path, identity: tuple) -> BaseSpec:
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
    busybox = find_busybox()
    return _spec(busybox, _identity(busybox))


@dataclass(frozen=True)
class _Built:
    layer: LayerDir          # never handed out: callers get a copy
    tar: bytes               # the uncompressed layer tar (oci.tar.writer.layer_bytes)
    diff_id: str             # "sha256:" + its digest


@lru_cache(maxsize=2)
def _build(identity: tuple, applets: tuple[str, ...]) -> _Built:
    busybox = Path(identity[0])
    t = {"mtime": EPOCH}
    layer: LayerDir = {
        "bin": Node.dir(0o755, **t),
        "bin/busybox": Node.file(busybox.read_bytes(), 0o755, **t),
        "etc": Node.dir(0o755, **t),
        "etc/passwd": Node.file(_PASSWD, 0o644, **t),
        "etc/group": Node.file(_GROUP, 0o644, **t),
        "root": Node.dir(0o700, **t),
        "tmp": Node.dir(0o1777, **t),
    }
    for applet in applets:
        layer[f"bin/{applet}"] = Node.symlink("/bin/busybox", **t)
    tar = layer_bytes(layer)
    return _Built(layer, tar, "sha256:" + hashlib.sha256(tar).hexdigest())


def _built(spec: BaseSpec | None) -> _Built:
    spec = spec or base_spec()
    return _build(_identity(spec.busybox), spec.applets)


def base_layer(spec: BaseSpec | None = None) -> LayerDir:
    """The one layer of the base image, as a layer directory (content held in memory; a new
    dict each call, the Nodes are frozen)."""
    return dict(_built(spec).layer)


def base_layer_tar(spec: BaseSpec | None = None) -> bytes:
    """The base layer as an uncompressed tar, byte for byte what both engines store."""
    return _built(spec).tar


def base_diff_id(spec: BaseSpec | None = None) -> str:
    """The base layer's diffID (``sha256:`` of ``base_layer_tar()``), made once per busybox."""
    return _built(spec).diff_id


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
