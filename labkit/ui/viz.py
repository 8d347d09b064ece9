"""Diagrams of labkit values: layer stacks, overlay mounts, build-cache predictions, sizes.

Every function takes labkit values only (``HistoryEntry``, ``overlay.Mount`` and its
``OpEvent``s, ``cache.StepPrediction``, ``analysis.Analysis``, plain sizes)::

    layer_stack(history)               an image's steps, base at the bottom, size per layer
    overlay_diagram(mount, events)     a Mount as a table: path x layer, merged + its source
    cache_diagram(predictions)         build steps: cached / MISS and why, per stage
    size_chart(sizes), efficiency_chart(analysis)   bar charts as plain SVG (no matplotlib)

The first three return a ``graphviz.Digraph``; the charts an ``SvgChart`` holding SVG text.
``graphviz`` is imported inside the functions, so ``import labkit.ui.viz`` does no work.

Output is deterministic: node names come from positions in sorted order (never ``id()`` or
an address), so a notebook can print ``diagram.source`` (or ``chart.svg``) in a compared
cell. Rendering a Digraph needs Graphviz's ``dot`` program (``labkit doctor`` checks it).
"""
from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from ..formatting import (
    human_size,  # also re-exported here: lessons and widgets import it from viz
    short_instruction,
    shorten,
)
from ..fs.node import LayerDir, Node
from ..fs.overlay import UPPER

if TYPE_CHECKING:  # pragma: no cover
    import graphviz

    from ..values import HistoryEntry

__all__ = ["layer_stack", "overlay_diagram", "cache_diagram", "size_chart", "SvgChart",
           "human_size", "history_bottom_first", "entry_sources", "render_svg",
           "overlay_rows", "overlay_columns", "OverlayRow", "OverlayCell", "efficiency_chart"]

FONT = "Helvetica"
# colours, one meaning each (also explained in each diagram's legend text)
C_LAYER = "#dbe9f6"      # a layer that holds content
C_EMPTY = "#f2f2f2"      # an empty-layer step (ENV, CMD ...)
C_UPPER = "#fff2cc"      # the writable upper layer
C_MERGED = "#e2f0d9"     # the merged view
C_COPYUP = "#f4b183"     # copied up by the last operations
C_WHITEOUT = "#7f7f7f"   # a whiteout (deletion marker)
C_OPAQUE = "#b4a7d6"     # an opaque directory
C_NEW = "#a9d18e"        # created in the upper by the last operations
C_HIT = "#a9d18e"        # cache hit
C_MISS = "#f4b183"       # cache miss
C_HIGHLIGHT = "#ffd966"  # the selected layer


# -- small helpers ---------------------------------------------------------------------------

def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _label(*lines: str) -> str:
    """A plain DOT label: backslashes kept literally, lines centred."""
    import graphviz
    return "\n".join(graphviz.escape(line) for line in lines)


def _digraph(name: str, **attrs: str) -> "graphviz.Digraph":
    import graphviz
    g = graphviz.Digraph(name)
    g.attr(fontname=FONT, **attrs)
    g.attr("node", fontname=FONT, fontsize="11", shape="box", style="rounded,filled")
    g.attr("edge", fontname=FONT, fontsize="9")
    return g


def render_svg(graph: "graphviz.Digraph") -> str:
    """The diagram as an inline ``<svg>`` element (no XML prologue, no version comment),
    ready for an HTML widget. Needs Graphviz's ``dot``."""
    svg = graph.pipe(format="svg", encoding="utf-8")
    start = svg.find("<svg")
    svg = svg[start:] if start >= 0 else svg
    # drop comments (they carry graphviz's version and node names)
    out, pos = [], 0
    while True:
        i = svg.find("<!--", pos)
        if i < 0:
            out.append(svg[pos:])
            break
        out.append(svg[pos:i])
        j = svg.find("-->", i)
        pos = len(svg) if j < 0 else j + 3
    return "".join(out).strip()


# -- layer stack -----------------------------------------------------------------------------

