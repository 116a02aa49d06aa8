#!/usr/bin/env bash
# Executes every notebook headless, as CI does: set-up (notebooks/setup.sh), compile, a small real
# training run (plus a 2-worker one for the speed notebook) into target/notebook-run/, then
# `jupyter nbconvert --execute` of each notebooks/NN-*.ipynb into notebooks/executed/.
# A kernel that fails to start is retried (NB_KERNEL_ATTEMPTS, default 8 = 1 + 7 retries, 45 s each:
# rapaio's kernel sometimes never answers kernel_info, 3 of 7 and 4 of 8 starts in two CI runs of
# 2026-12-02, while a healthy start answers in 2-4 s); a cell error fails at once. Finally every executed notebook must hold at least the number of PNG images
# its metadata asks for (xraydl.min_images), every image must be a complete PNG (strict base64,
# PNG signature first, IEND chunk last) and there must be no error output.
#
# Usage: bash notebooks/execute.sh [NOTEBOOK.ipynb ...]   (default: every notebooks/NN-*.ipynb)
# NB_REUSE_RUNS=1 keeps the runs of a previous call in target/notebook-run instead of training again.
# Optional: NB_BENCHMARK_ARGS="..." also runs the benchmark goal with
# --out target/notebook-run/runs/benchmark-notebooks and these arguments, for 03-speed.ipynb.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
start=$(date +%s)
say() { echo "[notebooks $(( $(date +%s) - start )) s] $*"; }

OUT="$ROOT/target/notebook-run"
RUNS="$OUT/runs"
EXECUTED="$ROOT/notebooks/executed"
ATTEMPTS="${NB_KERNEL_ATTEMPTS:-8}"
JUPYTER=/usr/bin/jupyter

say "set-up"
bash notebooks/setup.sh
say "compile"
mvn -B -q compile

# The training JVMs: small heap and off-heap caps (the tiny model needs little), the JDK 17 flags of .mvn/jvm.config.
read -r -a OPENS <<< "$(tr ' ' '\n' < .mvn/jvm.config | grep -E '^(--add-opens|-XX:\+IgnoreUnrecognizedVMOptions)' | tr '\n' ' ')"
JAVA_OPTS=(-Xmx1g -Dorg.bytedeco.javacpp.maxbytes=2g -Dorg.bytedeco.javacpp.maxphysicalbytes=4g
           -Dorg.deeplearning4j.crash.reporting.enabled=false "${OPENS[@]}")
CP="$ROOT/target/classes:$ROOT/target/lib/*"
TINY=(--data data/chest-xray-sample --image-size 32 --batch 16 --max-batches 2 --seed 7 --no-progress
      --set densenetGrowth=4 --set "densenetBlocks=[1,1]" --set densenetInitFeatures=8
      --set "headHidden=[8]" --set "headDropout=[0.1]")
xraydl() { java "${JAVA_OPTS[@]}" -cp "$CP" org.xraydl.cli.Main "$@"; }

if [ "${NB_REUSE_RUNS:-0}" = 1 ] && [ -f "$RUNS/tiny/history.csv" ] && [ -f "$RUNS/tiny-2-workers/history.csv" ]; then
  say "reusing the runs in $RUNS (NB_REUSE_RUNS=1)"
else
  rm -rf "$OUT"
  mkdir -p "$RUNS"
  say "small run: tiny DenseNet, 32 px, 3 epochs of 2 batches, real sample images -> $RUNS/tiny"
  xraydl train "${TINY[@]}" --epochs 3 --out "$RUNS/tiny" > "$OUT/tiny.log" 2>&1 || { tail -30 "$OUT/tiny.log"; exit 1; }
  say "small run with 2 workers (ParallelWrapper), 3 epochs -> $RUNS/tiny-2-workers"
  xraydl train "${TINY[@]}" --epochs 3 --workers 2 --out "$RUNS/tiny-2-workers" > "$OUT/tiny-2-workers.log" 2>&1 \
    || { tail -30 "$OUT/tiny-2-workers.log"; exit 1; }

  if [ -n "${NB_BENCHMARK_ARGS:-}" ]; then
    say "benchmark goal: benchmark --out $RUNS/benchmark-notebooks $NB_BENCHMARK_ARGS"
    # shellcheck disable=SC2086
    xraydl benchmark --out "$RUNS/benchmark-notebooks" $NB_BENCHMARK_ARGS > "$OUT/benchmark.log" 2>&1 \
      || { tail -30 "$OUT/benchmark.log"; exit 1; }
  fi
fi

