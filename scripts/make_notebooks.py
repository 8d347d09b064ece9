"""Make the lesson notebooks from their sources and record reference outputs.

Lessons are written as ``notebooks/src/NN-topic.py`` in the percent format (``# %%`` starts a
code cell, ``# %% tags=["nbval-ignore-output"]`` one with cell tags, ``# %% [markdown]`` a
markdown cell whose lines start with ``# ``). Test plumbing lives in tags, never in the code a
learner reads. This script
turns each into ``notebooks/NN-topic.ipynb`` and runs it in a fresh kernel on the simulator
engine, so the committed outputs are what nbval then demands of BOTH engines.

    .venv/bin/python scripts/make_notebooks.py            # all lessons
    .venv/bin/python scripts/make_notebooks.py 00 03      # some
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "notebooks" / "src"
OUT = ROOT / "notebooks"
_CELL = re.compile(r"^# %%(.*)$", re.M)
_TAGS = re.compile(r"tags=(\[.*\])")


def cells_of(text: str) -> list:
    parts = _CELL.split(text)
    cells = []
    for header, body in zip(parts[1::2], parts[2::2]):
        body = body.strip("\n")
        if "[markdown]" in header:
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in body.splitlines()]
            cells.append(nbformat.v4.new_markdown_cell("\n".join(lines)))
        else:
            cell = nbformat.v4.new_code_cell(body)
            tags = _TAGS.search(header)
            if tags:                   # `# %% tags=["nbval-ignore-output"]`: nbval reads cell tags
                cell.metadata["tags"] = json.loads(tags.group(1))
            cells.append(cell)
    return cells


def make(src: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = cells_of(src.read_text())
    os.environ["LABKIT_ENGINE"] = "sim"
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(OUT)}}).execute()
    for i, cell in enumerate(nb.cells):  # stable ids and no run timestamps keep diffs small
        cell["id"] = f"{src.stem[:2]}-{i:02d}"
        cell.metadata.pop("execution", None)
    dest = OUT / f"{src.stem}.ipynb"
    nbformat.write(nb, dest)
    return dest


def main(argv: list[str]) -> int:
    wanted = argv or [""]
    for src in sorted(SRC.glob("*.py")):
        if any(src.stem.startswith(w) for w in wanted):
            print(f"made {make(src).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
