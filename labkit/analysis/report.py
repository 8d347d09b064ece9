"""Rendering of analyses and comparisons: plain dicts (JSON), terminal text, and HTML for
notebooks (``Analysis._repr_html_``). Nothing here computes a number; it only shows them."""
from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

from ..formatting import human_size, short_instruction

if TYPE_CHECKING:  # pragma: no cover
    from .compare import Comparison
    from .efficiency import Analysis, CiResult

_PATH_CAP = 200        # paths listed per layer and list in HTML / JSON


def _num(x: float) -> float | None:
    return None if isinstance(x, float) and (math.isnan(x) or math.isinf(x)) else x


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else ("inf" if math.isinf(x) else f"{x * 100:.1f} %")


# --------------------------------------------------------------------------- dicts

def analysis_dict(a: "Analysis", *, path_cap: int | None = None) -> dict[str, Any]:
    cap = (lambda t: list(t)) if path_cap is None else (lambda t: list(t[:path_cap]))
    d = a.dive
    return {
        "image": {"id": a.image_id, "tags": list(a.tags), "source": a.source},
        "layers": [{
            "index": la.index, "instruction": la.instruction, "size": la.size,
            "tar_bytes": la.tar_bytes, "entries": la.entries, "file_count": la.file_count,
            "added": cap(la.added), "modified": cap(la.modified), "deleted": cap(la.deleted),
            "opaque_dirs": list(la.opaque_dirs),
            "largest": [{"path": p.path, "size": p.size} for p in la.largest],
            "hidden_later": la.hidden_later,
            "diff_id": a.diff_ids[la.index] if la.index < len(a.diff_ids) else None,
        } for la in a.layers],
        "dive": {
            "efficiency": d.efficiency, "wastedBytes": d.wasted_bytes, "sizeBytes": d.size_bytes,
            "userSizeBytes": d.user_size_bytes, "userWastedPercent": _num(d.user_wasted_percent),
            "inefficiencies": [{"path": m.path, "count": m.count, "cumulativeSize": m.cumulative_size,
                                "minSize": m.min_size, "layers": list(m.layers)} for m in d.inefficiencies],
        },
        "labkit": {
            "reclaimable_bytes": a.reclaimable_bytes, "stored_bytes": a.stored_bytes,
            "final_bytes": a.final_bytes, "final_files": a.final_files,
            "waste": [{"path": w.path, "bytes": w.bytes, "files": w.files, "added_by": list(w.added_by),
                       "removed_by": w.removed_by, "how": w.how, "story": w.story} for w in a.waste],
        },
        "secrets": [{"path": s.path, "kind": s.kind, "detail": s.detail, "added_by": s.added_by,
                     "removed_by": s.removed_by, "visible": s.visible,
                     "story": s.story(a.instructions())} for s in a.secrets],
        "history": [{"created_by": h.created_by, "empty_layer": h.empty_layer, "size": h.size,
                     "layer_index": h.layer_index, "created": h.created} for h in a.history],
    }


def comparison_dict(c: "Comparison") -> dict[str, Any]:
    return {
        "a": {"id": c.a_id, "tags": list(c.a_tags), "layers": [la.diff_id for la in c.a_layers]},
        "b": {"id": c.b_id, "tags": list(c.b_tags), "layers": [la.diff_id for la in c.b_layers]},
        "shared_chain_layers": c.shared_chain,
        "shared_diff_ids": list(c.shared_diff_ids),
        "pull_b_with_a_present": {"layers": list(c.transfer_layers), "blob_bytes": c.transfer_blob_bytes,
                                  "uncompressed_bytes": c.transfer_size},
        "changes": [{"kind": x.kind, "path": x.path, "size_a": x.size_a, "size_b": x.size_b, "why": x.why}
                    for x in c.changes],
    }


# --------------------------------------------------------------------------- text

def _name(image_id: str, tags: tuple[str, ...]) -> str:
    return (", ".join(tags) + " " if tags else "") + f"({image_id[7:19] or '?'})"


