#!/usr/bin/env bash
# Install mlipscope with its fitting codes into ./.venv (idempotent; safe to run again).
#   bash scripts/install.sh            core + SNAP/POD (LAMMPS) + GAP + MTP + MACE + dev tools
#   MLIPSCOPE_WITH_ACE=1 bash scripts/install.sh   also the isolated pacemaker (ACE) environment .venv-ace
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned: an unpinned torch (pulled in by mace-torch) would fetch a multi-GB CUDA build
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[all,dev]"
if [ "${MLIPSCOPE_WITH_ACE:-0}" = "1" ]; then
  .venv/bin/python -m mlipscope.models.environments ace
fi
.venv/bin/python -c "import mlipscope, mlipscope._lammps as l; l.ensure_lammps(); print('mlipscope', mlipscope.__version__, 'installed')"