def history_bottom_first(entries: Sequence["HistoryEntry"], newest_first: bool | None = None
                         ) -> list["HistoryEntry"]:
    """History in build order (oldest first). ``Engine.history`` lists newest first, like
    ``docker history``; ``image.Image.history`` lists oldest first. With ``newest_first=None``
    the order is read off the entries' ``layer_index`` values (then their ``created`` times);
    when neither tells, the entries are taken as given (oldest first)."""
    entries = list(entries)
    if newest_first is None:
        idx = [h.layer_index for h in entries if h.layer_index is not None]
        if len(idx) >= 2 and idx[0] != idx[-1]:
            newest_first = idx[0] > idx[-1]
        else:
            times = [h.created for h in entries if h.created]
            newest_first = len(times) >= 2 and times[0] > times[-1]
    return entries[::-1] if newest_first else entries


def layer_stack(history_entries: Sequence["HistoryEntry"], *, title: str = "",
                highlight: int | None = None, newest_first: bool | None = None,
                width: int = 60, box_width: float = 5.0) -> "graphviz.Digraph":
    """An image's build steps drawn bottom (base) to top: one box per step with its
    instruction and the size of the layer it made. Steps that made no layer (``ENV``,
    ``CMD`` ...) are dashed grey boxes marked "no layer". ``highlight`` is a layer index
    to mark (the layer-stack explorer's current layer); ``width`` is the instruction's
    length in characters before it is cut, ``box_width`` the boxes' width in inches."""
    steps = history_bottom_first(history_entries, newest_first)
    g = _digraph("layer_stack", rankdir="BT", nodesep="0.15", ranksep="0.15")
    if title:
        g.attr(label=title, labelloc="t", fontsize="13")
    total = sum(max(h.size, 0) for h in steps if not h.empty_layer)
    g.attr("node", width=f"{box_width:g}")
    for i, h in enumerate(steps):
        text = short_instruction(h.created_by, width) or "(no history)"
        if h.empty_layer or h.layer_index is None:
            g.node(f"s{i}", _label(f"step {i + 1}: {text}", "no layer (metadata only)"),
                   style="rounded,dashed,filled", fillcolor=C_EMPTY, color="#999999",
                   fontcolor="#555555")
        else:
            fill = C_HIGHLIGHT if highlight == h.layer_index else C_LAYER
            pen = "2.5" if highlight == h.layer_index else "1"
            g.node(f"s{i}", _label(f"layer {h.layer_index}  \u00b7  {human_size(h.size)}",
                                   f"step {i + 1}: {text}"),
                   fillcolor=fill, penwidth=pen)
    for i in range(len(steps) - 1):
        g.edge(f"s{i}", f"s{i + 1}", arrowhead="none", color="#bbbbbb")
    n_layers = sum(1 for h in steps if not (h.empty_layer or h.layer_index is None))
    g.node("total", _label(_plural(n_layers, "layer") + f", {human_size(total)} in all",
                           _plural(len(steps) - n_layers, "step") + " made no layer"),
           shape="plaintext", style="", fontsize="10")
    if steps:
        g.edge("total", "s0", style="invis")
    return g


# -- overlay mount ---------------------------------------------------------------------------

_MARK_ORDER = ("copy_up", "whiteout", "opaque", "create", "write")
_MARK_TEXT = {"copy_up": "copied up", "create": "new", "write": "written"}


def _marks(events: Iterable[Any]) -> dict[str, str]:
    """path -> the most telling thing the events did to it (copy-up first)."""
    marks: dict[str, str] = {}
    for ev in events:
        kind, path = getattr(ev, "kind", ""), getattr(ev, "path", "")
        if kind == "rename":
            kind, path = "create", getattr(ev, "detail", "")
        if not path or kind not in _MARK_ORDER:
            continue
        old = marks.get(path)
        if old is None or _MARK_ORDER.index(kind) < _MARK_ORDER.index(old):
            marks[path] = kind
    return marks


def _layer_names(mount: Any) -> list[tuple[object, str, LayerDir | None]]:
    """(key, name, layer) from the top down: the upper (layer None when the mount is
    read-only), then the lowers. ``key`` is what ``Mount.layers_of`` reports."""
    lowers = list(mount.lowers)
    out: list[tuple[object, str, LayerDir | None]] = [
        (UPPER, "upper", None if mount.read_only else mount.upper)]
    for i, layer in enumerate(lowers):
        name = f"lower {i}"
        if len(lowers) > 1 and i == 0:
            name += " (top)"
        elif len(lowers) > 1 and i == len(lowers) - 1:
            name += " (bottom)"
        out.append((i, name, layer))
    return out


