"""The ``labkit`` command line: argparse and printing only, no library logic.

``main(argv) -> exit status`` (``main.py``) dispatches to one module per sub-command, each with
``register(parser)`` and ``run(args) -> int``; a sub-command calls the library (``oci``,
``analysis``, ``engine``, ``grading``) and prints what it returns. ``common.py`` holds what they
share: argument types, ``--limit``, reading ``-``/pipes/FIFOs and checking output paths.

Failures are one line on stderr (and a ``fix:`` line), never a traceback: a bad command line
exits 2; a ``LabkitError`` or an ``OSError`` (named by its path and reason) exits 1. Terminal
output has its control characters escaped (``formatting.escape_controls``); JSON does not need it.
"""
from .main import main

__all__ = ["main"]
