# Sourced by ../lab.sh and ../test.sh: make this checkout ready on a fresh Debian/Ubuntu
# machine (system packages when missing, a local virtual environment, labkit with its extras).
# Safe to run again: it only does what is missing or out of date.
#
# System packages are installed only when missing, and only in the open: as root directly, else
# with sudo when this user may use it (without a password, or at a terminal where sudo asks for
# it). Otherwise one line names the missing packages and the command that installs them; the
# set-up then goes on without the optional ones (saying what does not work without each) and
# stops only for one it cannot do without (python3-venv, to make the virtual environment).
set -euo pipefail
LABKIT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${LABKIT_VENV:-$LABKIT_ROOT/.venv}
PYTHON=${PYTHON:-python3}

_say() { echo "labkit setup: $*" >&2; }

_without() {  # what does not work without a package; nothing printed: it is needed
    case "$1" in
        python3-venv) ;;
        graphviz) echo "lesson diagrams are not drawn (each shows 'cannot draw the diagram' instead; Graphviz's dot draws them)" ;;
        busybox-static) echo "the simulator uses its stand-in base layer (same files and sizes, other digests); the Docker engine cannot build labkit/base" ;;
        chromium) echo "the browser test (pytest -m browser) is skipped" ;;
        docker-registry) echo "lesson 09's real registry tests (Docker engine) are skipped" ;;
        *) echo "what needs $1 does not work" ;;
    esac
}

_pkg_missing() {  # is what this package gives missing here? (checked the way the lessons use it)
    case "$1" in
        python3-venv)   # only to make the venv; Debian splits ensurepip into python3.X-venv
            [ ! -x "$VENV/bin/python" ] && ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 ;;
        graphviz) ! command -v dot >/dev/null 2>&1 ;;
        busybox-static)
            if [ -n "${LABKIT_BUSYBOX:-}" ] && [ -x "$LABKIT_BUSYBOX" ]; then return 1; fi
            if command -v dpkg >/dev/null 2>&1; then ! dpkg -s busybox-static >/dev/null 2>&1
            else ! command -v busybox >/dev/null 2>&1; fi ;;
        *)
            if command -v dpkg >/dev/null 2>&1; then ! dpkg -s "$1" >/dev/null 2>&1
            else ! command -v "$1" >/dev/null 2>&1; fi ;;
    esac
}

_install() {  # install Debian packages, saying how; 1 (after one line naming them and the command) when it cannot
    local cmd="apt-get install -y $*" sudo="" note=""
    if ! command -v apt-get >/dev/null 2>&1; then
        _say "missing: $* (no apt-get here: install them with this system's package manager; conda: conda env create -f environment.yml)"
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            _say "missing Debian packages: $* (this user is not root and there is no sudo: an administrator can run: $cmd)"
            return 1
        elif sudo -n true >/dev/null 2>&1; then
            sudo="sudo -n"
        elif [ -t 0 ] && [ -t 2 ]; then
            sudo="sudo" note=" (sudo may ask for your password)"
        else
            _say "missing Debian packages: $* (sudo needs a password and this is not a terminal): run sudo $cmd at a terminal, or ask an administrator to"
            return 1
        fi
    fi
    _say "installing $*: ${sudo:+sudo }$cmd$note"
    if $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
       $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; then
        return 0
    fi
    _say "could not install $* (apt-get failed, see above): run ${sudo:+sudo }$cmd"
    return 1
}

_apt_install() {  # install the Debian packages of this list that dpkg does not have (binder_check.sh)
    local missing=() pkg
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    _install "${missing[@]}"
}

labkit_system_packages() {  # what the lessons use (plus the extra packages named); Docker itself is optional
    local missing=() needed=() pkg what
    for pkg in python3-venv graphviz busybox-static "$@"; do
        if _pkg_missing "$pkg"; then missing+=("$pkg"); fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    _install "${missing[@]}" && return 0
    for pkg in "${missing[@]}"; do   # not installed: go on without the optional ones, saying what breaks
        what=$(_without "$pkg")
        if [ -n "$what" ]; then _say "going on without $pkg: $what"; else needed+=("$pkg"); fi
    done
    if [ ${#needed[@]} -gt 0 ]; then
        _say "cannot go on without ${needed[*]} (it makes the virtual environment $VENV; or set PYTHON to a Python whose venv module works)"
        return 1
    fi
}

labkit_venv() {
    if { [ -e "$VENV/bin/python" ] || [ -L "$VENV/bin/python" ]; } && [ ! -x "$VENV/bin/python" ]; then
        _say "$VENV/bin/python is not usable by this user (its interpreter is not executable for $(id -un)): set LABKIT_VENV to a folder of your own, e.g. LABKIT_VENV=\$HOME/.labkit-venv"
        return 1
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        _say "creating $VENV"
        "$PYTHON" -m venv "$VENV" || { _say "could not create $VENV: set LABKIT_VENV to a folder of your own"; return 1; }
    fi
    local stamp="$VENV/.labkit-installed"
    if [ ! -f "$stamp" ] || [ "$LABKIT_ROOT/pyproject.toml" -nt "$stamp" ]; then
        if [ ! -w "$VENV" ]; then
            _say "$VENV is older than pyproject.toml but this user may not update it: using it as it is (to update it, run this as $(ls -ld "$VENV" | awk '{print $3}'), or set LABKIT_VENV to a folder of your own)"
        else
            _say "installing labkit with its extras into $VENV"
            "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null &&
                "$VENV/bin/python" -m pip install -q -e "$LABKIT_ROOT[all]" &&
                touch "$stamp" || { _say "pip could not install labkit into $VENV (see above)"; return 1; }
        fi
    fi
    export PATH="$VENV/bin:$PATH"
}

labkit_docker_reachable() {
    "$VENV/bin/python" - <<'PY' >/dev/null 2>&1
import docker
docker.from_env(timeout=5).ping()
PY
}
