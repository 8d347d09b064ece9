"""File descriptors and input: where a command writes (``_Sink``), what it reads
(``_Input``), the descriptors of one command (``_IO``), and reading a path or stdin as a
command does (``/dev/null``, ``/dev/zero``, the deterministic ``/dev/urandom``; lines,
refusing NUL bytes where BusyBox reads C strings).
"""
from __future__ import annotations

import errno as _errno
import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import _oserr, _unsupported

if TYPE_CHECKING:  # pragma: no cover
    from ...fs.overlay import Mount
    from .interp import _Shell


class _Sink:
    """Where one file descriptor writes: the build output (``term``), nowhere (``null``), a
    pipe or ``$(...)`` capture (``pipe``: kept in ``buf``), or a file in the mount (``file``:
    written through at once, as the kernel would, so later commands read what is there; like
    an open file it has an offset, and ``>>`` writes at the end every time)."""

    def __init__(self, kind: str, path: str = "", mount: "Mount | None" = None,
                 append: bool = False) -> None:
        self.kind, self.path, self.buf, self.mount = kind, path, bytearray(), mount
        self.append, self.pos = append, 0

    def write(self, data: bytes, out: list) -> None:
        if not data:
            return
        if self.kind == "term":
            out.append(data)
        elif self.kind == "pipe":
            self.buf += data
        elif self.kind == "file":
            try:
                if self.append:
                    self.mount.write(self.path, data, append=True)
                    return
                old = self.mount.read(self.path)
                if len(old) == self.pos:
                    self.mount.write(self.path, data, append=True)
                else:                  # someone else wrote or truncated: write at our offset
                    head = old[:self.pos].ljust(self.pos, b"\0")
                    self.mount.write(self.path, head + data + old[self.pos + len(data):])
                self.pos += len(data)
            except OSError:            # the file was removed meanwhile: the data goes nowhere
                pass


class _Input:
    """A file descriptor 0 being read: what is left of a file, a pipe or ``/dev/null``.
    Commands of one redirection share it, so ``read`` consumes line by line."""

    def __init__(self, data: bytes = b"") -> None:
        self.data, self.pos = data, 0

    def take(self) -> bytes:
        """Everything left (a command that reads to the end)."""
        rest = self.data[self.pos:]
        self.pos = len(self.data)
        return rest

    def readline(self) -> bytes:
        end = self.data.find(b"\n", self.pos)
        end = len(self.data) if end < 0 else end + 1
        line = self.data[self.pos:end]
        self.pos = end
        return line


def _bytes(data: str | bytes) -> bytes:
    """Text as the bytes it came from (``surrogateescape`` keeps non-UTF-8 bytes intact)."""
    return data.encode(errors="surrogateescape") if isinstance(data, str) else data


@dataclass
class _IO:
    stdin: _Input
    fds: dict[int, _Sink]
    out: list

    def stdout(self, data: str | bytes) -> None:
        self.fds[1].write(_bytes(data), self.out)

    def stderr(self, data: str | bytes) -> None:
        self.fds[2].write(_bytes(data), self.out)


def _read_special(sh: _Shell, path: str, size: int | None) -> bytes:
    if path == "/dev/null":
        return b""
    if path == "/dev/zero":
        if size is None:
            raise _unsupported("reading /dev/zero without a count")
        return bytes(size)
    if path == "/dev/urandom":
        if size is None:
            raise _unsupported("reading /dev/urandom without a count")
        return _urandom(size, "")
    node = sh.mount.stat(sh.abs(path), follow=True)
    if node.kind == "dir":
        raise OSError(_errno.EISDIR, os.strerror(_errno.EISDIR), path)
    data = sh.mount.read(sh.abs(path))
    return data if size is None else data[:size]


def _urandom(size: int, seed: str) -> bytes:
    """Deterministic stand-in for /dev/urandom (documented in the module docstring)."""
    key = ("labkit-urandom:" + seed).encode(errors="surrogateescape")
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(key + i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:size])


def _split_lines(data: bytes) -> list[bytes]:
    """Lines without their newlines; a last line without newline counts."""
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _text_lines(name: str, data: bytes) -> list[bytes]:
    """Lines for applets that treat them as C strings: a NUL byte would cut a line short in
    BusyBox in ways not modelled here, so such input is refused."""
    if b"\0" in data:
        raise _unsupported(f"NUL bytes in the input of {name} (BusyBox reads its lines as C "
                           "strings)")
    return _split_lines(data)


def _input_data(sh: "_Shell", name: str, f: str, io: _IO, *, xfopen: bool = False) -> bytes | None:
    """One operand's bytes ('-' is stdin); prints BusyBox's ``NAME: FILE: error`` (or, for
    applets that open with xfopen, ``NAME: can't open 'FILE': error``) when it fails."""
    if f == "-":
        return io.stdin.take()
    try:
        return _read_special(sh, f, None)
    except OSError as e:
        io.stderr(f"{name}: can't open '{f}': {_oserr(e)}\n" if xfopen
                  else f"{name}: {f}: {_oserr(e)}\n")
        return None