def analysis_text(a: "Analysis", *, top: int = 10) -> str:
    out = [f"Image {_name(a.image_id, a.tags)}" + (f" from {a.source}" if a.source else ""), ""]
    out.append(f"{'#':>3}  {'size':>8}  {'files':>6}  {'+add':>6} {'~mod':>6} {'-del':>6}  instruction")
    for la in a.layers:
        out.append(f"{la.index:>3}  {human_size(la.size):>8}  {la.file_count:>6}  {len(la.added):>6} "
                   f"{len(la.modified):>6} {len(la.deleted):>6}  "
                   f"{short_instruction(la.instruction, 70) or '(no history)'}")
        if la.opaque_dirs:
            out.append(f"{'':>5}opaque: " + ", ".join("/" + p for p in la.opaque_dirs[:5]))
    d = a.dive
    out += ["", "dive's numbers (as `dive --ci` computes them):",
            f"  efficiency           {d.efficiency * 100:.4f} %",
            f"  wastedBytes          {d.wasted_bytes} ({human_size(d.wasted_bytes)})",
            f"  userWastedPercent    {_pct(d.user_wasted_percent)} of {human_size(d.user_size_bytes)} above layer 0",
            "", "labkit's corrected view (bytes you could actually reclaim):",
            f"  reclaimable          {a.reclaimable_bytes} ({human_size(a.reclaimable_bytes)}) of "
            f"{human_size(a.stored_bytes)} stored; final filesystem {human_size(a.final_bytes)} "
            f"in {a.final_files} files"]
    if d.wasted_bytes != a.reclaimable_bytes:
        out.append("  (dive counts every copy of a repeated path, including the one you keep, and "
                   "scores no waste for deleted directories or opaque ones; labkit counts each "
                   "hidden byte once)")
    if a.waste:
        out += ["", f"Where the reclaimable bytes are (top {min(top, len(a.waste))} of {len(a.waste)}):"]
        out += [f"  {human_size(w.bytes):>8}  {w.story}" for w in a.waste[:top]]
    if d.inefficiencies:
        out += ["", "dive's inefficient files (count, cumulative size, path):"]
        out += [f"  {m.count:>5}  {human_size(m.cumulative_size):>8}  {m.path}" for m in d.inefficiencies[:top]]
    biggest = sorted(((p.size, p.path, la.index) for la in a.layers for p in la.largest), reverse=True)[:top]
    if biggest:
        out += ["", "Largest files stored:"]
        out += [f"  {human_size(s):>8}  /{p}  (layer {i})" for s, p, i in biggest]
    if a.secrets:
        out += ["", f"Possible secrets ({len(a.secrets)}) — anyone with the image can read every layer:"]
        out += [f"  {'VISIBLE' if s.visible else 'deleted'}  {s.story(a.instructions())}" for s in a.secrets]
    return "\n".join(out) + "\n"


def ci_text(results: "list[CiResult]") -> str:
    lines = ["CI rules:"]
    for r in results:
        lines.append(f"  {r.status}: {r.rule}" + (f": {r.message}" if r.message else ""))
    failed = sum(r.status == "FAIL" for r in results)
    lines.append(f"Result: {'FAIL' if failed else 'PASS'} [Total:{len(results)}] "
                 f"[Passed:{sum(r.status == 'PASS' for r in results)}] [Failed:{failed}] "
                 f"[Skipped:{sum(r.status == 'SKIP' for r in results)}]")
    return "\n".join(lines) + "\n"


