"""What every phase of the simulator's shell shares: the umask and default ``PATH``, how
a feature that is not modelled is refused (``_unsupported``), how a command fails with a
BusyBox-style message (``_CmdError``, ``_Fatal``), how the shell's control flow unwinds
(``_Exit``, ``_Return``, ``_Break``, ``_Continue``) and ``strerror`` wording (``_oserr``).
"""
from __future__ import annotations

import os

from ...errors import UnsupportedOperation

UMASK = 0o022
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ASH_PATH = "/sbin:/usr/sbin:/bin:/usr/bin"
_FIX = ("build this Dockerfile with the Docker engine (LABKIT_ENGINE=docker), or rewrite the "
        "step with the commands listed in labkit.sim.shell's documentation")


def _unsupported(what: str) -> UnsupportedOperation:
    return UnsupportedOperation(f"the simulator's shell does not support {what}", fix=_FIX)


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Return(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Break(Exception):
    def __init__(self, levels: int = 1) -> None:
        self.levels = levels


class _Continue(Exception):
    def __init__(self, levels: int = 1) -> None:
        self.levels = levels


class _CmdError(Exception):
    """A command failed with a message (already formatted, BusyBox-like)."""

    def __init__(self, message: str, code: int = 1) -> None:
        self.message, self.code = message, code


class _Fatal(_CmdError):
    """An error that ends the (non-interactive) shell, like ``set -u``'s."""


def _oserr(e: OSError) -> str:
    return os.strerror(e.errno) if e.errno else (e.strerror or str(e))
