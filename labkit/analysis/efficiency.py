"""What each layer of an image does, and where its bytes go.

Two views of waste, side by side:

* ``DiveScore`` — dive's numbers, computed the way dive computes them, so a learner can
  compare with ``dive --ci``: only leaf paths of each layer are scored, a whiteout scores the
  whole subtree it hides when that was a directory below (0 when it was a file),
  efficiency = sum of each path's smallest occurrence / sum of all occurrences,
  wastedBytes = the full cumulative size of every path seen twice or more (the copy you keep
  included), userWastedPercent = wastedBytes / bytes of all layers but the first.
* ``WasteItem`` — labkit's corrected view: bytes stored in some layer but invisible in the
  final filesystem (overwritten copies, files deleted later alone or with their directory,
  entries hidden by opaque directories; hard links counted once). Each item tells its story:
  "added by layer 3 (RUN apt-get ...), deleted by layer 5 (RUN rm ...)".

Layers are streamed one at a time; only per-path metadata is kept.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from ..errors import LabkitError
from ..formatting import human_size, short_instruction
from ..fs.layers import check_layer_count
from ..oci.limits import Limits, Tally
from ..oci.tar.reader import clean_path, gc_paused
from . import secrets as _secrets
from .report import analysis_dict, analysis_html, analysis_text

_MARK = "\U0010ffff\U0010ffff"     # sorts after every real name: gives child-first order


# --------------------------------------------------------------------------- values

@dataclass(frozen=True)
class PathSize:
    path: str
    size: int


@dataclass(frozen=True)
class LayerSummary:
    """One layer: what made it and what it changes relative to the layers below."""

    index: int
    instruction: str               # history created_by ("" when unknown)
    size: int                      # content bytes, as `docker history` counts them
    tar_bytes: int                 # sum of tar entry sizes (dive's layer size)
    entries: int                   # tar entries (dirs, files, links, whiteouts, markers)
    file_count: int                # entries that are not directories, whiteouts or markers
    added: tuple[str, ...]         # paths new in this layer
    modified: tuple[str, ...]      # paths that existed below and are replaced/updated
    deleted: tuple[str, ...]       # paths a whiteout in this layer deletes
    opaque_dirs: tuple[str, ...]   # directories whose lower contents this layer hides
    largest: tuple[PathSize, ...]  # biggest files this layer stores
    hidden_later: int              # bytes of this layer invisible in the final filesystem


@dataclass(frozen=True)
class DiveInefficiency:
    path: str                      # absolute, like dive prints it
    count: int                     # occurrences (dive: len(Nodes))
    cumulative_size: int
    min_size: int
    layers: tuple[int, ...]


@dataclass(frozen=True)
class DiveScore:
    """dive's image-level numbers (dive/filetree/efficiency.go, dive/image analysis).

    Kept exactly, quirks included: a whiteout whose path does not exist below stops dive's
    scoring of the rest of that layer and leaves a smallest size of -1 in the sums, so a
    hand-made image can even score below 0."""

    efficiency: float
    wasted_bytes: int
    size_bytes: int                # sum of all layer sizes (tar entry sizes)
    user_size_bytes: int           # all layers except layer 0
    user_wasted_percent: float     # wasted / user size (a fraction; NaN/inf as Go gives)
    inefficiencies: tuple[DiveInefficiency, ...]   # biggest cumulative size first


@dataclass(frozen=True)
class WasteItem:
    """Bytes stored in the image but invisible in its final filesystem."""

    path: str                      # the file or directory root of the removal
    bytes: int
    files: int                     # file versions removed under this root
    added_by: tuple[int, ...]      # layers that stored those bytes
    removed_by: int                # layer that deleted / overwrote / hid them
    how: str                       # "deleted", "overwritten", "replaced", "hidden by opaque directory"
    story: str = ""


@dataclass(frozen=True, eq=False)
class Analysis:
    """Everything ``labkit inspect`` reports. ``to_dict()`` for JSON, ``text()`` for a
    terminal, ``_repr_html_()`` for notebooks."""

    image_id: str
    tags: tuple[str, ...]
    source: str
    layers: tuple[LayerSummary, ...]
    dive: DiveScore
    waste: tuple[WasteItem, ...]            # biggest first
    reclaimable_bytes: int                  # sum of waste
    stored_bytes: int                       # file bytes stored across all layers
    final_bytes: int                        # file bytes visible in the final filesystem
    final_files: int                        # non-directory entries in the final filesystem
    secrets: tuple[_secrets.SecretFinding, ...]
    diff_ids: tuple[str, ...] = ()
    history: tuple[Any, ...] = ()           # engine.base.HistoryEntry values, oldest first

    def instructions(self) -> dict[int, str]:
        return {la.index: la.instruction for la in self.layers}

    def to_dict(self) -> dict[str, Any]:
        return analysis_dict(self)

    def text(self, *, top: int = 10) -> str:
        return analysis_text(self, top=top)

    def html(self) -> str:
        return analysis_html(self)

    def _repr_html_(self) -> str:
        return self.html()

    def __str__(self) -> str:
        return self.text()


# --------------------------------------------------------------------------- compact entries

class _E(NamedTuple):
    """One tar entry, reduced to what the analysis needs (a tuple: cheap to make and unpack)."""

    path: str
    kind: str          # fsmodel kind; "whiteout" for .wh.X or char 0/0; "opaque" for .wh..wh..opq
    header_size: int   # size in the tar header (0 for links, dirs, whiteouts)
    content: int       # docker's count: file bytes (hard links 0) + symlink target length
    hardlink: str
    found: tuple = ()  # secret findings ((kind, masked detail), ...) of a regular file
    wh_name: bool = False   # a ``.wh.NAME`` entry (dive only recognises whiteouts by name)


def _compact_layer(entries: Iterable[Any]) -> list[_E]:
    """The entries of one layer as ``_E`` field tuples (plain tuples in ``_E``'s field order,
    the root entry dropped). The secret scan of a regular file (by name, and by the head of
    its content when the entry brings one: node data or ``iter_entries(head=N)``) happens
    here, so no content is held afterwards."""
    out: list[_E] = []
    append = out.append
    scan, by_name = _secrets.scan, _secrets.by_name
    maybe_named = _secrets.maybe_named
    cap, nbytes = _secrets.SIZE_CAP, _secrets.SCAN_BYTES
    for e in entries:
        try:
            node, path, opaque, hard, e_head = e.node, e.path, e.opaque, e.hardlink, e.head
            kind, n_data = node.kind, node.data
        except AttributeError:               # an entry-like value without every field
            node, path = e.node, e.path
            opaque, hard, e_head = (getattr(e, "opaque", False), getattr(e, "hardlink", None),
                                    getattr(e, "head", None))
            kind, n_data = node.kind, getattr(node, "data", None)
        if opaque:
            append((path, "opaque", 0, 0, "", (), False))  # type: ignore[arg-type]
            continue
        if path == "":
            continue                         # the root entry "./"
        if kind == "file":
            found: tuple = ()
            if hard:
                link = hard.strip("/")
                if not link and maybe_named(path):
                    named = by_name(path)
                    found = ((named, "credential file by name"),) if named else ()
                append((path, kind, 0, 0, link, found, False))  # type: ignore[arg-type]
                continue
            size = node.size
            data = None
            if 0 < size <= cap:              # secrets.wants_content
                data = n_data if n_data is not None else e_head   # e.head: iter_entries(head=N)
            if data is not None and (data.find(b"\0", 0, 1024) if type(data) is bytes
                                     else bytes(data[:1024]).find(b"\0")) < 0:
                found = tuple(scan(path, bytes(data[:nbytes])))
            elif maybe_named(path):          # binary or unread: judged by its name only
                named = by_name(path)
                if named:
                    found = ((named, "credential file by name"),)
            append((path, kind, size, size, "", found, False))  # type: ignore[arg-type]
        elif kind == "symlink":
            append((path, kind, 0, len(node.linkname.encode("utf-8", "surrogateescape")),  # type: ignore[arg-type]
                    hard.strip("/") if hard else "", (), False))
        elif kind == "whiteout":
            append((path, kind, 0, 0, hard.strip("/") if hard else "", (),  # type: ignore[arg-type]
                    bool(getattr(e, "whiteout", True))))
        else:
            append((path, kind, 0, 0, hard.strip("/") if hard else "", (), False))  # type: ignore[arg-type]
    return out


def _parent(p: str) -> str:
    return p.rsplit("/", 1)[0] if "/" in p else ""


def _ancestors(p: str) -> list[str]:
    parts = p.split("/")
    return ["/".join(parts[:k]) for k in range(1, len(parts))]


def _non_dir_ancestors(p: str, view: Mapping[str, tuple]) -> list[str]:
    """The ancestors of ``p`` (top first) below its nearest ancestor that is a directory of
    ``view`` (every ancestor of a view's entry is a directory of it)."""
    out = []
    i = p.rfind("/")
    while i > 0:
        a = p[:i]
        v = view.get(a)
        if v is not None and v[0] == "dir":
            break
        out.append(a)
        i = p.rfind("/", 0, i)
    out.reverse()
    return out


def _missing_ancestors(p: str, have: Mapping[str, Any]) -> list[str]:
    """The ancestors of ``p`` (top first) below its nearest ancestor that is a key of
    ``have``: all of them when ``have`` keeps every ancestor of each of its keys."""
    out = []
    i = p.rfind("/")
    while i > 0:
        a = p[:i]
        if a in have:
            break
        out.append(a)
        i = p.rfind("/", 0, i)
    out.reverse()
    return out


def _child_first(paths: Iterable[str]) -> list[str]:
    """``paths`` in dive's tree walk order: by components, each directory after its children
    (``sorted(key=(*p.split("/"), _MARK))``). With each component ended by NUL, which sorts
    before every other character, plain string order is that component order."""
    ps = list(paths)
    if any("\0" in p for p in ps):
        return sorted(ps, key=lambda p: (*p.split("/"), _MARK))
    return sorted(ps, key=lambda p: p.replace("/", "\0") + _END)


_END = "\0" + _MARK


# --------------------------------------------------------------------------- dive's score

class _Dive:
    """dive's per-leaf accounting and its stacked tree (file-over-dir keeps children,
    opaque markers dropped, implicit parents carry empty info), reproduced from its rules."""

    def __init__(self) -> None:
        self.eff: dict[str, list[int]] = {}          # path -> [count, cumulative, min, *layers]
        self.matches: list[str] = []
        self.sizes: list[int] = []
        self.stack: dict[str, tuple[bool, int]] = {}
        self.kids: dict[str, set[str]] = {}

    @staticmethod
    def _tree(entries: Sequence[_E]) -> tuple[dict[str, tuple[bool, int]], dict[str, str]]:
        nodes: dict[str, tuple[bool, int]] = {}
        wh: dict[str, str] = {}
        empty = (False, 0)
        for path, kind, header_size, _c, _h, _f, wh_name in entries:
            if kind == "opaque":          # dropped, but AddPath made its parents first
                for a in _ancestors(path) + ([path] if path else []):
                    nodes.setdefault(a, empty)
                continue
            tp = path
            parent = path.rpartition("/")[0]
            if wh_name:
                tp = (parent + "/" if parent else "") + ".wh." + path.rpartition("/")[2]
                wh[tp] = path
            if parent and parent not in nodes:
                for a in _missing_ancestors(tp, nodes):   # nodes holds the parents of its keys
                    nodes[a] = empty
            nodes[tp] = (kind == "dir", header_size)
        return nodes, wh

    @staticmethod
    def _kids(nodes: Mapping[str, Any]) -> dict[str, set[str]]:
        kids: dict[str, set[str]] = {}
        for p in nodes:
            kids.setdefault(_parent(p), set()).add(p)
        return kids

    @staticmethod
    def _subtree_sum(nodes: Mapping[str, tuple[bool, int]], kids: Mapping[str, set[str]], top: str) -> int:
        total, todo = 0, [top]
        while todo:
            p = todo.pop()
            total += nodes[p][1]
            todo.extend(kids.get(p, ()))
        return total

    def add_layer(self, index: int, entries: Sequence[_E]) -> None:
        self.sizes.append(sum(e[2] for e in entries))
        nodes, wh = self._tree(entries)
        if index == 0:                       # dive stacks range(0, -1): layer 0's own tree
            below, below_kids = nodes, (self._kids(nodes) if wh else {})
        else:
            below, below_kids = self.stack, self.kids
        parents = {p.rpartition("/")[0] for p in nodes}
        order = _child_first(nodes)
        eff, matches = self.eff, self.matches
        for tp in order:
            if tp in parents:
                continue                     # only leaves are scored
            key = wh.get(tp, tp) if wh else tp
            data = eff.get(key)
            if data is None:
                if key is tp:                # first sight of a path (most of them)
                    size = nodes[tp][1]
                    eff[key] = [1, size, size, index]
                    continue
                data = eff[key] = [0, 0, -1]
            if key is not tp:                # a whiteout
                prev = below.get(key)
                if prev is None:             # dive: GetNode fails -> rest of this layer unscored
                    break
                size = self._subtree_sum(below, below_kids, key) if prev[0] else 0
            else:
                size = nodes[tp][1]
            data[1] += size
            if data[2] < 0 or size < data[2]:
                data[2] = size
            data[0] += 1
            data.append(index)
            if data[0] == 2:
                matches.append(key)
        stack, kids = self.stack, self.kids
        for tp in order:                     # Stack(): child first, whiteouts remove
            if wh and tp in wh:
                self._remove(wh[tp])
                continue
            if tp not in stack:
                parent = tp.rpartition("/")[0]
                if parent and parent not in stack:
                    for a in _missing_ancestors(tp, stack):   # the stack holds the parents of its keys
                        stack[a] = (False, 0)
                        kids.setdefault(_parent(a), set()).add(a)
                k = kids.get(parent)
                if k is None:
                    kids[parent] = {tp}
                else:
                    k.add(tp)
            stack[tp] = nodes[tp]

    def _remove(self, p: str) -> None:
        if p not in self.stack:
            return
        todo = [p]
        while todo:
            q = todo.pop()
            self.stack.pop(q, None)
            todo.extend(self.kids.pop(q, ()))
        self.kids.get(_parent(p), set()).discard(p)

    def score(self) -> DiveScore:
        minimum = sum(v[2] for v in self.eff.values())
        discovered = sum(v[1] for v in self.eff.values())
        efficiency = 1.0 if discovered == 0 else minimum / discovered
        matches = [DiveInefficiency("/" + k, self.eff[k][0], self.eff[k][1], self.eff[k][2],
                                    tuple(self.eff[k][3:])) for k in self.matches]
        matches.sort(key=lambda m: (-m.cumulative_size, m.path))
        wasted = sum(m.cumulative_size for m in matches)
        user = sum(self.sizes[1:])
        if user:
            pct = wasted / user
        else:
            pct = math.nan if wasted == 0 else math.inf
        return DiveScore(efficiency, wasted, sum(self.sizes), user, pct, tuple(matches))


# --------------------------------------------------------------------------- labkit's view

@dataclass
class _Event:
    path: str
    layer: int
    how: str
    bytes: int = 0
    files: int = 0
    added_by: set[int] = field(default_factory=set)


class _Overlay:
    """The merged view as overlay2 builds it, with where every stored byte ends up."""

    def __init__(self, instructions: Mapping[int, str], top: int) -> None:
        self.view: dict[str, tuple[str, int, int]] = {}     # path -> (kind, layer, group or -1)
        self.kids: dict[str, set[str]] = {}
        self.groups: list[list[int]] = []                   # [size, refs, layer]
        self.events: list[_Event] = []
        self.hidden: dict[int, int] = {}
        self.findings: list[dict[str, Any]] = []
        self.open_findings: dict[str, list[int]] = {}
        self.instructions = instructions
        self.top = top

    def _put(self, p: str, v: tuple[str, int, int]) -> None:
        if p not in self.view:
            self.kids.setdefault(_parent(p), set()).add(p)
        self.view[p] = v

    def _remove(self, root: str, ev: _Event, keep_root: bool = False) -> None:
        todo = list(self.kids.get(root, ())) if keep_root else [root]
        if keep_root:
            self.kids.pop(root, None)
        else:
            self.kids.get(_parent(root), set()).discard(root)
        while todo:
            p = todo.pop()
            kind, layer, gid = self.view.pop(p)
            todo.extend(self.kids.pop(p, ()))
            if kind != "dir":
                ev.files += 1
            if gid >= 0:
                g = self.groups[gid]
                g[1] -= 1
                if g[1] == 0:
                    ev.bytes += g[0]
                    ev.added_by.add(g[2])
                    self.hidden[g[2]] = self.hidden.get(g[2], 0) + g[0]
            for fi in self.open_findings.pop(p, ()):
                self.findings[fi]["removed_by"] = ev.layer
                self.findings[fi]["how"] = ev.how

    def add_layer(self, index: int, entries: Sequence[_E],
                  hits: Mapping[str, list[tuple[str, str]]] | None = None) -> LayerSummary:
        view, kids, groups, events = self.view, self.kids, self.groups, self.events
        n_entries, tar_bytes = len(entries), sum(e[2] for e in entries)   # the tar's own counts
        entries = _last_wins(entries)                                      # what the layer holds
        added, modified, deleted, opaque = [], [], [], []
        for e in entries:
            kind = e[1]
            if kind == "opaque":
                opaque.append(e[0])
            elif kind == "whiteout":
                if e[0] in view:
                    deleted.append(e[0])
            elif e[0] in view:
                modified.append(e[0])
            else:
                added.append(e[0])
        for d in opaque:
            if d == "" or d in view:
                ev = _Event(d, index, "hidden by opaque directory")
                self._remove(d, ev, keep_root=True)
                events.append(ev)
        for p in deleted:
            if p in view:
                ev = _Event(p, index, "deleted")
                self._remove(p, ev)
                events.append(ev)
        local: dict[str, int] = {}                       # path -> group, for hard links
        largest: list[tuple[int, str]] = []
        top = self.top
        file_count = content = 0
        for path, kind, header_size, e_content, hardlink, found, _w in entries:
            content += e_content
            marker = kind == "opaque" or kind == "whiteout"
            parent = path.rpartition("/")[0]
            if kind == "opaque" and path:
                parent = path                    # the marker's directory itself
            if parent:
                pv = view.get(parent)
                if pv is None or pv[0] != "dir":
                    # Docker creates the missing parents of every entry, markers included
                    todo = _non_dir_ancestors(parent + "/", view) if marker else _non_dir_ancestors(path, view)
                    for a in todo:
                        old = view.get(a)
                        if old is None or old[0] != "dir":
                            if old is not None:
                                ev = _Event(a, index, "replaced")
                                self._remove(a, ev)
                                events.append(ev)
                            self._put(a, ("dir", index, -1))
            if marker:
                continue
            is_dir = kind == "dir"
            if not is_dir:
                file_count += 1
            old = view.get(path)
            if old is not None and not (is_dir and old[0] == "dir"):
                ev = _Event(path, index, "overwritten" if old[0] != "dir" and not is_dir else "replaced")
                self._remove(path, ev)
                events.append(ev)
                old = None
            gid = -1
            if hardlink:
                gid = local.get(hardlink, -1)
                if gid >= 0:
                    groups[gid][1] += 1
            elif kind == "file":
                gid = len(groups)
                groups.append([header_size, 1, index])
                local[path] = gid
                if header_size:
                    if len(largest) < top:
                        heapq.heappush(largest, (header_size, path))
                    elif header_size > largest[0][0]:
                        heapq.heapreplace(largest, (header_size, path))
            if old is None and path not in view:       # _put, inlined
                k = kids.get(parent)
                if k is None:
                    kids[parent] = {path}
                else:
                    k.add(path)
            view[path] = (kind, index, gid)
            if kind == "file" and not hardlink:
                if hits is not None:
                    found = hits.get(path) or found
                for fkind, detail in found:
                    self.open_findings.setdefault(path, []).append(len(self.findings))
                    self.findings.append({"path": path, "kind": fkind, "detail": detail, "added_by": index})
        return LayerSummary(
            index=index, instruction=self.instructions.get(index, ""),
            size=content, tar_bytes=tar_bytes,
            entries=n_entries, file_count=file_count, added=tuple(added), modified=tuple(modified),
            deleted=tuple(deleted), opaque_dirs=tuple(opaque),
            largest=tuple(PathSize(p, s) for s, p in sorted(largest, key=lambda x: (-x[0], x[1]))),
            hidden_later=0)

    def story(self, ev: _Event) -> str:
        def name(i: int) -> str:
            text = self.instructions.get(i, "")
            return f"layer {i}" + (f" ({short_instruction(text)})" if text else "")
        adders = sorted(ev.added_by)
        by = (name(adders[0]) if len(adders) == 1 else
              "layers " + ", ".join(str(i) for i in adders))
        what = f"/{ev.path}" + (f" ({ev.files} files)" if ev.files > 1 else "")
        return f"{what}: {human_size(ev.bytes)} added by {by}, {ev.how} by {name(ev.layer)}"


def _last_wins(entries: Sequence[_E]) -> Sequence[_E]:
    """The entries of one layer that its unpacked directory keeps: Docker unpacks them in
    order, and an entry whose (normalised) path an earlier entry already had replaces it
    (``/a`` then ``a``; names equal after cleaning are refused before this), together with
    what was under it unless both are directories. Whiteouts and opaque markers stay (they
    act on the layers below). ``entries`` itself when no path repeats (nearly always)."""
    paths = [e[0] for e in entries if e[1] != "whiteout" and e[1] != "opaque"]
    if len(set(paths)) == len(paths):
        return entries
    dead: set[int] = set()
    last: dict[str, int] = {}
    for k, e in enumerate(entries):
        path, kind = e[0], e[1]
        if kind == "whiteout" or kind == "opaque":
            continue
        j = last.get(path)
        if j is not None:
            dead.add(j)
            if not (kind == "dir" and entries[j][1] == "dir"):
                under = path + "/"
                dead.update(i for i in range(k) if entries[i][0].startswith(under)
                            and entries[i][1] not in ("whiteout", "opaque"))
        last[path] = k
    return [e for k, e in enumerate(entries) if k not in dead]


# --------------------------------------------------------------------------- entry points

def analyze_layers(layers: Iterable[Iterable[Any]], *, instructions: Sequence[str] | Mapping[int, str] = (),
                   top: int = 10, content_hits: Callable[[int], Mapping[str, list[tuple[str, str]]]] | None = None,
                   ) -> tuple[tuple[LayerSummary, ...], DiveScore, _Overlay]:
    """Analyse layers given as iterables of ``oci.tar.reader.TarEntry`` (bottom first), one at a time.
    ``content_hits(i)`` may supply secret findings from file contents of layer ``i``."""
    instr = dict(instructions) if isinstance(instructions, Mapping) else dict(enumerate(instructions))
    dive, ov = _Dive(), _Overlay(instr, top)
    summaries = []
    with gc_paused():
        for i, entries in enumerate(layers):
            hits = content_hits(i) if content_hits else None
            compact = _compact_layer(entries)
            dive.add_layer(i, compact)
            summaries.append(ov.add_layer(i, compact, hits))
            del compact
    summaries = [LayerSummary(**{**s.__dict__, "hidden_later": ov.hidden.get(s.index, 0)}) for s in summaries]
    return tuple(summaries), dive.score(), ov


def dive_score(layers: Iterable[Iterable[Any]]) -> DiveScore:
    """Only dive's numbers for layers of ``TarEntry`` values."""
    return analyze_layers(layers)[1]


def analyze(image: Any, *, top: int = 10, scan_secrets: bool = True,
            limits: Limits | None = None) -> Analysis:
    """Analyse an ``image.Image`` (from ``open_image``): every layer is streamed once and
    verified; a digest mismatch raises and no result is returned. The entries are checked
    by ``Image.iter_entries`` with Docker's unpack rules, so a layer ``flatten`` (and Docker)
    refuses is refused here too, and the image's budgets (``limits``, default the image's own
    ``Image.limits``) hold, ``entries_per_image`` included."""
    instructions = {la.index: la.created_by for la in image.layers}
    head = _secrets.SCAN_BYTES if scan_secrets else 0    # secrets ride the one entry pass
    start = getattr(image, "layer_checks", None)
    if start is None:
        streams: Iterable[Iterable[Any]] = (
            image.iter_entries(i, with_data=False, digest=False, head=head) for i in range(len(image.layers)))
        return _result(streams, instructions, top, None, image_id=image.ref.id, tags=image.ref.tags,
                       source=getattr(image, "source", ""), diff_ids=image.diff_ids,
                       history=tuple(image.history))
    check_layer_count(len(image.layers), "docker")    # as flatten: Docker loads no more
    current = [0]
    if limits is not None and limits != getattr(image, "limits", limits):
        image = replace(image, limits=limits)
    tally = Tally(image.limits, getattr(image, "source", "") or "the image")

    def layer(i: int) -> Iterable[Any]:
        current[0] = i            # (called just before its entries are read)
        # compressed: verified as it streams; plain: verified by the checks (seekable: file
        # data is skipped)
        return image.iter_entries(i, with_data=False, digest=False, head=head,
                                  verify=not checks.covers(i), tally=tally)

    # plain blobs are hashed in background threads while this one parses their headers
    with start() as checks:
        try:
            result = _result((layer(i) for i in range(len(image.layers))), instructions, top, None,
                             image_id=image.ref.id, tags=image.ref.tags,
                             source=getattr(image, "source", ""), diff_ids=image.diff_ids,
                             history=tuple(image.history))
        except LabkitError:
            checks.check_through(current[0])   # a changed blob is named as a digest mismatch first
            raise
        checks.check_all()                     # no result unless every layer verified
    return result


def content_hits(image: Any, i: int) -> dict[str, list[tuple[str, str]]]:
    """Secret findings from the first ``SCAN_BYTES`` of each small regular file of layer ``i``.

    ``analyze`` no longer needs this second pass (``iter_entries(head=N)`` brings the heads
    along); it stays as an independent cross-check. It reads file heads with the
    standard library's tar reader (only contents; paths are normalised with
    ``oci.tar.reader.clean_path`` and every entry rule stays with oci.tar). It seeks over file data
    when the blob is stored uncompressed. No digest check here: ``analyze`` streams every
    layer through oci.tar right after and that pass verifies it (no result on a mismatch).
    A malformed tar is left for oci.tar to report.
    """
    import tarfile  # noqa: PLC0415
    hits: dict[str, list[tuple[str, str]]] = {}
    with image.open_layer(i, verify=False) as f:   # the entry pass of this layer verifies it
        try:
            with tarfile.open(fileobj=f, mode="r:" if f.seekable() else "r|") as tf:
                for m in tf:
                    if not (m.isreg() and _secrets.wants_content(m.name, m.size)):
                        continue
                    base = m.name.rstrip("/").rsplit("/", 1)[-1]
                    if base.startswith(".wh."):
                        continue
                    fo = tf.extractfile(m)
                    head = fo.read(_secrets.SCAN_BYTES) if fo else b""
                    found = _secrets.scan(clean_path(m.name), head)
                    if found:
                        hits[clean_path(m.name)] = found
        except (tarfile.TarError, EOFError, OSError):
            return {}                # a malformed layer: the entry pass names the problem
    return hits


def _result(layers: Iterable[Iterable[Any]], instructions: Mapping[int, str], top: int,
            hits: Callable[[int], Mapping[str, list[tuple[str, str]]]] | None = None, **meta: Any) -> Analysis:
    summaries, dive, ov = analyze_layers(layers, instructions=instructions, top=top, content_hits=hits)
    events = [ev for ev in ov.events if ev.bytes > 0]
    events.sort(key=lambda ev: (-ev.bytes, ev.path))
    waste = tuple(WasteItem(ev.path, ev.bytes, ev.files, tuple(sorted(ev.added_by)), ev.layer, ev.how,
                            ov.story(ev)) for ev in events)
    final_bytes = sum(g[0] for g in ov.groups if g[1] > 0)
    stored = sum(g[0] for g in ov.groups)
    findings = tuple(_secrets.SecretFinding(**f) for f in ov.findings)
    history = tuple(replace(h, size=summaries[h.layer_index].size)
                    if getattr(h, "layer_index", None) is not None and h.layer_index < len(summaries) else h
                    for h in meta.get("history", ()))
    return Analysis(image_id=meta.get("image_id", ""), tags=tuple(meta.get("tags", ())),
                    source=meta.get("source", ""), layers=summaries, dive=dive, waste=waste,
                    reclaimable_bytes=sum(w.bytes for w in waste), stored_bytes=stored,
                    final_bytes=final_bytes,
                    final_files=sum(1 for v in ov.view.values() if v[0] != "dir"),
                    secrets=findings, diff_ids=tuple(meta.get("diff_ids", ())),
                    history=history)


def analyze_entries(layers: Iterable[Iterable[Any]], *, instructions: Sequence[str] | Mapping[int, str] = (),
                    top: int = 10) -> Analysis:
    """``analyze`` for layers given directly as iterables of ``TarEntry`` (bottom first)."""
    instr = dict(instructions) if isinstance(instructions, Mapping) else dict(enumerate(instructions))
    return _result(layers, instr, top)


# --------------------------------------------------------------------------- dive CI rules

_CI_DEFAULTS = {"lowestEfficiency": "0.9", "highestWastedBytes": "disabled",
                "highestUserWastedPercent": "0.1"}
_CI_OFF = ("", "disabled", "off", "false")
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "ki": 2**10, "kib": 2**10, "mi": 2**20, "mib": 2**20,
          "gi": 2**30, "gib": 2**30, "ti": 2**40, "tib": 2**40}


