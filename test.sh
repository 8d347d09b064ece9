#!/usr/bin/env bash
# Run every test: pytest, then nbval over every lesson on the simulator engine, and on the
# Docker engine too whenever a daemon is reachable (always under LABKIT_REQUIRE_DOCKER); as root,
# also on the simulator the Binder way (scripts/binder_check.sh).
# Extra arguments go to the first pytest run.
set -euo pipefail
source "$(dirname "$0")/scripts/setup.sh"
labkit_system_packages chromium docker-registry
labkit_venv
cd "$LABKIT_ROOT"
# everything this run writes to the temp directory (lesson kernels that nbval kills cannot
# remove their own scratch files) goes into one directory, removed at the end
run_tmp=$(mktemp -d -t lk-XXXXXX)     # short: tests make unix sockets below it (108 bytes)
chmod 1777 "$run_tmp"
trap 'rm -rf "$run_tmp"' EXIT
export TMPDIR="$run_tmp"
nbval=(--nbval notebooks/ --nbval-sanitize-with notebooks/sanitize.cfg --nbval-current-env -p no:cacheprovider)

echo "== pytest: package tests ==" >&2
python -m pytest tests/ "$@"

echo "== nbval: lessons on the simulator engine ==" >&2
LABKIT_ENGINE=sim python -m pytest "${nbval[@]}"

# the Binder way: an ordinary user without the Docker socket, in an environment made only from
# binder/, through binder/start (a non-root run of this script already is an ordinary user's)
if [ "$(id -u)" -eq 0 ]; then
    echo "== nbval: lessons the Binder way (unprivileged user, environment from binder/) ==" >&2
    "$LABKIT_ROOT/scripts/binder_check.sh"
else
    echo "== nbval the Binder way: SKIPPED, it needs root to run as another user (this run is unprivileged) ==" >&2
fi

if [ -n "${LABKIT_REQUIRE_DOCKER:-}" ] || labkit_docker_reachable; then
    echo "== nbval: lessons on the Docker engine ==" >&2
    # one session name for every lesson kernel, so exactly their objects are cleaned after
    session="nbval$$"
    status=0
    LABKIT_ENGINE=docker LABKIT_SESSION=$session python -m pytest "${nbval[@]}" || status=$?
    LABKIT_ENGINE=docker LABKIT_SESSION=$session labkit clean --session >/dev/null
    [ "$status" -eq 0 ] || exit "$status"
else
    echo "== nbval on the Docker engine: SKIPPED, no daemon reachable (see README) ==" >&2
fi