def entry_sources(mount: Any) -> dict[str, tuple[str, ...]]:
    """For each path of the merged view: the layers its entry comes from, topmost first
    (``"upper"``, ``"lower 0 (top)"`` ...), as ``Mount.layers_of`` reports them. A file has
    one source; a merged directory lists every layer whose directory merges into it."""
    names = {key: name for key, name, _ in _layer_names(mount)}
    return {path: tuple(names[k] for k in mount.layers_of(path)) for path in sorted(mount.tree())}


def _cell_text(node: Node) -> str:
    if node.kind == "dir":
        return "dir, opaque" if node.opaque else "dir"
    if node.kind == "whiteout":
        return "whiteout"
    if node.kind == "symlink":
        return f"\u2192 {node.linkname}"
    if node.kind == "file":
        return human_size(node.size)
    return node.kind


@dataclass(frozen=True)
class OverlayCell:
    """One layer's entry for one path in ``overlay_rows``: what it is, whether the merged
    view uses it, and what the highlighted events did to it (upper only)."""

    text: str                  # "220B", "dir", "dir, opaque", "whiteout", "\u2192 target", ""
    kind: str = ""             # the Node kind ("" when the layer has no entry here)
    used: bool = False         # the merged entry is taken from (or merges) this one
    mark: str = ""             # "copied up", "new", "written", "whiteout", "opaque" or ""


@dataclass(frozen=True)
class OverlayRow:
    path: str
    cells: tuple[OverlayCell, ...]   # one per column of ``overlay_columns`` (bottom lower first)
    merged: str                      # the merged entry ("" when the path is not visible)
    sources: tuple[str, ...]         # layers it comes from, topmost first


def overlay_columns(mount: Any) -> tuple[str, ...]:
    """Column names of ``overlay_rows``: the lowers bottom first, then the upper."""
    return tuple(name for _, name, _ in reversed(_layer_names(mount)))


def overlay_rows(mount: Any, highlight: Iterable[Any] = (), *,
                 paths: Iterable[str] | None = None) -> list[OverlayRow]:
    """The overlay as a table: one row per path found in any layer (sorted), one cell per
    layer (bottom lower first, upper last), the merged entry and where it comes from."""
    marks = _marks(highlight)
    wanted = None if paths is None else [p.strip("/") for p in paths]
    tree = mount.tree()
    sources = entry_sources(mount)
    layers = list(reversed(_layer_names(mount)))
    every = set(tree).union(*(set(layer or {}) for _, _, layer in layers))
    rows = []
    for path in sorted(every):
        if wanted is not None and not any(w == "" or path == w or path.startswith(w + "/")
                                          for w in wanted):
            continue
        cells = []
        for key, name, layer in layers:
            node = (layer or {}).get(path)
            if node is None:
                cells.append(OverlayCell(""))
                continue
            mark = ""
            if name == "upper":
                m = marks.get(path, "")
                mark = _MARK_TEXT.get(m, m)
            cells.append(OverlayCell(_cell_text(node), node.kind, name in sources.get(path, ()), mark))
        merged = _cell_text(tree[path]) if path in tree else ""
        rows.append(OverlayRow(path, tuple(cells), merged, sources.get(path, ())))
    return rows


_MARK_FILL = {"copied up": C_COPYUP, "new": C_NEW, "written": C_NEW, "whiteout": C_WHITEOUT,
              "opaque": C_OPAQUE}