@dataclass(frozen=True)
class CiResult:
    rule: str          # "lowestEfficiency", ...
    status: str        # "PASS", "FAIL", "SKIP"
    message: str = ""


def parse_size(text: str) -> int:
    """``"20MB"`` -> 20_000_000, ``"1.5 GiB"`` -> 1610612736 (decimal and binary units, as dive)."""
    s = text.strip().replace(",", "")
    num = s.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ").strip()
    unit = s[len(num):].strip().lower()
    try:
        value = float(num)
    except ValueError:
        raise LabkitError(f"size {text!r} is not a number with a unit",
                          fix='write sizes like "20MB", "1.5GiB" or "300000"') from None
    if unit not in _UNITS:
        raise LabkitError(f"size {text!r} has an unknown unit {unit!r}", fix="use B, KB, MB, GB, KiB, MiB, GiB")
    return int(value * _UNITS[unit])


def parse_dive_ci(text: str) -> dict[str, str]:
    """Read dive's ``.dive-ci`` (a tiny YAML subset: ``rules:`` then ``key: value`` lines,
    ``#`` comments, optional quotes). Returns every rule, defaults filled in."""
    rules = dict(_CI_DEFAULTS)
    section = ""
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        key, sep, value = line.strip().partition(":")
        if not sep:
            raise LabkitError(f".dive-ci line {n}: expected 'key: value', got {raw.strip()!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if not raw[:1].isspace():
            section = key if not value else ""
            if not value:
                continue
            if key.startswith("rules."):
                key = key[len("rules."):]
            elif key not in rules:
                continue                      # other dive settings are not rules
        elif section != "rules":
            continue
        if key not in rules:
            raise LabkitError(f".dive-ci line {n}: unknown rule {key!r}",
                              fix="rules are " + ", ".join(_CI_DEFAULTS))
        rules[key] = value
    return rules


def evaluate_ci(dive: DiveScore, rules: Mapping[str, str]) -> list[CiResult]:
    """dive's CI verdicts: efficiency below lowestEfficiency, wasted bytes above
    highestWastedBytes or userWastedPercent above highestUserWastedPercent fail."""
    out = []
    for rule in _CI_DEFAULTS:
        value = str(rules.get(rule, _CI_DEFAULTS[rule])).strip()
        if value.lower() in _CI_OFF:
            out.append(CiResult(rule, "SKIP", "rule disabled"))
            continue
        try:
            if rule == "highestWastedBytes":
                limit_b = parse_size(value)
                bad = dive.wasted_bytes > limit_b
                msg = f"too many bytes wasted (wasted-bytes={dive.wasted_bytes} > threshold={limit_b})"
            else:
                limit = float(value)
                if not 0 <= limit <= 1:            # dive refuses a fraction outside 0-1 too
                    raise ValueError("outside allowed range (0-1)")
                if rule == "lowestEfficiency":
                    bad = limit > dive.efficiency
                    msg = f"image efficiency is too low (efficiency={dive.efficiency} < threshold={limit})"
                else:
                    bad = limit < dive.user_wasted_percent
                    msg = ("too many bytes wasted, relative to the user bytes added "
                           f"(%-user-wasted-bytes={dive.user_wasted_percent} > threshold={limit})")
        except (ValueError, Exception) as exc:  # a misconfigured rule fails, as in dive
            out.append(CiResult(rule, "FAIL", f"invalid config value ({value!r}): {exc}"))
            continue
        out.append(CiResult(rule, "FAIL", msg) if bad else CiResult(rule, "PASS"))
    return out
