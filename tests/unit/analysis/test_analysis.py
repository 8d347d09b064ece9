"""labkit.analysis on hand-built layers; every expected number is worked out by hand below
(or, for the final filesystem, measured on the kernel's own overlay mount)."""
from __future__ import annotations

import io
import json
import math
import os
import subprocess
from pathlib import Path

import pytest
from tarkit import make_layer

from labkit.analysis.efficiency import analyze, evaluate_ci, parse_dive_ci, parse_size
from labkit.errors import LabkitError
from labkit.oci.image import open_image
from labkit.oci.write import write_image_tar


def analysis_of(tmp_path: Path, *layers: tuple, history: tuple[str, ...] = ()):
    cfg = {"history": [{"created_by": h} for h in history]} if history else {}
    write_image_tar([make_layer(*entries) for entries in layers], cfg, tmp_path / "img.tar")
    with open_image(tmp_path / "img.tar") as img:
        return analyze(img)


# --------------------------------------------------------------------------- dive's numbers

def test_dive_unit_test_scores_075(tmp_path: Path) -> None:
    # dive's TestEfficency: paths added without directory entries, then /etc/.wh.nginx
    a = analysis_of(tmp_path,
                    (("f", "etc/nginx/nginx.conf", bytes(2000)), ("f", "etc/nginx/public", bytes(3000))),
                    (("f", "etc/nginx/nginx.conf", bytes(5000)), ("f", "etc/athing", bytes(10000))),
                    (("w", "etc/nginx"),))
    assert a.dive.efficiency == 0.75
    assert [(m.path, m.cumulative_size, m.layers) for m in a.dive.inefficiencies] == \
        [("/etc/nginx/nginx.conf", 7000, (0, 1))]
    assert a.dive.wasted_bytes == 7000                       # the kept 5000-byte copy included
    assert a.dive.user_size_bytes == 15000                   # layers 1 and 2 only
    assert a.dive.user_wasted_percent == 7000 / 15000


def test_dive_scratch_image_scores_one(tmp_path: Path) -> None:
    a = analysis_of(tmp_path, (("f", "nothing", b""),), (), ())
    assert a.dive.efficiency == 1.0
    assert a.dive.inefficiencies == ()


def test_dive_whiteout_of_a_real_directory_scores_its_subtree(tmp_path: Path) -> None:
    # With directory entries, /etc/nginx was a directory below: the whiteout scores
    # 5000 + 3000 (the stacked subtree). Leaves: conf 2000+5000 (min 2000), public 3000,
    # athing 10000, nginx 8000 -> 23000 / 28000.
    a = analysis_of(tmp_path,
                    (("d", "etc"), ("d", "etc/nginx"), ("f", "etc/nginx/nginx.conf", bytes(2000)),
                     ("f", "etc/nginx/public", bytes(3000))),
                    (("d", "etc"), ("d", "etc/nginx"), ("f", "etc/nginx/nginx.conf", bytes(5000)),
                     ("f", "etc/athing", bytes(10000))),
                    (("d", "etc"), ("w", "etc/nginx")))
    assert a.dive.efficiency == 23000 / 28000
    assert a.dive.wasted_bytes == 7000
    # labkit: the 2000-byte copy was overwritten, then 5000 + 3000 deleted with the directory
    assert a.reclaimable_bytes == 2000 + 5000 + 3000
    assert a.final_bytes == 10000


def test_dive_whiteout_of_nothing_stops_scoring_the_layer(tmp_path: Path) -> None:
    # dive visits layer 1's leaves in name order: ".wh.b" first; /b is not below, so GetNode
    # fails, the visit of layer 1 stops (c is never scored) and /b keeps its initial -1:
    # smallest sizes 10 + (-1), cumulative 10 -> 0.9
    a = analysis_of(tmp_path, (("f", "a", bytes(10)),), (("w", "b"), ("f", "c", bytes(5))))
    assert a.dive.efficiency == 9 / 10
    assert a.dive.wasted_bytes == 0
    assert a.reclaimable_bytes == 0 and a.final_bytes == 15


