#!/usr/bin/env bash
# Trains the seed paper's two CNNs and the class-imbalance comparison with the same pipeline
# as the default model, then evaluates each on PrivateTest (and PublicTest) through ONNX Runtime.
# Usage: bash benchmarks/seed_models.sh [DATA] [OUT]      (about 20 minutes on 2 CPU cores)
set -euo pipefail
DATA=${1:-../shared/data/fer2013}
OUT=${2:-runs}
run() {  # name arch epochs extra-args...
  local name=$1 arch=$2 epochs=$3; shift 3
  emolens train --data "$DATA" --arch "$arch" --epochs "$epochs" --out "$OUT/$name" --no-progress --resume "$@"
  emolens export "$OUT/$name/best.pt" --out "$OUT/$name/$name.onnx" --name "$name"
  for split in val test; do
    emolens evaluate --model "$OUT/$name/$name.onnx" --data "$DATA" --split "$split" --tta none \
      --json "$OUT/$name/eval-$split.json" --confusion "$OUT/$name/confusion-$split.png"
  done
}
mkdir -p "$OUT"
emolens info --json > "$OUT/seed-models-info.json"
run seed-classic seed_classic 10
run seed-classic-weighted seed_classic 10 --balance weighted
run seed-regularized seed_regularized 6
python benchmarks/compare_runs.py "$OUT"/seed-classic "$OUT"/seed-classic-weighted "$OUT"/seed-regularized