def _pick_rows(rows: list[OverlayRow], limit: int, focus: Sequence[str]) -> list[OverlayRow]:
    """At most ``limit`` rows, the telling ones first: the focus paths (and their parents),
    then what the upper holds, whiteouts and opaque dirs, entries hidden below, merged
    directories; the rest in path order. The result is in path order again."""
    if len(rows) <= limit:
        return rows
    focus = [f.strip("/") for f in focus if f.strip("/")]

    def rank(item: tuple[int, OverlayRow]) -> tuple[int, int]:
        i, row = item
        p = row.path
        if any(p == f or f.startswith(p + "/") or p.startswith(f + "/") for f in focus):
            return (0, i)
        if row.cells and row.cells[-1].kind:
            return (1, i)
        if any(c.kind == "whiteout" or c.text == "dir, opaque" for c in row.cells):
            return (2, i)
        if any(c.kind and not c.used for c in row.cells) or len(row.sources) > 1:
            return (3, i)
        return (4, i)

    chosen = sorted(sorted(enumerate(rows), key=rank)[:limit])
    return [row for _, row in chosen]


def overlay_diagram(mount: Any, highlight: Iterable[Any] = (), *, paths: Iterable[str] | None = None,
                    max_entries: int = 60, title: str = "", focus: Sequence[str] = ()
                    ) -> "graphviz.Digraph":
    """A ``labkit.fs.overlay.Mount`` as one table: a row per path, a column per layer — the
    lower layers from the bottom one up, then the upper — and the merged view with where
    each entry comes from ("upper", "lower 0 (top)"; a directory lists every layer whose
    directory merges into it). Lower entries the merged view does not use (hidden by a
    whiteout, an opaque directory or a higher entry) are grey. Whiteouts are dark grey,
    opaque directories purple. ``highlight`` takes the Mount's ``OpEvent``s
    (``mount.take_events()``): what they did to the upper is coloured and named ("copied
    up" orange, "new"/"written" green, "whiteout", "opaque").

    ``paths`` limits the table to those paths and what lies under them. At most
    ``max_entries`` rows are drawn: when there are more, the telling ones are kept (the
    ``focus`` paths and their parents, the upper's entries, whiteouts, opaque and hidden
    entries, merged directories) and the last row says how many were left out."""
    all_rows = overlay_rows(mount, highlight, paths=paths)
    rows = _pick_rows(all_rows, max_entries, focus)
    columns = overlay_columns(mount)
    read_only = bool(getattr(mount, "read_only", False))
    e = html.escape

    def td(text: str, *, fill: str = "", color: str = "", bold: bool = False,
           align: str = "left", port: str = "") -> str:
        attrs = f' align="{align}"' + (f' bgcolor="{fill}"' if fill else "") + \
            (f' port="{port}"' if port else "")
        body = e(text) if text else " "
        if bold:
            body = f"<b>{body}</b>"
        if color:
            body = f'<font color="{color}">{body}</font>'
        return f"<td{attrs}>{body}</td>"

    head = [td("path", bold=True, fill="#eeeeee")]
    for name in columns:
        label = "upper (none: read-only mount)" if name == "upper" and read_only else name
        head.append(td(label, bold=True, fill=C_UPPER if name == "upper" else C_LAYER, align="center"))
    head.append(td("merged (what the container sees)", bold=True, fill=C_MERGED, align="center"))
    lines = ["<tr>" + "".join(head) + "</tr>"]
    for row in rows:
        cells = [td(row.path)]
        for cell in row.cells:
            if not cell.kind:
                cells.append(td(""))
                continue
            text = cell.text + (f" ({cell.mark})" if cell.mark and cell.mark not in cell.text else "")
            fill, color = "", "" if cell.used else "#999999"
            if cell.kind == "whiteout":
                fill, color = C_WHITEOUT, "white"
            elif cell.text == "dir, opaque":
                fill = C_OPAQUE
            if cell.mark:
                fill = _MARK_FILL.get(cell.mark, fill)
                color = "white" if cell.mark == "whiteout" else ""
            cells.append(td(text, fill=fill, color=color, bold=bool(cell.mark), align="center"))
        if row.merged:
            src = " + ".join(s.split(" (")[0] for s in row.sources)
            cells.append(td(f"{row.merged}  \u2190 {src}", align="left"))
        else:
            cells.append(td("(not visible)", color="#999999", align="left"))
        lines.append("<tr>" + "".join(cells) + "</tr>")
    if len(all_rows) > len(rows):
        more = (f"... {len(all_rows) - len(rows)} more paths not shown "
                "(pass paths=[...] or max_entries=... to see them)")
        lines.append(f'<tr><td colspan="{len(columns) + 2}">{e(more)}</td></tr>')
    if not rows:
        lines.append(f'<tr><td colspan="{len(columns) + 2}">(no entries)</td></tr>')
    legend = ("grey: hidden from the merged view  \u00b7  dark: whiteout  \u00b7  purple: opaque dir"
              "  \u00b7  orange: copied up  \u00b7  green: new / written (last action)")
    lines.append(f'<tr><td colspan="{len(columns) + 2}" align="left">'
                 f'<font point-size="9" color="#555555">{e(legend)}</font></td></tr>')
    table = ('<<table border="0" cellborder="1" cellspacing="0" cellpadding="4">'
             + "\n".join(lines) + "</table>>")
    g = _digraph("overlay")
    if title:
        g.attr(label=title, labelloc="t", fontsize="13")
    g.node("overlay", table, shape="plaintext", style="")
    return g


