#!/usr/bin/env bash
# Trains a pool of face networks at once on one CUDA GPU, inside a fixed wall-clock budget (issue 9: candidates for
# the `accurate` ensemble). Every network is trained by `emolens train` itself (the same code as on the CPU, with
# --device cuda); the GPU is shared by all of them at once.
#
#   pack  DATA PACK            (here) FER-2013's Training and PublicTest images and ferplus.csv into PACK (.tar.gz);
#                              PrivateTest is left out, so nothing trained or chosen there can have seen it.
#   train PACK OUT             (on the GPU machine) unpack, a 2-epoch probe of every run together to time an epoch,
#                              then every run with as many epochs as fit the budget (DEADLINE_S seconds from the
#                              start, default 540), all at once. OUT receives each run's best.pt with its convolution
#                              and linear weights in float16 (<run>.pt; batch-norm statistics stay float32) and
#                              logs.tar.gz (each run's command, config, log, metrics and curves).
#
# The runs: name, architecture, seed, and whether the FER+ votes are half of each face's target (FER-2013 labels
# otherwise); every run: SGD with Nesterov momentum, lr 0.05, batch 128, label smoothing 0.1, weight average (EMA)
# 0.999, bf16 on the GPU; selected on PublicTest by epoch. DEVICE=cpu and EXTRA="--limit 512" try the script here.
#   e.g. bash benchmarks/gpu_face_pool.sh pack ../shared/data/fer2013 .gpu/fer-pool.tar.gz
#        (device) DEADLINE_S=540 bash benchmarks/gpu_face_pool.sh train .gpu/fer-pool.tar.gz "$OUT"
set -uo pipefail
RUNS=(
  "large-s10 vgg_large 10 fer"
  "large-s11 vgg_large 11 fer"
  "large-s12 vgg_large 12 ferplus"
  "large-s13 vgg_large 13 ferplus"
  "resnet-s14 resnet 14 fer"
  "resnet-s15 resnet 15 ferplus"
  "vgg-s16 vgg 16 ferplus"
)
if [ -n "${POOL:-}" ]; then IFS=',' read -r -a RUNS <<<"$POOL"; fi  # POOL="name arch seed target,...": other runs
PYTHON=${PYTHON:-python3}

pack() {
  local data=$1 pack=$2 stage
  stage=$(mktemp -d)
  mkdir -p "$stage/fer2013/test" "$(dirname "$pack")"
  cp -r "$data/train" "$stage/fer2013/train"
  for d in "$data"/test/*/; do
    mkdir -p "$stage/fer2013/test/$(basename "$d")"
    cp "$d"PublicTest_* "$stage/fer2013/test/$(basename "$d")/"
  done
  cp "$data/ferplus.csv" "$stage/fer2013/"
  tar -C "$stage" -czf "$pack" fer2013
  rm -rf "$stage"
  ls -l "$pack"
}

launch() {  # launch EPOCHS ROOT LIMIT_S: every run in the background, one log each, stopped after LIMIT_S
  local epochs=$1 root=$2 limit=$3 name arch seed target extra
  for spec in "${RUNS[@]}"; do
    read -r name arch seed target <<<"$spec"
    extra=()
    if [ "$target" = ferplus ]; then extra=(--ferplus "$DATA/ferplus.csv" --ferplus-weight 0.5); fi
    mkdir -p "$root/$name"
    local cmd=(env PYTHONPATH=src "$PYTHON" -m emolens train --data "$DATA" --arch "$arch" --epochs "$epochs"
      --batch-size 128 --lr 0.05 --label-smoothing 0.1 --ema 0.999 --device "${DEVICE:-cuda}" --threads 2
      --seed "$seed" --no-progress --out "$root/$name" "${extra[@]}" ${EXTRA:-})
    echo "${cmd[*]}" >"$root/$name/command"
    timeout "$limit" "${cmd[@]}" >"$root/$name/train.log" 2>&1 &
  done
}

train() {
  local pack=$1 out=$2 start work epoch_s now left epochs
  start=$(date +%s)
  work=${WORK:-/tmp/face-pool}
  mkdir -p "$work" "$out"
  tar -C "$work" -xzf "$pack"
  DATA=$work/fer2013
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  launch 2 "$work/probe" 150
  wait
  # steady-state seconds of an epoch: the slowest run's second epoch, all runs sharing the GPU
  epoch_s=$("$PYTHON" - "$work/probe" <<'EOF'
import csv, pathlib, sys
worst = 0.0
for m in pathlib.Path(sys.argv[1]).glob("*/metrics.csv"):
    rows = list(csv.DictReader(m.open()))
    worst = max(worst, float(rows[-1]["seconds"]))
print(f"{worst:.3f}" if worst else "")
EOF
)
  if [ -z "$epoch_s" ]; then
    echo "the probe trained nothing; its logs:" >&2
    tail -n 20 "$work"/probe/*/train.log >&2
    tar -C "$work" -czf "$out/logs.tar.gz" probe
    return 1
  fi
  now=$(date +%s)
  left=$((start + ${DEADLINE_S:-540} - now - 25))  # 25 s: loading the data and writing the results
  left=$((left > 30 ? left : 30))
  epochs=$("$PYTHON" -c "print(min(400, max(2, int($left / $epoch_s))))")
  echo "probe: ${epoch_s} s an epoch with ${#RUNS[@]} runs at once; $left s left: $epochs epochs each"
  launch "$epochs" "$work/runs" $((left + 15))  # a run past its time keeps its best.pt
  wait
  "$PYTHON" - "$work/runs" "$out" <<'EOF'
import pathlib, sys, torch
runs, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for run in sorted(runs.iterdir()):
    best = run / "best.pt"
    if not best.exists():
        print(f"{run.name}: no best.pt")
        continue
    state = torch.load(best, map_location="cpu", weights_only=False)
    state["model"] = {
        k: (v.half() if v.is_floating_point() and v.ndim > 1 else v) for k, v in state["model"].items()
    }
    torch.save(state, out / f"{run.name}.pt")
    print(f"{run.name}: best PublicTest {state['val_acc']:.4f} at epoch {state['epoch']}")
EOF
  tar -C "$work" -czf "$out/logs.tar.gz" --exclude='*.pt' probe runs
  echo "done in $(($(date +%s) - start)) s"
}

case "${1:-}" in
  pack) pack "${2:?DATA}" "${3:?PACK}" ;;
  train) train "${2:?PACK}" "${3:?OUT}" ;;
  *) echo "usage: bash benchmarks/gpu_face_pool.sh pack DATA PACK | train PACK OUT" >&2; exit 2 ;;
esac
