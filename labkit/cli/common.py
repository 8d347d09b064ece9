"""What the sub-commands share: argument types, the resource budgets, and reading the paths
named on the command line.

* Argument types (``count``, ``seconds``, ``name_value``, ``limit_item``) make a bad value a
  usage error: one line, exit status 2, before anything runs.
* ``--limit NAME=N`` (``add_limit_option``): ``main`` turns it into ``args.limits`` (an
  ``oci.limits.Limits``) and exports it as ``LABKIT_LIMITS`` while the command runs, so
  every reader (worker processes too) keeps to the same budgets.
* Inputs (``input_path``, ``read_text``): ``-`` is stdin; ``/dev/stdin`` and other pipes work
  too. The readers index a saved image by offset, so a stream is first copied to a temporary
  file (at most the ``unpacked_bytes`` budget; ``LimitExceeded`` past it), removed afterwards.
  A named pipe (FIFO) is opened without blocking and must start sending within
  ``FIFO_WAIT`` seconds: a pipe nobody writes to is an error, never a hang. Devices (a
  terminal, ``/dev/zero``) are refused. Errors name the path the user typed, not the copy.
* Outputs (``check_output``, ``write_output``): checked before the work starts, so a bad
  ``--html`` or ``--out`` fails at once, not after a long analysis.
"""
from __future__ import annotations

import argparse
import codecs
import contextlib
import errno
import math
import os
import select
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import LabkitError, LimitExceeded
from ..formatting import escape_controls
from ..oci import limits as _limits

FIFO_WAIT = 10.0          # seconds a named pipe may stay silent before it is refused
_CHUNK = 1 << 20

# the temporary copies of streams now being read -> the name the user gave (for messages)
SHOWN_AS: dict[str, str] = {}


def shown(text: str) -> str:
    """``text`` with each temporary copy's path replaced by the name the user typed."""
    for path, name in SHOWN_AS.items():
        text = text.replace(path, name)
    return text


def for_terminal(text: str) -> str:
    """A multi-line report as printed: copies named as the user named them, control
    characters escaped (line breaks kept)."""
    return escape_controls(shown(text), keep="\n")


# --------------------------------------------------------------------------- argument types