export JUPYTER_PATH="$ROOT/target/jupyter"
export JUPYTER_CONFIG_DIR="$ROOT/target/jupyter/config"
export JUPYTER_RUNTIME_DIR="$ROOT/target/jupyter/runtime"
export PYTHONPATH="$ROOT/notebooks${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1
export XRAYDL_PROJECT="$ROOT" XRAYDL_DATA="data/chest-xray-sample" XRAYDL_RUN="$RUNS/tiny" XRAYDL_RUNS="$RUNS"
unset XRAYDL_BENCHMARK
mkdir -p "$EXECUTED" "$JUPYTER_CONFIG_DIR" "$JUPYTER_RUNTIME_DIR"

execute() {
  local nb="$1" name log t0
  name="$(basename "$nb" .ipynb)"
  log="$EXECUTED/$name.log"
  for attempt in $(seq 1 "$ATTEMPTS"); do
    t0=$(date +%s)
    if "$JUPYTER" nbconvert --to notebook --execute \
        --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.startup_timeout=45 \
        --ExecutePreprocessor.kernel_manager_class=xraydl_kernel.AsyncReadyKernelManager \
        --output-dir "$EXECUTED" "$nb" > "$log" 2>&1; then
      say "$name: executed in $(( $(date +%s) - t0 )) s (kernel start attempt $attempt)"
      return 0
    fi
    if grep -q "CellExecutionError" "$log"; then
      say "$name: a cell failed (no retry); from $log:"
      sed -n '/CellExecutionError/,$p' "$log" | head -60
      return 1
    fi
    if grep -qE "Kernel didn't respond|Kernel died before replying to kernel_info|Error occurred while starting new kernel client" "$log"; then
      say "$name: the kernel did not start (attempt $attempt of $ATTEMPTS)"
      continue
    fi
    say "$name: nbconvert failed; end of $log:"
    grep -v '^Add .* to classpath$' "$log" | tail -40
    return 1
  done
  say "$name: the kernel did not start in $ATTEMPTS attempts; end of $log:"
  grep -v '^Add .* to classpath$' "$log" | grep -v '^  File \|^    ' | tail -15
  return 1
}

NOTEBOOKS=("$@")
[ ${#NOTEBOOKS[@]} -gt 0 ] || NOTEBOOKS=(notebooks/[0-9][0-9]-*.ipynb)
passed=0
for nb in "${NOTEBOOKS[@]}"; do
  if ! execute "$nb"; then
    echo "notebooks: $passed passed, 1 failed"
    exit 1
  fi
  passed=$((passed + 1))
done

say "checking the executed notebooks for images and errors"
/usr/bin/python3 - "$EXECUTED" "${NOTEBOOKS[@]}" <<'PY'
import base64, binascii, json, os, sys
executed, sources = sys.argv[1], sys.argv[2:]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the chunk every complete PNG ends with


def png_problem(data):
    """None when data (the base64 text of an image/png output) is a complete PNG, else what is wrong."""
    text = "".join(data) if isinstance(data, list) else data
    try:
        png = base64.b64decode(text.rstrip("\n"), validate=True)
    except (binascii.Error, ValueError) as e:
        return f"not strict base64 ({e}; {len(text)} characters ending {text[-16:]!r})"
    if not png.startswith(PNG_SIGNATURE):
        return "no PNG signature"
    if not png.endswith(IEND):
        return f"no IEND chunk at the end: truncated PNG ({len(png)} bytes ending {png[-12:].hex()})"
    return None


bad = []
for src in sources:
    name = os.path.basename(src)
    nb = json.load(open(os.path.join(executed, name)))
    want = nb.get("metadata", {}).get("xraydl", {}).get("min_images", 1)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    outputs = [(i, o) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" for o in c.get("outputs", [])]
    pngs = [(i, o["data"]["image/png"]) for i, o in outputs if "image/png" in o.get("data", {})]
    broken = [(i, p) for i, data in pngs for p in [png_problem(data)] if p]
    errors = [o for _, o in outputs if o.get("output_type") == "error"]
    unrun = [c for c in code if c.get("execution_count") is None]
    print(f"  {name}: {len(code)} code cells, {len(pngs)} PNG images (at least {want}), {len(broken)} broken, {len(errors)} errors")
    if len(pngs) < want:
        bad.append(f"{name}: {len(pngs)} PNG images, expected at least {want}")
    for i, problem in broken:
        bad.append(f"{name}: the image of cell {i} is not a complete PNG: {problem}")
    if errors:
        bad.append(f"{name}: error output {errors[0].get('ename')}: {errors[0].get('evalue')}")
    if unrun:
        bad.append(f"{name}: {len(unrun)} code cells not executed")
if bad:
    print("FAILED:\n  " + "\n  ".join(bad))
    failed = len({b.split(":")[0] for b in bad})
    print(f"notebooks: {len(sources) - failed} passed, {failed} failed")
    sys.exit(1)
PY
say "all notebooks executed: $EXECUTED"
echo "notebooks: $passed passed, 0 failed"