def comparison_text(c: "Comparison", *, top: int = 20) -> str:
    out = [f"A: {_name(c.a_id, c.a_tags)}, {len(c.a_layers)} layers",
           f"B: {_name(c.b_id, c.b_tags)}, {len(c.b_layers)} layers", ""]
    out.append(f"Shared by chainID (same content on the same base): {c.shared_chain} bottom layers of B")
    out.append(f"Shared by diffID (same content anywhere): {len(c.shared_diff_ids)} layers of B")
    out.append(f"Pulling B with A present fetches {len(c.transfer_layers)} layers: "
               f"{human_size(c.transfer_blob_bytes)} as stored, {human_size(c.transfer_size)} uncompressed")
    for i in c.transfer_layers[:top]:
        la = c.b_layers[i]
        again = " (same content as a layer of A, on a different base)" if la.diff_id in c.shared_diff_ids else ""
        out.append(f"  layer {i}: {human_size(la.blob_size):>8}  "
                   f"{short_instruction(la.created_by, 60) or '(no history)'}{again}")
    out += ["", f"Final filesystem, B against A: {len(c.added)} added, {len(c.changed)} changed, "
            f"{len(c.deleted)} deleted"]
    for x in c.changes[:top]:
        out.append(f"  {x.kind} {x.path}" + (f"  ({x.why})" if x.why else ""))
    if len(c.changes) > top:
        out.append(f"  ... {len(c.changes) - top} more")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- HTML

_CSS = """<style>
.lk-r{font-family:system-ui,sans-serif;font-size:13px;max-width:1100px}
.lk-r table{border-collapse:collapse;margin:6px 0}
.lk-r td,.lk-r th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.lk-r th{background:#f3f3f3}.lk-r .n{text-align:right;font-variant-numeric:tabular-nums}
.lk-r .bar{background:#4a90d9;height:10px;display:inline-block}
.lk-r .bar.w{background:#d9534f}.lk-r code{font-size:12px}
.lk-r .cards{display:flex;gap:12px;flex-wrap:wrap}
.lk-r .card{border:1px solid #ccc;border-radius:6px;padding:8px 12px;min-width:200px}
.lk-r .big{font-size:20px;font-weight:600}.lk-r .vis{color:#b00;font-weight:600}
.lk-r details{margin:2px 0}.lk-r summary{cursor:pointer}
</style>"""


def _e(x: object) -> str:
    return html.escape(str(x))


def _paths(title: str, paths: tuple[str, ...]) -> str:
    if not paths:
        return ""
    items = "".join(f"<li><code>/{_e(p)}</code></li>" for p in paths[:_PATH_CAP])
    more = f"<li>... {len(paths) - _PATH_CAP} more</li>" if len(paths) > _PATH_CAP else ""
    return f"<details><summary>{_e(title)} ({len(paths)})</summary><ul>{items}{more}</ul></details>"


