#!/usr/bin/env bash
# Run every lesson's nbval check the Binder way (test.sh runs it when it runs as root):
#
#   * as an ordinary system user ($LABKIT_BINDER_USER, made with useradd when missing) that
#     cannot open the Docker socket (checked: a connect() as that user must fail);
#   * in a virtual environment built ONLY from what binder/ installs: binder/apt.txt's Debian
#     packages, binder/environment.yml's packages installed with pip (conda names mapped to
#     their PyPI names: conda is not here), then binder/postBuild (`pip install --no-deps .`);
#   * on a copy of the checkout owned by that user (repo2docker copies the repository into the
#     user's home), through binder/start, with an environment that holds nothing of the caller's.
#
# Lessons 02-04 compare the simulator with the kernel's overlayfs wherever this user can mount
# it (labkit.fs.kernel: a user namespace) and run the simulator alone where it cannot (Binder);
# their stored outputs pass either way (notebooks/sanitize.cfg).
#
# The environment is rebuilt only when binder/apt.txt, binder/environment.yml, the Python it
# runs on or this script change (a stamp file holds their hash); postBuild runs every time,
# so the lessons run against the labkit of this checkout.
#
#   scripts/binder_check.sh              # as root
#   scripts/binder_check.sh -x -k 04     # extra arguments go to pytest
set -euo pipefail
SELF=$(realpath "${BASH_SOURCE[0]}")
source "$(dirname "$SELF")/setup.sh"   # LABKIT_ROOT, _apt_install
cd "$LABKIT_ROOT"

BINDER_USER=${LABKIT_BINDER_USER:-labkit-binder}
STATE=${LABKIT_BINDER_DIR:-/var/lib/labkit-binder}   # the user's home: environment and run copies

