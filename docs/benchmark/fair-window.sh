#!/usr/bin/env bash
# One back-to-back window of the project's benchmark goal and the PyTorch peer, each engine at its
# own defaults (no OMP_WAIT_POLICY on either side), with the load average before every run.
# Usage: bash docs/benchmark/fair-window.sh OUT_DIR [SECONDS]   (run on an otherwise idle machine)
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:?out dir}; secs=${2:-30}; mkdir -p "$out"
unset OMP_WAIT_POLICY
# Which host: ratios move between host types, so every window names its CPU.
echo "== host: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)" | tee -a "$out/window.log"
# The compiled project and its class path (java directly: no Maven in the timed runs).
mvn -B -q compile dependency:build-classpath -Dmdep.outputFile=target/bench-cp.txt >/dev/null
CP="target/classes:$(cat target/bench-cp.txt)"
JOPTS=$(cat .mvn/jvm.config)
load() { cut -d' ' -f1-3 /proc/loadavg; }
row() { # model size batch step
  echo "== $1 $2 px batch $3 $4  load $(load)" | tee -a "$out/window.log"
  java $JOPTS -cp "$CP" org.xraydl.cli.Main benchmark --model "$1" --size "$2" --batch "$3" --step "$4" --seconds "$secs" \
      --json "$out/project-$1-$2-$3-$4.json" > "$out/project-$1-$2-$3-$4.log" 2>&1
  echo "project: $(grep -o '"img_per_s"[^,]*' "$out/project-$1-$2-$3-$4.json" | head -1)  load $(load)" | tee -a "$out/window.log"
  local pm=$1; [ "$pm" = densenet ] && pm=densenet_compact
  /usr/bin/python3 ../shared/bench/torch_peer.py "$pm" "$2" "$3" "$4" "$secs" > "$out/peer-$1-$2-$3-$4.json" 2>&1
  echo "peer:    $(grep -o '"img_per_s"[^,]*' "$out/peer-$1-$2-$3-$4.json")  load $(load)" | tee -a "$out/window.log"
}
row densenet121 128 16 forward
row densenet121 128 16 full
row densenet121 224 16 forward
row vgg16 224 16 forward

# The compact DenseNet's training step (the trunk of the job below), 96 px, batch 32: torch_peer.py
# has no compact model, so the peer side is docs/benchmark/torch_compact_step.py (same trunk).
echo "== densenet (compact) 96 px batch 32 full  load $(load)" | tee -a "$out/window.log"
java $JOPTS -cp "$CP" org.xraydl.cli.Main benchmark --model densenet --size 96 --batch 32 --step full --seconds "$secs" \
    --json "$out/project-densenet-96-32-full.json" > "$out/project-densenet-96-32-full.log" 2>&1
echo "project: $(grep -o '"img_per_s"[^,]*' "$out/project-densenet-96-32-full.json" | head -1)  load $(load)" | tee -a "$out/window.log"
/usr/bin/python3 docs/benchmark/torch_compact_step.py 96 32 full "$secs" > "$out/peer-densenet-96-32-full.json" 2>&1
echo "peer:    $(grep -o '"img_per_s"[^,]*' "$out/peer-densenet-96-32-full.json")  load $(load)" | tee -a "$out/window.log"

# The whole job: 2 epochs of the compact DenseNet (96 px, batch 32) on the same partition, decode,
# augment, fit, validate, checkpoint; then the same on PyTorch (single-process PIL loading).
split=${SPLIT:-}
if [ -n "$split" ]; then
  echo "== job: compact DenseNet 96 px batch 32, 2 epochs, split $split  load $(load)" | tee -a "$out/window.log"
  java $JOPTS -cp "$CP" org.xraydl.cli.Main benchmark --step epoch --data ../shared/datasets/chest-xray --split "$split" \
      --config config/full-cpu-192px.yaml --model densenet --size 96 --batch 32 --epochs 2 --growth 12 --blocks 2,4,6 \
      --init-features 24 --json "$out/project-epoch.json" > "$out/project-epoch.log" 2>&1
  echo "project: $(grep -o '"train_seconds"[^,]*' "$out/project-epoch.json" | tr '\n' ' ')  load $(load)" | tee -a "$out/window.log"
  /usr/bin/python3 ../shared/bench/torch_peer_train.py --split "$split" --size 96 --batch 32 --epochs 2 \
      --json "$out/peer-epoch.json" > "$out/peer-epoch.log" 2>&1
  echo "peer:    $(grep -o '"seconds": [0-9.]*' "$out/peer-epoch.log" | tr '\n' ' ')  load $(load)" | tee -a "$out/window.log"
  if [ -n "${D121_EPOCHS:-}" ]; then # the whole job for DenseNet-121 at 128 px, batch 32 (linear head as torchvision's)
    echo "== job: DenseNet-121 128 px batch 32, $D121_EPOCHS epoch(s), split $split  load $(load)" | tee -a "$out/window.log"
    java $JOPTS -cp "$CP" org.xraydl.cli.Main benchmark --step epoch --data ../shared/datasets/chest-xray --split "$split" \
        --config config/full-cpu-192px.yaml --model densenet121 --size 128 --batch 32 --epochs "$D121_EPOCHS" \
        --json "$out/project-epoch-d121.json" > "$out/project-epoch-d121.log" 2>&1
    echo "project: $(grep -o '"train_seconds"[^,]*' "$out/project-epoch-d121.json" | tr '\n' ' ')  load $(load)" | tee -a "$out/window.log"
    /usr/bin/python3 ../shared/bench/torch_peer_train.py --split "$split" --model densenet121 --size 128 --batch 32 \
        --epochs "$D121_EPOCHS" --json "$out/peer-epoch-d121.json" > "$out/peer-epoch-d121.log" 2>&1
    echo "peer:    $(grep -o '"seconds": [0-9.]*' "$out/peer-epoch-d121.log" | tr '\n' ' ')  load $(load)" | tee -a "$out/window.log"
  fi
fi
