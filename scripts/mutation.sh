#!/usr/bin/env bash
# Mutation testing of labkit's pure core with mutmut (configured in pyproject.toml):
#   scripts/mutation.sh                     every core package (hours on 2 cores)
#   scripts/mutation.sh labkit.fs.layers    one package or module (mutmut's name globs)
# Runs in a throwaway git worktree of HEAD, so an edit in progress is never mutated; Docker
# tests skip there (DOCKER_HOST points nowhere), the kernel oracles run when this is root.
# Prints killed / survived / no-test counts and the score per package; `mutmut show NAME` in
# the printed worktree shows a survivor's diff.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
labkit_venv >/dev/null
root="$LABKIT_ROOT"
work="${LABKIT_MUTATION_DIR:-/tmp/labkit-mutation}"
if [ ! -d "$work/.git" ] && [ ! -f "$work/.git" ]; then
    git -C "$root" worktree add --detach "$work" HEAD >/dev/null
else
    git -C "$work" checkout --detach -q "$(git -C "$root" rev-parse HEAD)"
fi
cd "$work"
rm -rf mutants
globs=()
for p in "${@:-labkit.fs.overlay labkit.fs.node labkit.fs.layers labkit.oci.tar labkit.build.cache labkit.analysis labkit.grading.scores}"; do
    for g in $p; do globs+=("$g*"); done
done
DOCKER_HOST=unix:///nonexistent/labkit-mutation.sock "$root/.venv/bin/mutmut" run "${globs[@]}" >mutmut.log 2>&1 || {
    echo "mutmut failed: see $work/mutmut.log" >&2; tail -20 mutmut.log >&2; exit 1; }
"$root/.venv/bin/python" "$root/scripts/mutation_score.py"
echo "survivors: cd $work && $root/.venv/bin/python $root/scripts/mutation_score.py --survivors PREFIX"