def test_dive_misses_rm_rf_and_labkit_does_not(tmp_path: Path) -> None:
    a = analysis_of(tmp_path,
                    (("d", "d"), ("f", "d/a", bytes(100)), ("f", "d/b", bytes(200)), ("f", "keep", b"k")),
                    (("w", "d"),),
                    history=("COPY d /d", "RUN rm -rf /d"))
    assert a.dive.wasted_bytes == 0 and a.dive.efficiency == 1.0
    assert a.reclaimable_bytes == 300
    [item] = a.waste
    assert (item.path, item.bytes, item.files, item.added_by, item.removed_by, item.how) == \
        ("d", 300, 2, (0,), 1, "deleted")
    assert item.story == "/d (2 files): 300B added by layer 0 (COPY d /d), deleted by layer 1 (RUN rm -rf /d)"
    assert a.layers[1].deleted == ("d",)
    assert a.layers[0].hidden_later == 300


def test_overwritten_copies_count_once(tmp_path: Path) -> None:
    a = analysis_of(tmp_path, (("f", "f", bytes(1000)),), (("f", "f", bytes(1000)),), (("f", "f", bytes(10)),))
    assert a.dive.wasted_bytes == 2010                       # every copy, the kept one too
    assert a.dive.efficiency == 10 / 2010
    assert a.reclaimable_bytes == 2000
    assert [(w.added_by, w.removed_by, w.how) for w in a.waste] == [((0,), 1, "overwritten"),
                                                                   ((1,), 2, "overwritten")]
    assert a.layers[1].modified == ("f",) and a.layers[2].modified == ("f",)


def test_opaque_directories_hide_lower_bytes(tmp_path: Path) -> None:
    a = analysis_of(tmp_path,
                    (("d", "d"), ("f", "d/old", bytes(100)), ("d", "d/sub"), ("f", "d/sub/x", bytes(50))),
                    (("d", "d"), ("o", "d"), ("f", "d/new", b"new")))
    assert a.dive.wasted_bytes == 0                          # dive drops opaque markers
    assert a.reclaimable_bytes == 150
    [item] = a.waste
    assert (item.path, item.how, item.files) == ("d", "hidden by opaque directory", 2)
    assert a.layers[1].opaque_dirs == ("d",)
    assert a.final_files == 1 and a.final_bytes == 3


def test_hard_links_keep_bytes_until_the_last_name_goes(tmp_path: Path) -> None:
    a = analysis_of(tmp_path,
                    (("f", "f", bytes(1000)), ("h", "h", "f")),
                    (("w", "f"),),
                    (("w", "h"),))
    assert [(w.path, w.bytes, w.removed_by) for w in a.waste] == [("h", 1000, 2)]
    assert a.layers[0].size == 1000                          # the linked bytes are stored once


def test_file_over_directory_replaces_its_subtree(tmp_path: Path) -> None:
    a = analysis_of(tmp_path, (("d", "x"), ("f", "x/a", bytes(70))), (("f", "x", b"now a file"),))
    [item] = a.waste
    assert (item.path, item.bytes, item.how) == ("x", 70, "replaced")
    assert a.final_files == 1


def test_layer_summaries(tmp_path: Path) -> None:
    a = analysis_of(tmp_path,
                    (("d", "etc"), ("f", "etc/a", b"aa"), ("f", "etc/b", bytes(300)), ("l", "etc/l", "a")),
                    (("d", "etc"), ("f", "etc/a", b"AAA"), ("w", "etc/b"), ("w", "etc/never"), ("f", "c", b"c")),
                    history=("ADD base", "RUN change"))
    l0, l1 = a.layers
    assert (l0.size, l0.file_count, l0.entries) == (2 + 300 + 1, 3, 4)
    assert l0.added == ("etc", "etc/a", "etc/b", "etc/l")
    assert [(p.path, p.size) for p in l0.largest] == [("etc/b", 300), ("etc/a", 2)]
    assert (l1.added, l1.modified, l1.deleted) == (("c",), ("etc", "etc/a"), ("etc/b",))
    assert l1.instruction == "RUN change"
    assert a.stored_bytes == 2 + 300 + 3 + 1
    assert a.final_bytes == 3 + 1


