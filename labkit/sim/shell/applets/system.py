"""BusyBox applets about the process and BusyBox itself: ``sleep``, ``whoami``, ``id``
and ``busybox`` (``busybox APPLET ...``, ``--list``, ``--install [-s] DIR``).
"""
from __future__ import annotations

import errno as _errno
import posixpath

from ....fs.users import name_of
from ..base import _CmdError, _oserr, _unsupported
from ..interp import _Shell
from ..streams import _IO
from ..usage import _opts


def _cmd_sleep(sh: _Shell, argv: list[str], io: _IO) -> int:
    return 0


def _cred(sh: _Shell) -> tuple[int, int]:
    """(uid, gid) the commands run as: the mount's ``Cred`` (``USER``), root by default."""
    cred = getattr(sh.mount, "cred", None)
    return (cred.uid, cred.gid) if cred is not None else (0, 0)


def _cmd_whoami(sh: _Shell, argv: list[str], io: _IO) -> int:
    uid = _cred(sh)[0]
    found = name_of(sh.mount, "passwd", uid)
    if found is None:
        raise _CmdError(f"whoami: unknown uid {uid}")
    io.stdout(found + "\n")
    return 0


def _cmd_id(sh: _Shell, argv: list[str], io: _IO) -> int:
    flags, _, names = _opts(argv, "ugnr")
    if names or not flags & {"u", "g"}:
        raise _unsupported("'id' without -u or -g (supplementary groups are not modelled)")
    kind = "passwd" if "u" in flags else "group"
    ident = _cred(sh)[0 if "u" in flags else 1]
    io.stdout((name_of(sh.mount, kind, ident) or str(ident)) + "\n" if "n" in flags else f"{ident}\n")
    return 0


def _cmd_busybox(sh: _Shell, argv: list[str], io: _IO) -> int:
    args = argv[1:]
    if not args:
        raise _unsupported("'busybox' without an applet")
    if args[0] in ("--list", "--install"):
        exe = sh.exe()
        if exe is None:
            raise _unsupported("'busybox --install' when /bin/busybox is not in the image")
        names = sh.applet_names()
        if not names:
            raise _unsupported("'busybox --install' with a binary whose applet table was not found")
        if args[0] == "--list":
            io.stdout("".join(n + "\n" for n in names))
            return 0
        rest = args[1:]
        symbolic = bool(rest) and rest[0] == "-s"
        if symbolic:
            rest = rest[1:]
        if not rest:
            raise _unsupported("'busybox --install' without a directory (per-applet "
                               "install locations are not modelled)")
        dest = sh.abs(rest[0])
        for n in names:
            path = posixpath.join(dest, n)
            try:
                if symbolic:
                    sh.mount.symlink(exe, path)
                else:
                    sh.mount.link(exe, path)
            except OSError as e:
                if e.errno != _errno.EEXIST:
                    io.stderr(f"busybox: {path}: {_oserr(e)}\n")
        return 0
    return sh.applet(args[0], args, io)