def count(minimum: int = 0) -> Callable[[str], int]:
    """An argparse ``type``: a whole number of at least ``minimum``."""
    def parse(text: str) -> int:
        try:
            n = int(text.strip().replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is less than {minimum}")
        return n
    parse.__name__ = "count"
    return parse


def seconds(text: str) -> float:
    """An argparse ``type``: a finite, positive number of seconds (not nan, inf or 0)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive, finite number of seconds")
    return value


def name_value(text: str) -> tuple[str, str]:
    """An argparse ``type``: ``NAME=VALUE`` (the value may be empty) -> ``(NAME, VALUE)``."""
    name, eq, value = text.partition("=")
    if not eq or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


def limit_item(text: str) -> str:
    """An argparse ``type``: one ``NAME=N`` of ``oci.limits`` (checked now, kept as text)."""
    try:
        _limits.parse([text], "--limit")
    except LabkitError as exc:
        message = exc.message.removeprefix("--limit: ")
        raise argparse.ArgumentTypeError(f"{message}; {exc.fix}" if exc.fix else message) from None
    return text


def add_limit_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", action="append", default=[], type=limit_item, metavar="NAME=N",
                        help="raise (or lower) one resource budget for untrusted input, e.g. "
                             "--limit path_depth=1000; repeatable; also LABKIT_LIMITS=NAME=N,... "
                             "Budgets: " + ", ".join(_limits.NAMES))


PIPE_HELP = ("'-' reads the tar from stdin (e.g. docker save IMG | labkit %s -); a pipe such as "
             "/dev/stdin works too, a named pipe (FIFO) only when its writer starts within "
             f"{FIFO_WAIT:g} s")


@contextlib.contextmanager
def exported(budgets: _limits.Limits) -> Iterator[None]:
    """``LABKIT_LIMITS`` set to ``budgets`` (what differs from the defaults) for the duration:
    library code reading ``limits.current()`` and worker processes see the same budgets."""
    default = _limits.Limits()
    text = ",".join(f"{n}={getattr(budgets, n)}" for n in _limits.NAMES
                    if getattr(budgets, n) != getattr(default, n))
    before = os.environ.get(_limits.ENV)
    if text:
        os.environ[_limits.ENV] = text
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_limits.ENV, None)
        else:
            os.environ[_limits.ENV] = before


# --------------------------------------------------------------------------- inputs

def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _stdin_stat() -> os.stat_result | None:
    try:
        return os.fstat(0)
    except OSError:
        return None


def _wait_for_writer(path: str, label: str, what: str) -> int:
    """A named pipe opened for reading without blocking; refused when nothing arrives within
    ``FIFO_WAIT`` seconds (data, or a writer that came and went)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(int(FIFO_WAIT * 1000)):
            raise LabkitError(f"{label} is a named pipe and nothing was written to it within "
                              f"{FIFO_WAIT:g} s", fix=f"start the program that writes the {what} first, "
                              f"or pipe it into stdin and pass '-'")
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _spool(fd: int, label: str, limit: str, budgets: _limits.Limits, tmp: str) -> str:
    """Copy the stream ``fd`` into ``tmp`` (at most the ``limit`` budget) and return the copy's path."""
    allowed = getattr(budgets, limit)
    path = os.path.join(tmp, "stdin" if label == "-" else (os.path.basename(label) or "input"))
    total = 0
    with open(path, "wb") as out:
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > allowed:
                raise LimitExceeded(f"{'stdin' if label == '-' else label}: the bytes read from the pipe",
                                    limit, total, allowed)
            out.write(chunk)
    SHOWN_AS[path] = label
    return path


def _stat(name: str, what: str, missing_ok: bool) -> os.stat_result | None:
    try:
        return os.stat(name)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise
    if missing_ok:
        return None
    raise LabkitError(f"{name}: no such file or directory", fix=f"pass the path of the {what}")


def _is_null(st: os.stat_result) -> bool:
    """``st`` is /dev/null's (stdin from /dev/null reads as empty, any other device may never end)."""
    try:
        return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.stat(os.devnull).st_rdev
    except OSError:
        return False


def _refuse_device(label: str, st: os.stat_result, what: str) -> LabkitError:
    kind = "a character device" if stat.S_ISCHR(st.st_mode) else \
           "a block device" if stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else \
           "not a regular file"
    return LabkitError(f"{label} is {kind}, not a file: labkit reads the {what} from a file, a folder, "
                       "or a pipe",
                       fix=f"save the {what} to a file first, or pipe it into stdin and pass '-'")


@contextlib.contextmanager
def input_path(name: str, what: str, budgets: _limits.Limits | None = None, *,
               limit: str = "unpacked_bytes", missing_ok: bool = False,
               dirs: bool = True) -> Iterator[str | None]:
    """The path to read for the command-line argument ``name``: the path itself (a regular
    file, or a folder when ``dirs``), or a temporary copy of stdin (``-``) or of a pipe, which
    is removed afterwards. ``None`` when ``missing_ok`` and nothing is there (an image name,
    say); ``what`` names the input in messages ("image", "Dockerfile" ...)."""
    budgets = budgets or _limits.current()
    stdin = _stdin_stat()
    if name == "-":
        if stdin is None:
            raise LabkitError("'-' means stdin, but this process has no stdin",
                              fix=f"pipe the {what} into it, or pass a file")
        st = stdin
    else:
        st = _stat(name, what, missing_ok)
        if st is None:
            yield None
            return
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        if not dirs:
            raise LabkitError(f"{name} is a directory, not a file", fix=f"pass the {what}'s file")
        yield name
        return
    from_stdin = name == "-" or (stdin is not None and _same_file(st, stdin))
    if stat.S_ISREG(mode):
        yield _real("/dev/stdin" if name == "-" else name, st)
        return
    if from_stdin and os.isatty(0):
        raise LabkitError(f"{name} is this terminal: nothing is piped in",
                          fix=f"pipe the {what} in, e.g. docker save IMAGE | labkit ... -")
    if not (stat.S_ISFIFO(mode) or (from_stdin and (stat.S_ISSOCK(mode) or _is_null(st)))):
        raise _refuse_device("stdin" if name == "-" else name, st, what)   # /dev/zero would never end
    tmp = tempfile.mkdtemp(prefix="labkit-stdin-")
    fd = -1
    try:
        fd = 0 if from_stdin else _wait_for_writer(name, name, what)
        path = _spool(fd, name, limit, budgets, tmp)
        if fd:
            os.close(fd)
            fd = -1
        yield path
    finally:
        if fd > 0:
            os.close(fd)
        shutil.rmtree(tmp, ignore_errors=True)     # SHOWN_AS keeps its name for the error message


def _real(name: str, st: os.stat_result) -> str:
    """A path under /dev or /proc (``/dev/stdin`` of a redirected file) as the file's own path,
    which worker processes can open too; ``name`` itself otherwise."""
    if not name.startswith(("/dev/", "/proc/")):
        return name
    try:
        real = os.path.realpath(name)
        return real if _same_file(os.stat(real), st) else name
    except OSError:
        return name


def read_text(name: str, what: str, budgets: _limits.Limits | None = None, *,
              limit: str = "json_bytes") -> str:
    """The UTF-8 text of the file (or ``-``/pipe) ``name``, at most the ``limit`` budget in bytes."""
    budgets = budgets or _limits.current()
    with input_path(name, what, budgets, limit=limit, dirs=False) as path:
        assert path is not None
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            budgets.check(limit, size, f"{name}: the {what}'s size in bytes")
            data = f.read(getattr(budgets, limit) + 1)
        budgets.check(limit, len(data), f"{name}: the {what}'s size in bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LabkitError(f"{name} is not a text file: byte {data[exc.start]:#04x} at offset {exc.start} "
                          "is not UTF-8", fix=f"pass the {what} as UTF-8 text") from None


def check_utf8(path: str | Path, shown_as: str, what: str) -> None:
    """Refuse a file that is not UTF-8 text, read in pieces (any size, little memory)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0                      # of the first byte not yet given to the decoder
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                raise LabkitError(f"{shown_as} is not a text file: the byte at offset "
                                  f"{offset - pending + exc.start} is not UTF-8",
                                  fix=f"save the {what} as UTF-8 text") from None
            if not chunk:
                return
            offset += len(chunk)


# --------------------------------------------------------------------------- outputs

def check_output(name: str, what: str, *, directory: bool = False) -> None:
    """Refuse, before any work, an output path that cannot be written: a folder where a file
    is wanted (or the reverse), a missing parent folder, no write permission."""
    try:
        st = os.stat(name)
    except FileNotFoundError:
        parent = os.path.dirname(os.path.abspath(name))
        try:
            pst = os.stat(parent)
        except FileNotFoundError:
            if directory:           # made with its parents; the nearest existing one must be writable
                return check_output(parent, what, directory=True)
            raise LabkitError(f"{name}: the folder {parent} does not exist",
                              fix=f"create it first, or write the {what} elsewhere") from None
        if not stat.S_ISDIR(pst.st_mode):
            raise LabkitError(f"{name}: {parent} is not a folder", fix=f"write the {what} elsewhere")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise LabkitError(f"{name}: cannot create it in {parent}: permission denied",
                              fix=f"write the {what} to a folder you may write to")
        return
    if directory:
        if not stat.S_ISDIR(st.st_mode):
            raise LabkitError(f"{name} is not a folder", fix=f"name a folder for the {what}")
    elif stat.S_ISDIR(st.st_mode):
        raise LabkitError(f"{name} is a directory",
                          fix=f"name a file for the {what}, e.g. {name}/report.html")
    elif stat.S_ISSOCK(st.st_mode):
        raise LabkitError(f"{name} is a socket", fix=f"name a file for the {what}")
    if not os.access(name, os.W_OK | (os.X_OK if directory else 0)):
        raise LabkitError(f"{name}: permission denied", fix=f"write the {what} somewhere you may write to")


def write_output(name: str, text: str, what: str) -> None:
    """Write ``text`` to ``name`` (UTF-8). A named pipe nobody reads is an error, not a hang."""
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK, 0o666)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise LabkitError(f"{name} is a named pipe nobody reads", fix=f"start its reader first, "
                              f"or write the {what} to a file") from None
        raise
    os.set_blocking(fd, True)
    with open(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)