# --------------------------------------------------------------------------- secrets

AWS = "AKIA" + "Q3EXAMPLEKEY7ZZZ"
GH = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
PEM = (b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
       b"-----END OPENSSH PRIVATE KEY-----\n")


def test_secrets_in_any_layer_are_found_and_masked(tmp_path: Path) -> None:
    a = analysis_of(tmp_path,
                    (("d", "root"), ("d", "root/.ssh"), ("f", "root/.ssh/id_ed25519", PEM, 0o600),
                     ("f", "app.env.txt", f"AWS_ACCESS_KEY_ID={AWS}\n".encode()),
                     ("f", "ci.yml", f"token: {GH}\n".encode()), ("f", ".npmrc", b"registry=x\n"),
                     ("f", "big.pem", PEM + bytes(2 << 20)), ("f", "plain.txt", b"nothing here\n")),
                    (("d", "root"), ("d", "root/.ssh"), ("w", "root/.ssh/id_ed25519")),
                    history=("COPY . /", "RUN rm /root/.ssh/id_ed25519"))
    found = {s.path: s for s in a.secrets}
    assert set(found) == {"root/.ssh/id_ed25519", "app.env.txt", "ci.yml", ".npmrc"}
    key = found["root/.ssh/id_ed25519"]
    assert "private key" in key.kind and (key.added_by, key.removed_by, key.visible) == (0, 1, False)
    assert "deleted by layer 1 (RUN rm /root/.ssh/id_ed25519)" in key.story(a.instructions())
    assert found["app.env.txt"].kind == "AWS access key id" and found["app.env.txt"].visible
    assert found["ci.yml"].kind == "GitHub token"
    assert found[".npmrc"].kind == "npm credentials file"
    rendered = a.text() + json.dumps(a.to_dict()) + a.html()
    for secret in (AWS, GH, "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"):
        assert secret not in rendered
    assert "AKIA…(20 chars)" in rendered


def test_secret_scan_in_the_entry_pass_finds_what_the_separate_tar_pass_found(tmp_path: Path) -> None:
    # analyze() now reads file heads during its one entry pass (iter_entries(head=N));
    # content_hits() is the former second pass with the standard library's tar reader.
    from labkit.analysis.efficiency import analyze_layers, content_hits
    layers = ((("d", "root"), ("f", "root/.env", f"KEY={AWS}\n".encode()), ("f", "k.pem", PEM),
               ("f", "bin.dat", b"\0" + GH.encode()), ("h", "k2.pem", "k.pem"), ("f", "empty", b""),
               ("f", "late.txt", bytes(9000) + GH.encode()), ("f", "x/" + "n" * 150, GH.encode())),
              (("f", "k.pem", b"replaced\n"), ("f", "ok.txt", f"npm_{'a' * 36}".encode())))
    write_image_tar([make_layer(*entries) for entries in layers], {}, tmp_path / "img.tar")
    with open_image(tmp_path / "img.tar") as img:
        one_pass = analyze(img)
        _, _, ov = analyze_layers((img.iter_entries(i, digest=False) for i in range(len(img.layers))),
                                  content_hits=lambda i: content_hits(img, i))
    from labkit.analysis.secrets import SecretFinding
    assert one_pass.secrets == tuple(SecretFinding(**f) for f in ov.findings)
    kinds = {(f.path, f.kind) for f in one_pass.secrets}
    assert ("root/.env", "AWS access key id in dotenv file") in kinds
    assert ("k.pem", "private key") in kinds and ("ok.txt", "npm token") in kinds
    assert ("x/" + "n" * 150, "GitHub token") in kinds
    assert not any(p in ("bin.dat", "late.txt", "k2.pem", "empty") for p, _ in kinds)


# --------------------------------------------------------------------------- the kernel agrees

