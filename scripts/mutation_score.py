"""Mutation score per core package, from ``mutmut results --all true`` (run after ``mutmut run``).

killed / (killed + survived + no tests): a mutant no test runs counts as a survivor.
Usage: python scripts/mutation_score.py [--survivors PREFIX]
"""
from __future__ import annotations

import collections
import re
import subprocess
import sys

PACKAGES = ("labkit.fs.overlay", "labkit.fs.node", "labkit.fs.layers", "labkit.oci.tar",
            "labkit.build.cache", "labkit.analysis.secrets", "labkit.analysis", "labkit.grading.scores")
KILLED = {"killed", "timeout", "segfault", "suspicious"}
SURVIVED = {"survived", "no tests"}


def package_of(mutant: str) -> str:
    return next((p for p in PACKAGES if mutant.startswith(p + ".")), mutant.rsplit(".", 2)[0])


def main(argv: list[str]) -> int:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"],
                         capture_output=True, text=True, check=True).stdout
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    show = argv[1] if len(argv) >= 2 and argv[0] == "--survivors" else None
    for m in re.finditer(r"^\s*(\S+): (.+)$", out, re.M):
        name, status = m.group(1), m.group(2).strip()
        pkg = package_of(name)
        counts[pkg][status] += 1
        if show and name.startswith(show) and status in SURVIVED:
            print(name, status)
    print(f"{'package':28} {'killed':>7} {'survived':>9} {'no tests':>9} {'pending':>8} {'score':>6}")
    for pkg in sorted(counts):
        c = counts[pkg]
        killed = sum(c[s] for s in KILLED)
        judged = killed + c["survived"] + c["no tests"]
        score = f"{100 * killed / judged:5.1f}%" if judged else "   -"
        print(f"{pkg:28} {killed:7} {c['survived']:9} {c['no tests']:9} {c['not checked']:8} {score:>6}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
