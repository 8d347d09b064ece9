"""Command lines and BusyBox's own texts: option parsing (``_opts``, and ``_getopt``
as BusyBox's getopt32 does it), the applet names and usage texts read from the BusyBox
binary in the image (``busybox_applets``, ``busybox_usage``), and the usage message a bad
command line prints (``_Usage``, ``_usage_text``).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .base import _CmdError, _unsupported

if TYPE_CHECKING:  # pragma: no cover
    from .interp import _Shell


def _opts(argv: list[str], letters: str, *, with_value: str = "") -> tuple[set[str], dict[str, str], list[str]]:
    """Parse short options like getopt: ``-rf`` == ``-r -f``; stops at ``--`` or a non-option."""
    flags: set[str] = set()
    values: dict[str, str] = {}
    args = argv[1:]
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        k = 1
        while k < len(a):
            ch = a[k]
            if ch in with_value:
                val = a[k + 1:] or (args[i + 1] if i + 1 < len(args) else "")
                if not a[k + 1:]:
                    i += 1
                values[ch] = val
                break
            if ch not in letters:
                raise _CmdError(f"{argv[0]}: invalid option -- '{ch}'", 1)
            flags.add(ch)
            k += 1
        i += 1
    return flags, values, args[i:]


def busybox_applets(binary: bytes) -> list[str]:
    """The applet names compiled into a BusyBox binary (its NUL-separated name table).

    BusyBox keeps its applet names sorted in one string table that starts with ``[`` and
    ``[[``; ``busybox --list`` prints exactly this table.
    """
    start = binary.find(b"[\x00[[\x00")
    if start < 0:
        return []
    names: list[str] = []
    j = start
    while True:
        k = binary.index(b"\x00", j)
        name = binary[j:k]
        if not name or not re.fullmatch(rb"[\x21-\x7e]+", name):
            break
        names.append(name.decode())
        j = k + 1
    return names


# --------------------------------------------------------------------------- option parsing, usage

class _Usage(Exception):
    """A bad command line: BusyBox prints its usage text for the applet and exits."""

    def __init__(self, first: str = "", code: int = 1) -> None:
        self.first, self.code = first, code


def _getopt(name: str, argv: list[str], flags: str, valued: str = "", known: str = "", *,
            permute: bool = True, code: int = 1) -> tuple[list[tuple[str, str]], list[str]]:
    """glibc getopt as BusyBox's getopt32 uses it: ``-abc`` bundles, ``-eVALUE`` or
    ``-e VALUE``, ``--`` ends options, options may follow operands (``permute``, GNU style)
    unless the applet asks for POSIX order. ``known`` letters exist in BusyBox but are not
    modelled here: they raise UnsupportedOperation; any other letter is BusyBox's
    ``invalid option`` message plus the applet's usage text."""
    opts: list[tuple[str, str]] = []
    operands: list[str] = []
    args = argv[1:]
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            operands.extend(args[i:])
            break
        if a.startswith("--"):
            raise _unsupported(f"the long option {a!r} of {name}")
        if not a.startswith("-") or a == "-":
            operands.append(a)
            if not permute:
                operands.extend(args[i:])
                break
            continue
        k = 1
        while k < len(a):
            ch = a[k]
            k += 1
            if ch in valued:
                if k < len(a):
                    opts.append((ch, a[k:]))
                elif i < len(args):
                    opts.append((ch, args[i]))
                    i += 1
                else:
                    raise _Usage(f"{name}: option requires an argument -- '{ch}'", code)
                break
            if ch in flags:
                opts.append((ch, ""))
            elif ch in known:
                raise _unsupported(f"the option -{ch} of {name}")
            else:
                raise _Usage(f"{name}: invalid option -- '{ch}'", code)
    return opts, operands


def busybox_usage(binary: bytes) -> dict[str, str]:
    """Each applet's usage text, as BusyBox prints it after ``Usage: NAME `` (the texts are
    stored bzip2-compressed in the binary, NUL-separated, in applet-table order)."""
    import bz2  # noqa: PLC0415
    names = busybox_applets(binary)
    magic = binary.find(b"1AY&SY")             # the first bzip2 block header
    if magic < 2 or not names:
        return {}
    try:
        text = bz2.BZ2Decompressor().decompress(b"BZ" + binary[magic - 2:])
    except (OSError, ValueError):
        return {}
    return {n: u.decode(errors="surrogateescape") for n, u in zip(names, text.split(b"\x00"))}


def _usage_text(sh: "_Shell", name: str) -> str:
    exe = sh.exe()
    if sh._usage is None:
        sh._usage = {}
        if exe:
            try:
                binary = sh.mount.read(exe)
                sh._usage = busybox_usage(binary)
                m = re.search(rb"BusyBox v[\x20-\x7e]+", binary)
                sh._banner = m.group(0).decode() if m else ""
            except OSError:
                pass
    text = sh._usage.get(name)
    if text is None or not sh._banner:
        raise _unsupported(f"a usage error of {name} (BusyBox's usage text was not found "
                           "in the image)")
    return f"{sh._banner} multi-call binary.\n" + \
        ("" if text == "\x08" else f"\nUsage: {name} {text}\n")
