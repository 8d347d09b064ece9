"""labkit's offline base image: ``FROM scratch`` plus Debian's static busybox.

No registry is ever needed. The base layer is made here, byte for byte the same on both
engines (so it has the same diffID on the simulator and in Docker): ``bin/busybox``, one
symlink ``bin/<applet> -> /bin/busybox`` per applet (what ``busybox --install -s /bin``
makes), ``etc/passwd``, ``etc/group``, ``root/`` and ``tmp/``.

The layer, its tar and its diffID are made once per busybox file and kept (a few MB): the key
is the file's path, device, inode, size and mtime, so replacing or rewriting busybox makes a
new layer (and a new ``base_tag``) on the next call.

Without a busybox (conda, Binder without apt, a PATH without it)
    The simulator never runs ``/bin/busybox``: its ``RUN`` steps go through labkit's own
    model of BusyBox sh (``labkit.sim.shell``). So when no usable busybox is found, the
    simulator's base layer holds a STAND-IN in its place (``stand_in_busybox()``): a file of
    exactly ``STAND_IN_SIZE`` bytes (1,982,256: the size of ``/bin/busybox`` in Debian 12's
    ``busybox-static`` 1:1.35.0-4+deb12u1+b1 on amd64), made of a text header saying what it
    is, BusyBox's applet-name table (the NUL-separated list that starts ``[\0[[\0`` and that
    ``busybox --list`` prints, so the simulator's ``busybox --list`` / ``--install`` and its
    "BusyBox has this command, the simulator does not model it" refusals work as with the
    real binary) and NUL padding. The applet symlinks come from the same recorded table,
    ``STAND_IN_APPLET_TABLE``: the ``busybox --list`` of that Debian binary. The recorded list
    was chosen over ``labkit.sim.shell.SUPPORTED_COMMANDS`` because it gives the very same
    ``/bin`` as the real base layer (same entries, same sizes: the layer tar is as long as the
    real one on Debian 12 amd64; only the digests differ), and because a command BusyBox has
    but the simulator does not model (``od``) must stay a clear ``UnsupportedOperation``, not
    become ``sh: od: not found``. ``tests/unit/engine/test_baseimage.py`` checks the recorded
    table and size against the installed busybox when it is that Debian version.
    What the stand-in cannot give: BusyBox's usage texts (a bad option of an applet is an
    ``UnsupportedOperation`` on the simulator instead of the usage message) and Docker's
    digests. The Docker engine never gets the stand-in: ``base_layer_tar()`` (what it loads
    into the daemon) needs the real busybox, since a container's ``/bin/sh`` must run.
    When a real busybox is present, both engines use it, as before.
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
BUSYBOX_FIX = ("as root: apt-get install -y busybox-static   "
               "(or set LABKIT_BUSYBOX=/path/to/a/static/busybox)")
_PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = b"root:x:0:\nnogroup:x:65534:\n"


@dataclass(frozen=True)
class BaseSpec:
    """What goes into the base image: the busybox binary and its applet names.
    ``busybox`` is None for the simulator's stand-in; ``reason`` and ``fix`` then say why no
    real busybox is used and how to get one."""
    busybox: Path | None
    applets: tuple[str, ...]
    reason: str = ""
    fix: str = ""

    @property
    def stand_in(self) -> bool:
        return self.busybox is None


# The stand-in for /bin/busybox (see the module's docstring): recorded from Debian 12's
# busybox-static 1:1.35.0-4+deb12u1+b1 (amd64), BusyBox v1.35.0: its size, and its applet-name
# table exactly as `busybox --list` prints it (sorted, "busybox" included).
STAND_IN_SOURCE = "Debian 12 busybox-static 1:1.35.0-4+deb12u1+b1 (amd64), BusyBox 1.35.0"
STAND_IN_SIZE = 1_982_256
STAND_IN_APPLET_TABLE: tuple[str, ...] = tuple("""
[ [[ acpid adjtimex ar arch arp arping ascii ash awk base64 basename bc blkdiscard
blockdev brctl bunzip2 busybox bzcat bzip2 cal cat chgrp chmod chown chroot chvt clear
cmp cp cpio crc32 crond crontab cttyhack cut date dc dd deallocvt depmod devmem df diff
dirname dmesg dnsdomainname dos2unix dpkg dpkg-deb du dumpkmap dumpleases echo ed egrep
env expand expr factor fallocate false fatattr fdisk fgrep find findfs fold free
freeramdisk fsfreeze fstrim ftpget ftpput getopt getty grep groups gunzip gzip halt head
hexdump hostid hostname httpd hwclock i2cdetect i2cdump i2cget i2cset i2ctransfer id
ifconfig ifdown ifup init insmod ionice ip ipcalc ipneigh kill killall klogd last less
link linux32 linux64 linuxrc ln loadfont loadkmap logger login logname logread losetup
ls lsmod lsscsi lzcat lzma lzop md5sum mdev microcom mim mkdir mkdosfs mke2fs mkfifo
mknod mkpasswd mkswap mktemp modinfo modprobe more mount mt mv nameif nc netstat nl
nologin nproc nsenter nslookup nuke od openvt partprobe passwd paste patch pidof ping
ping6 pivot_root poweroff printf ps pwd rdate readlink realpath reboot renice reset
resume rev rm rmdir rmmod route rpm rpm2cpio run-init run-parts sed seq setkeycodes
setpriv setsid sh sha1sum sha256sum sha3sum sha512sum shred shuf sleep sort ssl_client
start-stop-daemon stat strings stty su sulogin svc svok swapoff swapon switch_root sync
sysctl syslogd tac tail tar taskset tc tee telnet telnetd test tftp time timeout top
touch tr traceroute traceroute6 true truncate ts tty tunctl ubirename udhcpc udhcpd
uevent umount uname uncompress unexpand uniq unix2dos unlink unlzma unshare unxz unzip
uptime usleep uudecode uuencode vconfig vi w watch watchdog wc wget which who whoami
xargs xxd xz xzcat yes zcat
""".split())  # noqa: SIM905 - kept as `busybox --list` prints it
# the applets a busybox gives symlinks to: what _spec() keeps of `busybox --list`
STAND_IN_APPLETS: tuple[str, ...] = tuple(sorted({a for a in STAND_IN_APPLET_TABLE if a != "busybox"}))
_STAND_IN_HEAD = (
    b"labkit stand-in for /bin/busybox: not a program.\n"
    b"labkit's simulator runs RUN steps in its own model of BusyBox sh (labkit.sim.shell), so it\n"
    b"needs no busybox binary; the Docker engine uses the real one (Debian's busybox-static).\n"
    b"Same size as the busybox of " + STAND_IN_SOURCE.encode() + b";\n"
    b"its applet table (as `busybox --list` prints it) follows, NUL-separated, then NUL padding.\n")


@lru_cache(maxsize=1)
def stand_in_busybox() -> bytes:
    """The stand-in's bytes: ``STAND_IN_SIZE`` of them, the same on every machine."""
    body = _STAND_IN_HEAD + b"\0".join(a.encode() for a in STAND_IN_APPLET_TABLE) + b"\0\0"
    return body + b"\0" * (STAND_IN_SIZE - len(body))


def find_busybox() -> Path:
    """``LABKIT_BUSYBOX`` if set, else a static busybox on PATH; a clear error otherwise."""
    wanted = os.environ.get("LABKIT_BUSYBOX")
    if wanted:
        path = Path(wanted)
        if not (path.is_file() and os.access(path, os.R_OK | os.X_OK)):
            raise EngineUnavailable(f"LABKIT_BUSYBOX={wanted} is not a readable, executable file",
                                    fix="point LABKIT_BUSYBOX at a static busybox binary")
        return path
    found = shutil.which("busybox")
    if not found:
        raise EngineUnavailable("no busybox found on PATH", fix=BUSYBOX_FIX)
    if not os.access(found, os.R_OK):     # labkit copies its bytes into the layer
        raise EngineUnavailable(f"{found} is not readable by this user", fix=BUSYBOX_FIX)
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


def base_spec(*, stand_in_ok: bool = True) -> BaseSpec:
    """The real busybox (``find_busybox``) when one works; otherwise the stand-in, whose
    ``reason`` says why (or, with ``stand_in_ok=False``, that reason as an error)."""
    try:
        busybox = find_busybox()
        return _spec(busybox, _identity(busybox))
    except EngineUnavailable as exc:
        if not stand_in_ok:
            raise
        return BaseSpec(None, STAND_IN_APPLETS, reason=exc.message, fix=exc.fix or BUSYBOX_FIX)


@dataclass(frozen=True)
class _Built:
    layer: LayerDir          # never handed out: callers get a copy
    tar: bytes               # the uncompressed layer tar (oci.tar.writer.layer_bytes)
    diff_id: str             # "sha256:" + its digest


def _make(busybox: bytes, applets: tuple[str, ...]) -> _Built:
    t = {"mtime": EPOCH}
    layer: LayerDir = {
        "bin": Node.dir(0o755, **t),
        "bin/busybox": Node.file(busybox, 0o755, **t),
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


@lru_cache(maxsize=2)
def _build(identity: tuple, applets: tuple[str, ...]) -> _Built:
    return _make(Path(identity[0]).read_bytes(), applets)


@lru_cache(maxsize=1)
def _build_stand_in(applets: tuple[str, ...]) -> _Built:
    return _make(stand_in_busybox(), applets)


def _built(spec: BaseSpec | None) -> _Built:
    spec = spec or base_spec()
    if spec.busybox is None:
        return _build_stand_in(spec.applets)
    return _build(_identity(spec.busybox), spec.applets)


def base_layer(spec: BaseSpec | None = None) -> LayerDir:
    """The one layer of the base image, as a layer directory (content held in memory; a new
    dict each call, the Nodes are frozen). Without a busybox: the stand-in layer."""
    return dict(_built(spec).layer)


def base_layer_tar(spec: BaseSpec | None = None) -> bytes:
    """The base layer as an uncompressed tar, byte for byte what both engines store. This is
    what the Docker engine loads into the daemon, so without ``spec`` it needs the REAL
    busybox (a stand-in's ``/bin/sh`` could not run in a container): a clear error otherwise.
    Pass ``base_spec()`` to get the stand-in's tar too."""
    if spec is None:
        spec = base_spec()
        if spec.stand_in:
            raise EngineUnavailable(f"{spec.reason}: the Docker engine builds labkit/base from a real "
                                    "static busybox (only the simulator can use its stand-in)",
                                    fix=spec.fix)
    return _built(spec).tar


def base_diff_id(spec: BaseSpec | None = None) -> str:
    """The base layer's diffID (``sha256:`` of its tar), made once per busybox; the
    stand-in's when no busybox works here (the simulator's base)."""
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
