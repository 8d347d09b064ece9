"""Load the build cases of tests/cases and apply their edits (see README.md there).

Used by every runner (real Docker now, the simulator's builder later), so the cases mean
the same thing everywhere.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

CASES = Path(__file__).resolve().parent
NORMAL_MTIME = 1_000_000_000


@dataclass(frozen=True)
class Edit:
    name: str
    ops: tuple[dict, ...]
    no_cache: bool = False


@dataclass(frozen=True)
class Case:
    name: str
    folder: Path
    description: str
    build_args: tuple[tuple[str, str], ...]
    edits: tuple[Edit, ...]
    base_steps: str = ""          # base.Dockerfile: instructions the case's own base adds
    def prepare(self, dest: Path) -> Path:
        """Copy and normalise the context into ``dest`` (which must not exist); returns it."""
        shutil.copytree(self.folder / "context", dest, symlinks=True)
        normalise(dest)
        return dest


def load_cases() -> list[Case]:
    out = []
    for folder in sorted(p for p in CASES.iterdir() if (p / "edits.json").is_file()):
        spec = json.loads((folder / "edits.json").read_text())
        edits = tuple(Edit(e["name"], tuple(e.get("ops", ())), bool(e.get("no_cache", False)))
                      for e in spec.get("edits", ()))
        base = folder / "base.Dockerfile"
        out.append(Case(folder.name, folder, spec.get("description", ""),
                        tuple(sorted(spec.get("build_args", {}).items())), edits,
                        base.read_text() if base.is_file() else ""))
    return out


def normalise(root: Path) -> None:
    """Directories 0755, files 0644, owner 0:0, mtime NORMAL_MTIME (symlinks: owner, mtime)."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                os.lchown(p, 0, 0)
                os.utime(p, (NORMAL_MTIME, NORMAL_MTIME), follow_symlinks=False)
                continue
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
            os.chown(p, 0, 0)
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                os.utime(p, (NORMAL_MTIME, NORMAL_MTIME))
        os.utime(dirpath, (NORMAL_MTIME, NORMAL_MTIME))


def apply_ops(root: Path, ops: tuple[dict, ...], build_args: dict[str, str]) -> None:
    """Apply one edit's operations to the context at ``root`` (and to ``build_args``)."""
    for op in ops:
        kind = op["op"]
        if kind == "build_args":
            build_args.update(op.get("set", {}))
            for k in op.get("unset", ()):
                build_args.pop(k, None)
            continue
        path = root / op["path"]
        if kind == "write":
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            existed = path.exists()
            path.write_text(op["content"])
            if not existed:
                os.chmod(path, 0o644)
        elif kind == "replace":
            text = path.read_text()
            if op["old"] not in text:
                raise ValueError(f"replace: {op['old']!r} is not in {op['path']}")
            st = path.stat()
            path.write_text(text.replace(op["old"], op["new"], 1))
            os.chmod(path, st.st_mode & 0o7777)
        elif kind == "delete":
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        elif kind == "touch":
            os.utime(path, (op["mtime"], op["mtime"]), follow_symlinks=False)
        elif kind == "chmod":
            os.chmod(path, int(str(op["mode"]), 8))
        elif kind == "chown":
            os.lchown(path, int(op["uid"]), int(op["gid"]))
        elif kind == "rename":
            path.rename(root / op["to"])
        elif kind == "symlink":
            if path.is_symlink() or path.exists():
                path.unlink()
            os.symlink(op["target"], path)
        else:
            raise ValueError(f"unknown op {kind!r} (see tests/cases/README.md)")
