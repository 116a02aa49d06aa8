#!/usr/bin/env bash
# Opens the notebooks in the browser: set-up if needed, compile, then `jupyter notebook` on notebooks/
# with the project's Java kernel ("Java (pneumonia-dl4j)"). Extra arguments go to jupyter notebook,
# e.g.  bash notebooks/open.sh --no-browser --port 8899
# The notebooks read XRAYDL_DATA, XRAYDL_RUN, XRAYDL_RUNS, XRAYDL_BENCHMARK (see README); by default
# the shipped sample, the newest run under runs/ and the newest runs/benchmark-* folder.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
bash notebooks/setup.sh
mvn -B -q compile
export JUPYTER_PATH="$ROOT/target/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
export PYTHONPATH="$ROOT/notebooks${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1
ROOT_FLAG=()
[ "$(id -u)" -eq 0 ] && ROOT_FLAG=(--allow-root)
exec /usr/bin/jupyter notebook --notebook-dir="$ROOT/notebooks" "${ROOT_FLAG[@]}" \
  --MappingKernelManager.kernel_manager_class=xraydl_kernel.ReadyIOLoopKernelManager \
  --MappingKernelManager.kernel_info_timeout=15 "$@"
