"""Lesson 08 helpers: a fake private key made at lesson time, where a key sits in an image's
layers, what a container sees, and the key's bytes recovered from a saved image.

The key is PEM-shaped but fake: its body is SHA-256 in counter mode over a seed, so it looks
like a key to a scanner (that is the point of the lesson) and is the same on every machine,
yet nothing key-like is ever stored in the repository. Printed findings name the kind of
secret and its layers, never evidence; a recovered key shows one line, masked
(``labkit.analysis.secrets.mask``). So a saved lesson notebook holds nothing a scanner would flag.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..analysis.efficiency import analyze
from ..analysis.secrets import mask, scan
from ..errors import LabkitError
from ..formatting import short_instruction

KEY_NAME = "id_rsa"
_PEM = "PRIVATE" + " KEY"      # split so the source itself is no PEM header for a scanner


def fake_private_key(seed: str = "labkit-lesson-08", *, lines: int = 12) -> str:
    """A PEM-shaped fake RSA private key (deterministic in ``seed``); never a usable key."""
    blocks = b"".join(hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(lines * 2))
    body = base64.b64encode(blocks[: lines * 48]).decode("ascii")
    rows = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN RSA {_PEM}-----", *rows, f"-----END RSA {_PEM}-----"]) + "\n"


def write_fake_key(context: str | Path, name: str = KEY_NAME, *, seed: str = "labkit-lesson-08") -> Path:
    """Write ``fake_private_key(seed)`` as ``context/name`` (mode 0600); returns its path."""
    path = Path(context) / name
    path.write_text(fake_private_key(seed))
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class KeyCopy:
    """A layer entry named like the key: which layer stores it, and how many bytes."""
    layer: int
    path: str                     # relative, e.g. "root/.ssh/id_rsa"
    size: int
    instruction: str              # the step that made the layer (short form)

    def __str__(self) -> str:
        return f"layer {self.layer} ({self.instruction}) stores /{self.path}, {self.size:,} bytes"


@dataclass(frozen=True)
class SecretScan:
    """Every layer of one image searched for a key: by name and by content (analysis)."""
    layers: int
    copies: tuple[KeyCopy, ...]                  # entries named ``name`` (not whiteouts)
    deletions: tuple[tuple[int, str], ...]        # (layer, path) whiteouts of that name
    findings: tuple[object, ...]                 # labkit.analysis.secrets.SecretFinding, masked
    stories: tuple[str, ...] = field(default=(), repr=False)

    @property
    def clean(self) -> bool:
        """No layer stores a file of that name and the scanner finds nothing."""
        return not self.copies and not self.findings

    def __str__(self) -> str:
        lines = [f"{self.layers} layers searched"]
        lines += [f"  {c}" for c in self.copies]
        lines += [f"  layer {i} deletes /{p} (a whiteout)" for i, p in self.deletions]
        lines += [f"  finding: {s}" for s in self.stories]
        if self.clean:
            lines.append("  no layer stores the key, and the scanner finds no secret")
        return "\n".join(lines)


def scan_layers(engine, image, name: str = KEY_NAME) -> SecretScan:
    """Save ``image`` and search EVERY layer: entries named ``name`` and what
    ``labkit.analyze`` finds by name and content (values masked)."""
    with engine.open_image(image) as img:
        instr = {la.index: short_instruction(la.created_by) for la in img.layers}
        copies, deletions = [], []
        for i in range(len(img.layers)):
            for path, node in sorted(img.layer_dir(i).items()):
                if path.rsplit("/", 1)[-1] != name:
                    continue
                if node.kind == "whiteout":
                    deletions.append((i, path))
                else:
                    copies.append(KeyCopy(i, path, node.size, instr.get(i, "")))
        analysis = analyze(img)
        stories = tuple(_story(f, instr) for f in analysis.secrets)
        return SecretScan(len(img.layers), tuple(copies), tuple(deletions), analysis.secrets, stories)


def _story(f, instr: dict[int, str]) -> str:
    """A finding in one line, without its evidence: even a masked PEM header in a saved
    notebook would make repository scanners flag the lesson itself."""
    where = f"added by layer {f.added_by} ({instr.get(f.added_by, '')})"
    if f.visible:
        return f"/{f.path}: {f.kind}, {where}, still in the final filesystem"
    return (f"/{f.path}: {f.kind}, {where}, {f.how or 'deleted'} by layer {f.removed_by} "
            f"({instr.get(f.removed_by, '')}), but still stored in layer {f.added_by}")


def container_sees(engine, image, path: str) -> str:
    """What a new container of ``image`` sees at ``path``: ``"present"`` or ``"gone"``."""
    p = "/" + path.lstrip("/")
    out = engine.run(engine.ref(image), f"test -e {p} && echo present || echo gone", keep=False).output
    return out.strip()


@dataclass(frozen=True)
class Recovered:
    """A file read back out of one layer of a saved image (the bytes are not printed)."""
    layer: int
    path: str
    data: bytes = field(repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def same_as(self, file: str | Path) -> bool:
        """True when the recovered bytes equal ``file``'s (e.g. the key in the build context)."""
        return Path(file).read_bytes() == self.data

    def __str__(self) -> str:
        lines = self.data.split(b"\n")
        kinds = ", ".join(k for k, _ in scan(self.path, self.data)) or "nothing known"
        return (f"recovered /{self.path} from layer {self.layer}: {len(self.data):,} bytes, "
                f"{len(lines) - 1} lines\n  the scanner calls it: {kinds}\n"
                f"  line 2 (masked): {mask(lines[1] if len(lines) > 1 else b'')}")


def recover(engine, image, path: str) -> Recovered:
    """Read ``path`` out of the highest layer of ``image`` that stores it, even when a later
    layer deletes it; ``LabkitError`` when no layer holds it."""
    key = path.strip("/")
    with engine.open_image(image) as img:
        for i in reversed(range(len(img.layers))):
            node = img.layer_dir(i, with_data=True).get(key)
            if node is not None and node.kind == "file":
                return Recovered(i, key, bytes(node.data or b""))
    raise LabkitError(f"no layer of the image stores /{key}",
                      fix="check the path with scan_layers(engine, image)")
