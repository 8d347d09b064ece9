# Sourced by ../lab.sh and ../test.sh: make this checkout ready on a fresh Debian/Ubuntu
# machine (system packages when missing, a local virtual environment, labkit with its extras).
# Safe to run again: it only does what is missing or out of date.
set -euo pipefail
LABKIT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${LABKIT_VENV:-$LABKIT_ROOT/.venv}
PYTHON=${PYTHON:-python3}

_apt_install() {  # install Debian packages that are missing, when apt is available
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "labkit setup: please install: ${missing[*]} (no apt-get here; see README for macOS/conda)" >&2
        return 0
    fi
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "labkit setup: installing ${missing[*]}" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

labkit_system_packages() {  # what every lesson needs; Docker itself is optional
    if command -v dpkg >/dev/null 2>&1; then
        _apt_install python3-venv graphviz busybox-static "$@"
    fi
}

labkit_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        echo "labkit setup: creating $VENV" >&2
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp="$VENV/.labkit-installed"
    if [ ! -f "$stamp" ] || [ "$LABKIT_ROOT/pyproject.toml" -nt "$stamp" ]; then
        echo "labkit setup: installing labkit with its extras into $VENV" >&2
        "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
        "$VENV/bin/python" -m pip install -q -e "$LABKIT_ROOT[all]"
        touch "$stamp"
    fi
    export PATH="$VENV/bin:$PATH"
}

labkit_docker_reachable() {
    "$VENV/bin/python" - <<'PY' >/dev/null 2>&1
import docker
docker.from_env(timeout=5).ping()
PY
}
