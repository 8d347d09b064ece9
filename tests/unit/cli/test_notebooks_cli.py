"""``labkit notebooks DEST``: the lessons copied into a learner's folder, never over their work.

Here labkit runs from a checkout (editable install), so the lessons are read from the
repository's ``notebooks/``; tests/unit/test_packaging.py runs the same command from an
installed wheel.
"""
from __future__ import annotations

from pathlib import Path

import layout
import pytest

import labkit
from labkit.cli import main
from labkit.errors import LabkitError
from labkit.lessons.notebooks import copy_notebooks, lessons, lessons_dir

SOURCE = layout.ROOT / "notebooks"
LESSONS = sorted(p.name for p in SOURCE.glob("*.ipynb"))


def shipped(name: str) -> bytes:
    return (SOURCE / name).read_bytes()


def test_a_checkout_reads_its_one_copy_of_the_lessons() -> None:
    assert len(LESSONS) >= 12 and LESSONS[0] == "00-start-here.ipynb"
    assert Path(str(lessons_dir())) == Path(labkit.__file__).resolve().parent.parent / "notebooks"
    assert [f.name for f in lessons()] == LESSONS
    assert not (layout.PACKAGE / "notebooks").exists(), "the lessons live in notebooks/ only"


def test_copies_every_lesson_and_nothing_else(tmp_path: Path, capsys) -> None:
    dest = tmp_path / "me" / "lessons"            # made when missing, parents too
    assert main(["notebooks", str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == LESSONS   # no sanitize.cfg, no src/
    assert all((dest / name).read_bytes() == shipped(name) for name in LESSONS)
    out = capsys.readouterr().out
    assert f"copied {len(LESSONS)} lesson notebooks to {dest}" in out
    assert f"jupyter lab {dest / '00-start-here.ipynb'}" in out


def test_a_changed_lesson_is_never_overwritten_without_force(tmp_path: Path, capsys) -> None:
    assert main(["notebooks", str(tmp_path)]) == 0
    mine = tmp_path / "03-copy-on-write.ipynb"
    mine.write_text("my answers")
    (tmp_path / "05-content-addressing.ipynb").unlink()
    capsys.readouterr()

    assert main(["notebooks", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("labkit notebooks: error: ") and "03-copy-on-write.ipynb" in err
    assert f"labkit notebooks {tmp_path} --force" in err
    assert mine.read_text() == "my answers"
    assert not (tmp_path / "05-content-addressing.ipynb").exists(), "nothing is copied when refused"

    assert main(["notebooks", str(tmp_path), "--force"]) == 0
    assert mine.read_bytes() == shipped(mine.name)
    assert sorted(p.name for p in tmp_path.iterdir()) == LESSONS


def test_unchanged_copies_and_other_files_are_no_obstacle(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["notebooks", str(tmp_path)]) == 0
    assert main(["notebooks", str(tmp_path)]) == 0          # the same again: nothing to lose
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_the_library_error_names_the_fix(tmp_path: Path) -> None:
    copy_notebooks(tmp_path)
    (tmp_path / LESSONS[0]).write_text("changed")
    with pytest.raises(LabkitError) as info:
        copy_notebooks(tmp_path)
    assert LESSONS[0] in info.value.message and "--force" in info.value.fix
    assert copy_notebooks(tmp_path, force=True)[0].read_bytes() == shipped(LESSONS[0])


def test_dest_must_be_a_folder(tmp_path: Path, capsys) -> None:
    afile = tmp_path / "lessons"
    afile.write_text("x")
    assert main(["notebooks", str(afile)]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err


def test_listed_in_the_help(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "notebooks" in capsys.readouterr().out
