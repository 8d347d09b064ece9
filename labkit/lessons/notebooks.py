"""The lesson notebooks shipped with labkit, and copying them to a learner's own folder.

A wheel carries the lessons as ``labkit/notebooks/*.ipynb`` (pyproject.toml maps the
repository's ``notebooks/`` there at build time); an editable install or a source checkout reads
the repository's ``notebooks/`` itself. Only the ``.ipynb`` files are lessons: a notebook needs
nothing beside it (build contexts come from ``labkit.example``).
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LabkitError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

SUFFIX = ".ipynb"


def lessons_dir() -> Traversable:
    """The folder the lessons are read from: the installed package's ``notebooks/``, else the
    ``notebooks/`` of the checkout this labkit was imported from."""
    shipped = resources.files("labkit") / "notebooks"
    if shipped.is_dir():
        return shipped
    checkout = Path(__file__).resolve().parents[2] / "notebooks"
    if checkout.is_dir() and any(checkout.glob(f"*{SUFFIX}")):
        return checkout
    raise LabkitError("this labkit has no lesson notebooks (neither labkit/notebooks/ in the package "
                      "nor notebooks/ in a checkout)",
                      fix="reinstall it from its wheel: pip install --force-reinstall 'labkit[lab]'")


def lessons() -> list[Traversable]:
    """Every lesson notebook, in lesson order (their names start with the lesson number)."""
    return sorted((f for f in lessons_dir().iterdir() if f.name.endswith(SUFFIX) and f.is_file()),
                  key=lambda f: f.name)


def copy_notebooks(dest: str | Path, *, force: bool = False) -> list[Path]:
    """Copy every lesson notebook into the folder ``dest`` (made when missing) and return the
    copies. A notebook already there that differs from the shipped one may hold the learner's
    work: nothing is copied then, unless ``force``. Identical copies are fine."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise LabkitError(f"{dest} is a file, not a folder", fix="give the folder to copy the lessons into")
    found = lessons()
    contents = {f.name: f.read_bytes() for f in found}
    changed = [name for name, data in contents.items() if _differs(dest / name, data)]
    if changed and not force:
        names = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        raise LabkitError(f"{dest} already has lesson notebooks that differ from labkit's ({names}); "
                          "they may hold your work, so nothing was copied",
                          fix=f"copy to a new folder, or overwrite them: labkit notebooks {dest} --force "
                              "(force=True in Python)")
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for name, data in contents.items():
            (dest / name).write_bytes(data)
    except OSError as exc:
        raise LabkitError(f"cannot copy the lessons to {dest}: {exc.strerror or exc}",
                          fix="choose a folder you can write to") from None
    return [dest / name for name in contents]


def _differs(target: Path, data: bytes) -> bool:
    """True when ``target`` exists and is not exactly ``data`` (a folder of that name differs)."""
    if not target.exists() and not target.is_symlink():
        return False
    try:
        return not target.is_file() or target.read_bytes() != data
    except OSError:
        return True
