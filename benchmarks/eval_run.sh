#!/usr/bin/env bash
# Scores a finished training run every way this project reports a model: exports RUN/best.pt
# (flip TTA, parity-checked), then PublicTest and PrivateTest (FER-2013 labels), PrivateTest by
# FER+ majority vote, and the hand-labelled real faces. Reports land in RUN/eval/.
# Usage: bash benchmarks/eval_run.sh RUN_DIR [DATA]
set -euo pipefail
RUN=${1:?usage: bash benchmarks/eval_run.sh RUN_DIR [DATA]}
DATA=${2:-../shared/data/fer2013}
EMOLENS=${EMOLENS:-emolens}
PYTHON=${PYTHON:-python}
mkdir -p "$RUN/eval"
"$EMOLENS" info --json > "$RUN/eval/info.json"
"$EMOLENS" export "$RUN/best.pt" --out "$RUN/model.onnx" --name "$(basename "$RUN")" --tta hflip
for split in val test; do
  "$EMOLENS" evaluate --model "$RUN/model.onnx" --data "$DATA" --split "$split" --json "$RUN/eval/$split.json" | sed -n 2p
done
"$EMOLENS" evaluate --model "$RUN/model.onnx" --data "$DATA" --split test --ferplus "$DATA/ferplus.csv" \
  --json "$RUN/eval/test-ferplus.json" | sed -n 2p
"$PYTHON" benchmarks/real_faces.py evaluate --models "$RUN/model.onnx" --data "" --json "$RUN/eval/real-faces.json"
