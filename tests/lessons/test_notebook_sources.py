"""Each lesson notebook is made from notebooks/src/<name>.py: the two must not drift apart."""
from __future__ import annotations

import importlib.util

import nbformat
import pytest
from layout import ROOT

SOURCES = sorted((ROOT / "notebooks" / "src").glob("*.py"))


def _maker():
    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "scripts" / "make_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_lesson_has_a_source_and_a_notebook():
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert SOURCES, "no lesson sources"
    assert notebooks == {p.stem for p in SOURCES}


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_notebook_cells_match_their_source(src):
    want = [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in _maker().cells_of(src.read_text())]
    nb = nbformat.read(ROOT / "notebooks" / f"{src.stem}.ipynb", as_version=4)
    assert [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells] == want, \
        f"re-make it: .venv/bin/python scripts/make_notebooks.py {src.stem[:2]}"
    assert all(c.execution_count is not None for c in nb.cells if c.cell_type == "code"), \
        "unrun code cells are not compared by nbval"
    assert not any("NBVAL_" in c.source for c in nb.cells), "nbval markers go in cell tags"