say() { echo "binder check [${SECONDS}s]: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (it makes a user and runs the lessons as that user)"

# -- the Debian packages of binder/apt.txt ------------------------------------------------------
mapfile -t apt_pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' binder/apt.txt)
if [ ${#apt_pkgs[@]} -gt 0 ] && command -v dpkg >/dev/null 2>&1; then
    _apt_install "${apt_pkgs[@]}"
fi

# -- the ordinary user, and what it must not reach -----------------------------------------------
if ! id "$BINDER_USER" >/dev/null 2>&1; then
    say "creating the system user $BINDER_USER"
    useradd --system --user-group --home-dir "$STATE" --no-create-home \
        --shell /usr/sbin/nologin "$BINDER_USER"
fi
[ "$(id -u "$BINDER_USER")" -ne 0 ] || die "$BINDER_USER is root"
mkdir -p "$STATE"
chown "$BINDER_USER:" "$STATE"
chmod 0700 "$STATE"

KEEP_PIP=""
as_user() {  # run "$@" as the user with a clean environment (pip's settings when KEEP_PIP is set)
    local keep=() name
    if [ -n "$KEEP_PIP" ]; then
        for name in $(compgen -e); do
            case "$name" in PIP_*|http_proxy|https_proxy|HTTP_PROXY|HTTPS_PROXY|no_proxy|NO_PROXY)
                keep+=("$name=${!name}");; esac
        done
    fi
    runuser -u "$BINDER_USER" -- env -i HOME="$STATE" USER="$BINDER_USER" LANG=C.UTF-8 \
        TMPDIR="$USER_TMP" PATH="$VENV_BIN:/usr/local/bin:/usr/bin:/bin" "${keep[@]}" "$@"
}
VENV_BIN=/nonexistent
USER_TMP=/tmp      # then the run's own temp dir, removed with the run: kernels killed by nbval
                   # cannot clean up after themselves

# the Python binder/environment.yml asks for (python=3.11 -> python3.11), as Debian ships it
want=$(sed -n 's/^[[:space:]]*-[[:space:]]*python[[:space:]]*=\{1,2\}[[:space:]]*\([0-9.]*\).*/\1/p' \
       binder/environment.yml | head -1)
PYBIN=$(PATH=/usr/local/bin:/usr/bin:/bin command -v "python${want:-3}" || true)
[ -n "$PYBIN" ] || die "binder/environment.yml asks for python ${want}; install python${want} (apt)"

for sock in /var/run/docker.sock /run/docker.sock; do
    [ -e "$sock" ] || continue
    if as_user "$PYBIN" -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' \
            "$sock" 2>/dev/null; then
        die "$BINDER_USER can open $sock ($(stat -c '%A %U:%G' "$sock"); groups: $(id -nG "$BINDER_USER")): Binder has no Docker socket"
    fi
done

# -- the environment: binder/environment.yml through pip, rebuilt when binder/ changes --------
VENV_DIR=$STATE/venv
stamp=$VENV_DIR/.labkit-binder-stamp
key=$( { cat binder/apt.txt binder/environment.yml "$SELF"; "$PYBIN" -VV; } | sha256sum | cut -c1-16)
exec 9>"$STATE/.lock"
flock 9                                       # one binder check at a time on this machine
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$key" ]; then
    say "building its environment from binder/environment.yml ($PYBIN)"
    rm -rf "$VENV_DIR"
    reqs=$("$PYBIN" - binder/environment.yml <<'PY'
"""binder/environment.yml's conda dependencies as pip requirements, one a line."""
import re
import sys

CONDA_TO_PYPI = {            # conda-forge name -> PyPI name (most are the same, two are not)
    "docker-py": "docker",
    "python-graphviz": "graphviz",
    **{same: same for same in ("jupyterlab", "ipywidgets", "ipykernel", "nbclient", "nbformat",
                               "nbval", "pytest", "hypothesis", "dockerfile-parse", "zstandard")},
}
NOT_FROM_PIP = {             # conda packages that are not Python packages on PyPI
    "python": "the interpreter (chosen above)",
    "pip": "comes with the venv",
    "graphviz": "the `dot` program: Debian's graphviz",
}
section = None
for raw in open(sys.argv[1], encoding="utf-8"):
    line = raw.split("#", 1)[0].rstrip()
    if not line.strip():
        continue
    if not line.startswith((" ", "-")):
        section = line.split(":", 1)[0].strip()
        continue
    if section != "dependencies":
        continue
    item = line.strip().removeprefix("-").strip()
    if item == "pip:" or item.endswith(":"):
        raise SystemExit(f"environment.yml: nested section {item!r} is not mapped here")
    m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", item)
    if not m:
        raise SystemExit(f"environment.yml: cannot read {item!r}")
    name, spec = m.group(1).lower(), m.group(2).replace(" ", "")
    if name in NOT_FROM_PIP:
        continue
    if re.fullmatch(r"=[^=].*", spec):           # conda's name=1.2 means 1.2.*
        spec = "==" + spec[1:] + ".*"
    if name not in CONDA_TO_PYPI:
        raise SystemExit(f"environment.yml: no PyPI name known for the conda package {name!r}: "
                         "add it to CONDA_TO_PYPI in scripts/binder_check.sh")
    print(CONDA_TO_PYPI[name] + spec)
PY
)
    mapfile -t reqs <<<"$reqs"
    say "pip install ${reqs[*]}"
    mkdir -p "$VENV_DIR" && chown "$BINDER_USER:" "$VENV_DIR"
    as_user "$PYBIN" -m venv "$VENV_DIR"
    KEEP_PIP=1 as_user "$VENV_DIR/bin/python" -m pip install -q "${reqs[@]}"
    echo "$key" > "$stamp"
fi
VENV_BIN=$VENV_DIR/bin
command -v dot >/dev/null 2>&1 || die "graphviz's dot is missing (binder/environment.yml lists graphviz)"

# -- a copy of the checkout in the user's home, postBuild, then the lessons through start -----
run=$(mktemp -d "$STATE/repo.XXXXXX")
trap 'rm -rf "$run"' EXIT
chown "$BINDER_USER:" "$run"
as_user mkdir "$run/.tmp"
USER_TMP="$run/.tmp"
if git -C "$LABKIT_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # what a clone of this work tree holds: tracked and new files, not ignored ones
    git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done \
        | tar --null -T - -cf - | as_user tar -xf - -C "$run"
else
    tar --exclude=./.git --exclude=./.venv --exclude='*/__pycache__' --exclude=./.hypothesis \
        -cf - . | as_user tar -xf - -C "$run"
fi

say "postBuild"
(cd "$run" && KEEP_PIP=1 as_user ./binder/postBuild >/dev/null)
say "nbval on the simulator as $BINDER_USER (uid $(id -u "$BINDER_USER"), groups: $(id -nG "$BINDER_USER")), through binder/start"
cd "$run"
as_user ./binder/start python -m pytest --nbval notebooks/ --nbval-sanitize-with notebooks/sanitize.cfg \
    --nbval-current-env -p no:cacheprovider "$@"
