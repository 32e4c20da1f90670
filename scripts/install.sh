#!/usr/bin/env bash
# Install mlipscope with its fitting codes into ./.venv (idempotent; safe to run again).
#   bash scripts/install.sh            core + SNAP/POD (LAMMPS) + GAP + MTP + NNP + MACE + CHGNet + dev tools
#   MLIPSCOPE_WITH_DEEPMD=1 bash scripts/install.sh   also the isolated DeePMD-kit environment .venv-deepmd
#                                      (the shipped example fits DeePMD models; ~4 min, 1.5 GB)
#   MLIPSCOPE_WITH_ACE=1 bash scripts/install.sh      also the isolated pacemaker (ACE) environment .venv-ace
#   MLIPSCOPE_WITH_SEVENNET=1 bash scripts/install.sh also the isolated SevenNet environment .venv-sevennet
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned: an unpinned torch (pulled in by mace-torch) would fetch a multi-GB CUDA build
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[all,dev]"
for env in deepmd ace sevennet; do
  flag="MLIPSCOPE_WITH_${env^^}"
  if [ "${!flag:-0}" = "1" ]; then
    # an environment that already imports its packages is kept as it is (idempotent, and fast on a rerun)
    .venv/bin/python -m mlipscope.models.environments "$env" --check >/dev/null 2>&1 \
      || .venv/bin/python -m mlipscope.models.environments "$env"
  fi
done
.venv/bin/python -c "import mlipscope, mlipscope._lammps as l; l.ensure_lammps(); print('mlipscope', mlipscope.__version__, 'installed')"
