"""The ``labkit`` command line: argparse and printing only, no library logic.

``main(argv) -> exit status`` (``main.py``) dispatches to one module per sub-command, each with
``register(parser)`` and ``run(args) -> int``; a sub-command calls the library (``oci``,
``analysis``, ``engine``, ``grading``) and prints what it returns. A ``LabkitError`` becomes one
line on stderr and exit status 1.
"""
from .main import main

__all__ = ["main"]
