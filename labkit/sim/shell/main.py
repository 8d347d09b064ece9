"""The entry points: ``run`` (a shell-form ``RUN``: ``/bin/sh -c SCRIPT``) and ``run_argv``
(an exec-form ``RUN``), each giving a ``ShellResult``.
"""
from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

from .base import DEFAULT_PATH, _Exit
from .commands import _APPLETS, _BUILTINS
from .interp import _Shell
from .streams import _IO, _Input, _Sink

if TYPE_CHECKING:  # pragma: no cover
    from ...fs.overlay import Mount


@dataclass(frozen=True)
class ShellResult:
    """What a script did: its exit status and its output (stdout and stderr interleaved)."""

    exit_code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


# --------------------------------------------------------------------------- entry points

def _finish(out: list, code: int) -> ShellResult:
    return ShellResult(code, b"".join(out).decode(errors="replace"))


def _run_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment a RUN step starts with: Docker's default PATH and HOME if unset."""
    full = dict(env)
    full.setdefault("PATH", DEFAULT_PATH)
    full.setdefault("HOME", "/root")
    return full


def run(script: str, mount: "Mount", *, env: Mapping[str, str], cwd: str = "/",
        now: int | None = None) -> ShellResult:
    """Run ``script`` as ``/bin/sh -c script`` would, on ``mount``; never raises for a failing
    command (its status and message are in the result). Raises ``UnsupportedOperation`` for
    shell features or programs the simulator does not model."""
    sh = _Shell(mount, _run_env(env), cwd, int(time.time()) if now is None else now,
                builtins=_BUILTINS, applets=_APPLETS)
    out: list = []
    io = _IO(_Input(), {0: _Sink("null"), 1: _Sink("term"), 2: _Sink("term")}, out)
    try:
        code = sh.run_script(script, io)
    except _Exit as e:
        code = e.code
    return _finish(out, code)


def run_argv(argv: Sequence[str], mount: "Mount", *, env: Mapping[str, str], cwd: str = "/",
             now: int | None = None) -> ShellResult:
    """Run an exec-form command (``RUN ["/bin/busybox", "--install", "-s", "/bin"]``): no
    shell parsing; the program is looked up on ``PATH`` in the mount like Docker does."""
    if not argv:
        return ShellResult(127, "no command given\n")
    sh = _Shell(mount, _run_env(env), cwd, int(time.time()) if now is None else now, argv0=argv[0],
                builtins=_BUILTINS, applets=_APPLETS)
    out: list = []
    io = _IO(_Input(), {0: _Sink("null"), 1: _Sink("term"), 2: _Sink("term")}, out)
    name = argv[0]
    found = None
    if "/" in name:
        found = name if sh.fstat(name) is not None else None
    else:
        for d in sh.vars.get("PATH", "").split(":"):
            cand = posixpath.join(d or "/", name)
            node = sh.fstat(cand)
            if node is not None and node.kind == "file":
                found = cand
                break
    if found is None:
        msg = (f'OCI runtime create failed: exec: "{name}": '
               + ("stat " + name + ": no such file or directory" if "/" in name
                  else "executable file not found in $PATH") + "\n")
        return ShellResult(127, msg)
    try:
        code = sh.execute([found] + list(argv[1:]) if "/" not in name else list(argv), io)
    except _Exit as e:
        code = e.code
    return _finish(out, code)
