#!/usr/bin/env bash
# Launch JupyterLab on the first lesson. Works with no Docker daemon (simulator engine);
# uses the daemon when one is reachable. Extra arguments go to `jupyter lab`.
set -euo pipefail
source "$(dirname "$0")/scripts/setup.sh"
labkit_system_packages
labkit_venv
cd "$LABKIT_ROOT"
extra=()
[ "$(id -u)" -eq 0 ] && extra+=(--ServerApp.allow_root=True)
exec jupyter lab --ServerApp.root_dir="$LABKIT_ROOT" "${extra[@]}" "$@" notebooks/00-start-here.ipynb