# -- build cache -----------------------------------------------------------------------------

def cache_diagram(predictions: Sequence[Any], *, title: str = "", width: int = 60
                  ) -> "graphviz.Digraph":
    """Build-cache predictions (``cache.StepPrediction``: step, stage, instruction, line, hit,
    reason) drawn as one chain per stage: hits green "cached", misses orange "miss" with the
    reason. The first miss of a stage is drawn with a thick border: it busts the cache for
    every later step of that stage."""
    g = _digraph("cache", rankdir="TB", nodesep="0.2", ranksep="0.2")
    if title:
        g.attr(label=title, labelloc="t", fontsize="13")
    g.attr("node", width="5")
    stages: dict[str, list[Any]] = {}
    order: list[str] = []
    for p in predictions:
        key = str(p.stage)
        if key not in stages:
            stages[key] = []
            order.append(key)
        stages[key].append(p)
    n = 0
    for s, key in enumerate(order):
        with g.subgraph(name=f"cluster_stage{s}") as c:
            c.attr(label=_label(f"stage {key}"), style="rounded", color="#999999", labeljust="l")
            first_miss = True
            prev = None
            for p in stages[key]:
                where = f"line {p.line}" if p.line else ""
                head = f"step {p.step}" + (f" ({where})" if where else "") + ": " + \
                    shorten(p.instruction, width)
                verdict = ("cached" if p.hit else "MISS") + (f": {p.reason}" if p.reason else "")
                if not getattr(p, "certain", True):
                    verdict += " (a guess: see the reason)"
                attrs = {"fillcolor": C_HIT if p.hit else C_MISS}
                if not p.hit and first_miss:
                    attrs["penwidth"] = "2.5"
                    first_miss = False
                c.node(f"p{n}", _label(head, *textwrap.wrap(verdict, width + 20)), **attrs)
                if prev is not None:
                    c.edge(prev, f"p{n}")
                prev = f"p{n}"
                n += 1
    hits = sum(1 for p in predictions if p.hit)
    g.node("summary", _label(f"{hits} of {len(predictions)} steps from the cache"),
           shape="plaintext", style="", fontsize="10")
    return g


# -- size chart (plain SVG, no plotting library) ---------------------------------------------

@dataclass(frozen=True)
class SvgChart:
    """A chart as SVG text. Shows itself in Jupyter; ``svg`` is stable text to compare."""

    svg: str
    title: str = ""

    def _repr_svg_(self) -> str:
        return self.svg

    def __str__(self) -> str:
        return self.svg