def _walk(root: Path) -> tuple[int, int]:
    total, files, seen = 0, 0, set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue        # a whiteout listed by readdir of a one-layer dir: lookup hides it
            files += 1
            if os.path.isfile(os.path.join(dirpath, name)) and not os.path.islink(os.path.join(dirpath, name)):
                if st.st_ino not in seen:
                    seen.add(st.st_ino)
                    total += st.st_size
    return total, files


_KERNEL_CASES = {
    "mixed": [
        (("d", "a"), ("f", "a/1", bytes(10)), ("d", "a/b"), ("f", "a/b/2", bytes(20)), ("f", "top", bytes(5)),
         ("f", "f", bytes(40)), ("h", "g", "f"), ("d", "x"), ("f", "x/y", bytes(7))),
        (("d", "a"), ("o", "a"), ("f", "a/3", bytes(30)), ("w", "top"), ("f", "x", bytes(3)), ("w", "f")),
        (("d", "a"), ("d", "a/b"), ("f", "a/b/4", bytes(4)), ("l", "link", "a/3"), ("f", "top", bytes(6))),
    ],
    # unpacking a whiteout creates its missing parent directory, which hides a file below
    "whiteout-under-a-file": [(("d", "a"), ("f", "a/b", bytes(9)), ("f", "k", bytes(2))),
                              (("w", "a/b/g"), ("w", "k/z"))],
}