def analysis_html(a: "Analysis") -> str:
    d = a.dive
    biggest = max((la.size for la in a.layers), default=0) or 1
    rows = []
    for la in a.layers:
        w = int(200 * la.size / biggest)
        hid = int(200 * la.hidden_later / biggest) if la.hidden_later else 0
        detail = (_paths("added", la.added) + _paths("modified", la.modified) + _paths("deleted", la.deleted)
                  + _paths("opaque directories", la.opaque_dirs)
                  + _paths("largest files", tuple(f"{p.path}  ({human_size(p.size)})" for p in la.largest)))
        rows.append(
            f"<tr><td class=n>{la.index}</td><td class=n>{_e(human_size(la.size))}</td>"
            f"<td><span class=bar style='width:{max(w - hid, 0)}px'></span>"
            f"<span class='bar w' style='width:{hid}px' title='hidden by later layers'></span></td>"
            f"<td class=n>{la.file_count}</td><td class=n>+{len(la.added)} ~{len(la.modified)} -{len(la.deleted)}</td>"
            f"<td><code>{_e(short_instruction(la.instruction, 90) or '(no history)')}</code>{detail}</td></tr>")
    waste = "".join(
        f"<tr><td class=n>{_e(human_size(w.bytes))}</td><td>{_e(w.how)}</td><td>{_e(w.story)}</td></tr>"
        for w in a.waste[:50])
    ineff = "".join(
        f"<tr><td class=n>{m.count}</td><td class=n>{_e(human_size(m.cumulative_size))}</td>"
        f"<td><code>{_e(m.path)}</code></td><td>{_e(', '.join(map(str, m.layers)))}</td></tr>"
        for m in d.inefficiencies[:50])
    secrets = "".join(
        f"<tr><td{' class=vis' if s.visible else ''}>{'visible' if s.visible else 'deleted later'}</td>"
        f"<td>{_e(s.kind)}</td><td>{_e(s.story(a.instructions()))}</td></tr>" for s in a.secrets)
    parts = [
        _CSS, "<div class=lk-r>",
        f"<h3>Image {_e(_name(a.image_id, a.tags))}</h3>",
        "<div class=cards>",
        f"<div class=card>dive efficiency<div class=big>{d.efficiency * 100:.2f} %</div>"
        f"wastedBytes {_e(human_size(d.wasted_bytes))}, userWasted {_e(_pct(d.user_wasted_percent))}</div>",
        f"<div class=card>labkit: reclaimable<div class=big>{_e(human_size(a.reclaimable_bytes))}</div>"
        f"of {_e(human_size(a.stored_bytes))} stored; final {_e(human_size(a.final_bytes))}, "
        f"{a.final_files} files</div>",
        f"<div class=card>layers<div class=big>{len(a.layers)}</div>"
        f"{len(a.secrets)} possible secret(s)</div></div>",
        "<h4>Layers (bottom first; red = bytes hidden by later layers)</h4>",
        "<table><tr><th>#</th><th>size</th><th></th><th>files</th><th>changes</th><th>instruction</th></tr>",
        *rows, "</table>",
    ]
    if waste:
        parts += ["<h4>Where the reclaimable bytes are</h4><table><tr><th>bytes</th><th>how</th>"
                  "<th>story</th></tr>", waste, "</table>"]
    if ineff:
        parts += ["<details><summary>dive's inefficient paths (it counts the copy you keep)</summary>"
                  "<table><tr><th>count</th><th>cumulative</th><th>path</th><th>layers</th></tr>",
                  ineff, "</table></details>"]
    if secrets:
        parts += ["<h4>Possible secrets (every layer ships with the image)</h4>"
                  "<table><tr><th></th><th>kind</th><th>story</th></tr>", secrets, "</table>"]
    parts.append("</div>")
    return "".join(parts)


def comparison_html(c: "Comparison") -> str:
    def layer_rows(layers: Any, shared: int, transfer: tuple[int, ...] = ()) -> str:
        return "".join(
            f"<tr><td class=n>{la.index}</td><td><code>{_e(la.diff_id[7:19])}</code></td>"
            f"<td class=n>{_e(human_size(max(la.size, 0)))}</td>"
            f"<td>{'shared' if la.index < shared else ('pulled' if la.index in transfer else '')}</td>"
            f"<td><code>{_e(short_instruction(la.created_by, 70))}</code></td></tr>" for la in layers)
    changes = "".join(f"<tr><td>{x.kind}</td><td><code>{_e(x.path)}</code></td><td>{_e(x.why)}</td></tr>"
                      for x in c.changes[:_PATH_CAP])
    return "".join([
        _CSS, "<div class=lk-r>",
        f"<h3>A: {_e(_name(c.a_id, c.a_tags))} vs B: {_e(_name(c.b_id, c.b_tags))}</h3>",
        f"<p>{c.shared_chain} bottom layers shared by chainID; {len(c.shared_diff_ids)} by diffID. "
        f"Pulling B with A present fetches {len(c.transfer_layers)} layers "
        f"({_e(human_size(c.transfer_blob_bytes))} as stored).</p>",
        "<table><tr><th colspan=5>A</th></tr>", layer_rows(c.a_layers, c.shared_chain), "</table>",
        "<table><tr><th colspan=5>B</th></tr>", layer_rows(c.b_layers, c.shared_chain, c.transfer_layers),
        "</table>",
        f"<h4>Final filesystem: {len(c.added)} added, {len(c.changed)} changed, {len(c.deleted)} deleted</h4>",
        "<table>", changes, "</table>",
        (f"<p>... {len(c.changes) - _PATH_CAP} more</p>" if len(c.changes) > _PATH_CAP else ""),
        "</div>"])