def size_chart(sizes: Mapping[str, int] | Sequence[tuple[str, int]] | Sequence["HistoryEntry"],
               *, title: str = "", sort: bool = False, width: int = 480,
               bar_height: int = 18, label_width: int = 260) -> SvgChart:
    """A horizontal bar chart of sizes, as plain SVG text (no matplotlib).

    ``sizes`` is a mapping or a list of ``(label, bytes)`` pairs, or a history
    (``HistoryEntry`` values: one bar per layer, build order, labelled by instruction).
    ``sort=True`` puts the largest first. Each bar is labelled with its size as
    ``docker history`` prints it."""
    items: list[tuple[str, int]]
    seq = list(sizes.items()) if isinstance(sizes, Mapping) else list(sizes)
    if seq and hasattr(seq[0], "created_by"):
        items = [(f"{h.layer_index}: {short_instruction(h.created_by, 40)}", max(h.size, 0))
                 for h in history_bottom_first(seq) if not h.empty_layer and h.layer_index is not None]
    else:
        items = [(str(k), int(v)) for k, v in seq]
    if sort:
        items = sorted(items, key=lambda kv: (-kv[1], kv[0]))
    top = 24 if title else 6
    height = top + len(items) * (bar_height + 6) + 6
    biggest = max((v for _, v in items), default=0) or 1
    bar_room = max(width - label_width - 70, 40)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="{FONT}, sans-serif" font-size="12">']
    if title:
        out.append(f'<text x="4" y="16" font-weight="bold">{html.escape(title)}</text>')
    for i, (label, value) in enumerate(items):
        y = top + i * (bar_height + 6)
        w = round(bar_room * value / biggest) if value > 0 else 0
        ty = y + bar_height - 5
        out.append(f'<g class="bar"><title>{html.escape(label)}: {value} bytes</title>'
                   f'<text x="{label_width - 6}" y="{ty}" text-anchor="end">'
                   f'{html.escape(shorten(label, 42))}</text>'
                   f'<rect x="{label_width}" y="{y}" width="{max(w, 1)}" height="{bar_height}" '
                   f'fill="{"#5b9bd5" if value > 0 else "#cccccc"}"/>'
                   f'<text x="{label_width + max(w, 1) + 4}" y="{ty}">{human_size(value)}</text></g>')
    out.append("</svg>")
    return SvgChart("\n".join(out), title)


def efficiency_chart(analysis: Any, *, title: str = "", width: int = 560, bar_height: int = 18,
                     label_width: int = 260) -> SvgChart:
    """Each layer's bytes split in two, as plain SVG: what is still visible in the final
    filesystem (blue) and what a later layer deleted, overwrote or hid (orange, "wasted").
    ``analysis`` is an ``analysis.Analysis`` (``analysis.analyze(open_image(...))``)."""
    layers = list(analysis.layers)
    stored = sum(max(la.size, 0) for la in layers)
    hidden = sum(max(la.hidden_later, 0) for la in layers)
    head = title or (f"{human_size(stored)} stored, {human_size(hidden)} invisible in the final "
                     f"filesystem")
    top = 24
    height = top + len(layers) * (bar_height + 6) + 22
    biggest = max((la.size for la in layers), default=0) or 1
    room = max(width - label_width - 120, 40)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="{FONT}, sans-serif" font-size="12">',
           f'<text x="4" y="16" font-weight="bold">{html.escape(head)}</text>']
    for i, la in enumerate(layers):
        y = top + i * (bar_height + 6)
        ty = y + bar_height - 5
        size, gone = max(la.size, 0), min(max(la.hidden_later, 0), max(la.size, 0))
        w_all = round(room * size / biggest)
        w_gone = round(room * gone / biggest)
        label = f"{la.index}: {short_instruction(la.instruction, 40) or '(no history)'}"
        note = human_size(size) + (f" ({human_size(gone)} wasted)" if gone else "")
        out.append(f'<g class="layer"><title>{html.escape(label)}: {size} bytes, {gone} invisible '
                   f'later</title><text x="{label_width - 6}" y="{ty}" text-anchor="end">'
                   f'{html.escape(shorten(label, 42))}</text>'
                   f'<rect x="{label_width}" y="{y}" width="{max(w_all - w_gone, 1)}" '
                   f'height="{bar_height}" fill="#5b9bd5"/>'
                   + (f'<rect class="wasted" x="{label_width + w_all - w_gone}" y="{y}" '
                      f'width="{max(w_gone, 1)}" height="{bar_height}" fill="{C_COPYUP}"/>'
                      if gone else "")
                   + f'<text x="{label_width + max(w_all, 1) + 4}" y="{ty}">{note}</text></g>')
    ly = top + len(layers) * (bar_height + 6) + 12
    out.append(f'<text x="4" y="{ly}" font-size="10" fill="#555555">blue: still visible at the '
               f'top  \u00b7  orange: deleted, overwritten or hidden by a later layer</text>')
    out.append("</svg>")
    return SvgChart("\n".join(out), head)