@pytest.mark.parametrize("case", sorted(_KERNEL_CASES))
def test_final_filesystem_matches_the_kernels_overlay(kernel_overlay, tmp_path: Path, case: str) -> None:
    from labkit.fs.realfs import write_dir
    from labkit.oci.tar.unpack import read_layer
    layers = _KERNEL_CASES[case]
    tars = [make_layer(*entries) for entries in layers]
    write_image_tar(tars, {}, tmp_path / "img.tar")
    with open_image(tmp_path / "img.tar") as img:
        a = analyze(img)
    dirs = []
    for i, data in enumerate(tars):
        d = tmp_path / f"l{i}"
        d.mkdir()
        write_dir(read_layer(io.BytesIO(data)), d)
        dirs.append(str(d))
    mnt = tmp_path / "m"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + ":".join(reversed(dirs)), str(mnt)],
                   check=True)
    try:
        total, files = _walk(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert (a.final_bytes, a.final_files) == (total, files)
    assert a.stored_bytes - a.final_bytes == a.reclaimable_bytes


# --------------------------------------------------------------------------- CI rules

def test_parse_dive_ci_file() -> None:
    text = """# dive CI
rules:
  # If the efficiency is measured below X%, mark as failed.
  lowestEfficiency: 0.95
  highestWastedBytes: "20MB"   # quoted
  highestUserWastedPercent: disabled
"""
    assert parse_dive_ci(text) == {"lowestEfficiency": "0.95", "highestWastedBytes": "20MB",
                                   "highestUserWastedPercent": "disabled"}
    assert parse_dive_ci("") == {"lowestEfficiency": "0.9", "highestWastedBytes": "disabled",
                                 "highestUserWastedPercent": "0.1"}
    with pytest.raises(LabkitError, match="unknown rule 'lowestEfficency'"):
        parse_dive_ci("rules:\n  lowestEfficency: 0.5\n")
    assert parse_size("20MB") == 20_000_000 and parse_size("1 KiB") == 1024 and parse_size("300") == 300
    with pytest.raises(LabkitError):
        parse_size("twenty")


def test_evaluate_ci(tmp_path: Path) -> None:
    a = analysis_of(tmp_path, (("f", "f", bytes(1000)),), (("f", "f", bytes(1000)), ("f", "g", bytes(1000))))
    # efficiency = (1000 + 1000) / (2000 + 1000); wasted 2000; user size 2000 -> 100 %
    assert math.isclose(a.dive.efficiency, 2 / 3)
    verdict = {r.rule: r.status for r in evaluate_ci(a.dive, parse_dive_ci(""))}
    assert verdict == {"lowestEfficiency": "FAIL", "highestWastedBytes": "SKIP", "highestUserWastedPercent": "FAIL"}
    rules = {"lowestEfficiency": "0.6", "highestWastedBytes": "2KB", "highestUserWastedPercent": "off"}
    verdict = {r.rule: r.status for r in evaluate_ci(a.dive, rules)}
    assert verdict == {"lowestEfficiency": "PASS", "highestWastedBytes": "PASS", "highestUserWastedPercent": "SKIP"}
    rules = {"lowestEfficiency": "false", "highestWastedBytes": "1999B", "highestUserWastedPercent": ""}
    verdict = {r.rule: r.status for r in evaluate_ci(a.dive, rules)}
    assert verdict == {"lowestEfficiency": "SKIP", "highestWastedBytes": "FAIL", "highestUserWastedPercent": "SKIP"}


# dive's rules (cmd/dive/cli/internal/command/ci/rules.go): lowestEfficiency fails when
# threshold > efficiency, highestWastedBytes when wastedBytes > threshold, highestUserWastedPercent
# when wastedUserPercent > threshold. A value exactly at its threshold passes every rule.
# Layers: 0 = a 1000 + b 7000, 1 = a 1000 + c 7000. Leaves a (2000, smallest 1000), b 7000, c 7000:
# efficiency = 15000 / 16000 = 0.9375, wasted = 2000 (both copies of a), user bytes = layer 1 = 8000,
# user wasted = 2000 / 8000 = 0.25 (0.9375 and 0.25 are exact binary fractions: no rounding).
_RULES = ("lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent")
_EFF, _PCT = 0.9375, 0.25


@pytest.fixture(scope="module")
def boundary_score(tmp_path_factory):
    a = analysis_of(tmp_path_factory.mktemp("ci"), (("f", "a", bytes(1000)), ("f", "b", bytes(7000))),
                    (("f", "a", bytes(1000)), ("f", "c", bytes(7000))))
    assert (a.dive.efficiency, a.dive.wasted_bytes, a.dive.user_size_bytes, a.dive.user_wasted_percent) == \
        (_EFF, 2000, 8000, _PCT)
    return a.dive


@pytest.mark.parametrize("rule, threshold, status", [
    ("lowestEfficiency", "0.9375", "PASS"),                              # efficiency == threshold
    ("lowestEfficiency", repr(math.nextafter(_EFF, 1)), "FAIL"),         # the next float up
    ("lowestEfficiency", repr(math.nextafter(_EFF, 0)), "PASS"),         # the next float down
    ("lowestEfficiency", "0.9376", "FAIL"),
    ("lowestEfficiency", "0.9374", "PASS"),
    ("highestWastedBytes", "2000", "PASS"),                              # wasted == threshold
    ("highestWastedBytes", "2KB", "PASS"),
    ("highestWastedBytes", "1999", "FAIL"),
    ("highestWastedBytes", "2001", "PASS"),
    ("highestUserWastedPercent", "0.25", "PASS"),                        # percent == threshold
    ("highestUserWastedPercent", repr(math.nextafter(_PCT, 0)), "FAIL"),
    ("highestUserWastedPercent", repr(math.nextafter(_PCT, 1)), "PASS"),
    ("highestUserWastedPercent", "0.2499", "FAIL"),
    ("highestUserWastedPercent", "0.2501", "PASS"),
])
def test_ci_rule_at_and_around_its_threshold(boundary_score, rule: str, threshold: str, status: str) -> None:
    rules = {r: "disabled" for r in _RULES} | {rule: threshold}
    verdict = {r.rule: r.status for r in evaluate_ci(boundary_score, rules)}
    assert verdict == {r: "SKIP" for r in _RULES} | {rule: status}


@pytest.mark.parametrize("rule", ["lowestEfficiency", "highestUserWastedPercent"])
@pytest.mark.parametrize("threshold", ["20", "1.01", "-0.1"])
def test_a_fraction_rule_outside_zero_to_one_is_a_config_error(boundary_score, rule: str, threshold: str) -> None:
    """dive refuses ``highestUserWastedPercent: 20`` (someone meaning 20%) instead of letting
    nearly every image pass: "outside allowed range (0-1)"."""
    (result,) = [r for r in evaluate_ci(boundary_score, {rule: threshold}) if r.rule == rule]
    assert result.status == "FAIL" and "invalid config value" in result.message
    assert "outside allowed range (0-1)" in result.message


# --------------------------------------------------------------------------- property: the kernel agrees

_DIRS = ("a", "a/b", "c")
_FILES = ("a/f", "a/b/g", "c/h", "top", "a/b")      # "a/b" as a file replaces the directory


def _layer_strategy():
    from hypothesis import strategies as st
    op = st.sampled_from(["keep", "keep", "file", "file", "whiteout", "link", "dir", "opaque"])
    return st.tuples(st.lists(op, min_size=len(_DIRS), max_size=len(_DIRS)),
                     st.lists(op, min_size=len(_FILES), max_size=len(_FILES)),
                     st.lists(st.integers(0, 40), min_size=len(_FILES), max_size=len(_FILES)))


def _entries(spec) -> tuple:
    dir_ops, file_ops, sizes = spec
    whiteouts, dirs, rest = [], [], []
    as_file = {"a/b"} if file_ops[_FILES.index("a/b")] == "file" else set()
    for d, o in zip(_DIRS, dir_ops):
        if d in as_file:
            continue
        if o == "whiteout":
            whiteouts.append(("w", d))
        elif o in ("dir", "opaque"):
            dirs.append(("d", d))
            if o == "opaque":
                rest.append(("o", d))
    gone = {d for _, d in whiteouts}
    whiteouts = [w for w in whiteouts if not any(w[1].startswith(g + "/") for g in gone)]
    dirs = [d for d in dirs if not any(d[1].startswith(g + "/") for g in gone)]
    rest = [r for r in rest if not any(r[1].startswith(g + "/") for g in gone)]
    made = {d for _, d in dirs}
    for f, o, n in zip(_FILES, file_ops, sizes):
        if f != "a/b" and any(f.startswith(x + "/") for x in as_file):
            continue
        if any(f.startswith(g + "/") for g in gone):
            continue            # inside a directory this layer whites out: Docker refuses it
        if f == "a/b" and o != "file":
            continue
        if o == "whiteout":
            whiteouts.append(("w", f))
        elif o == "file":
            for anc in ("a", "a/b", "c"):
                if f.startswith(anc + "/") and anc not in made:
                    dirs.append(("d", anc))
                    made.add(anc)
            rest.append(("f", f, bytes(n)))
        elif o == "link" and f != "a/b":
            rest.append(("l", f, "top"))
    # a whiteout for a name this layer also writes must come first (Docker refuses the reverse)
    return tuple(whiteouts + sorted(dirs, key=lambda e: e[1].count("/")) + rest)


def test_random_layers_final_filesystem_matches_the_kernel(kernel_overlay, tmp_path_factory) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from labkit.fs.realfs import write_dir
    from labkit.oci.tar.unpack import read_layer

    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(_layer_strategy(), min_size=2, max_size=4))
    def check(specs) -> None:
        tmp = tmp_path_factory.mktemp("prop")
        tars = [make_layer(*_entries(s)) for s in specs]
        write_image_tar(tars, {}, tmp / "img.tar")
        with open_image(tmp / "img.tar") as img:
            a = analyze(img)
        dirs = []
        for i, data in enumerate(tars):
            d = tmp / f"l{i}"
            d.mkdir()
            write_dir(read_layer(io.BytesIO(data)), d)
            dirs.append(str(d))
        mnt = tmp / "m"
        mnt.mkdir()
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        "lowerdir=" + ":".join(reversed(dirs)), str(mnt)], check=True)
        try:
            total, files = _walk(mnt)
        finally:
            subprocess.run(["umount", str(mnt)], check=True)
        assert (a.final_bytes, a.final_files) == (total, files)
        assert a.stored_bytes - a.final_bytes == a.reclaimable_bytes
        # dive's score can even go negative: a whiteout of a path that never existed stops
        # its scoring of that layer and leaves a -1 "smallest size" behind (kept, as dive does)
        assert a.dive.wasted_bytes >= 0 and a.dive.efficiency <= 1.0

    check()
