#!/usr/bin/env bash
# Builds a single-network FER+ model family (8 emotions, with contempt) from a training run and measures it:
# export (fp32, parity-checked, FER-2013 framing) and portable int8 quantization, these two only when RUN/best.pt
# exists; calibration, FER+ majority-vote accuracy on PublicTest (selection) and PrivateTest (the FER+ test split;
# ties, unknown and not-a-face dropped) with no test-time augmentation, flip and shifted views, and predict_faces
# throughput, with `emolens info`.
# This built emolens-vgg-ferplus, shipped until 2026-12-04 and now the first network of the shipped pair
# emolens-vgg2-ferplus (built by benchmarks/face_ensemble.sh with FERPLUS=; its model card). The files go to
# RUN_DIR (or W=folder).
# Usage: [W=folder] bash benchmarks/ferplus_model.sh [RUN_DIR] [DATA]
# The run: emolens train --data ../shared/data/fer2013 --arch vgg --init emolens-vgg-fer2013 \
#   --label-set ferplus --ferplus ../shared/data/fer2013/ferplus.csv --epochs 15 --lr 0.02 \
#   --warmup-epochs 0.5 --label-smoothing 0 --ema 0.999 --photometric 0.3 --seed 0 --threads 2 --out runs/vgg-ferplus8
set -euo pipefail
RUN=${1:-runs/vgg-ferplus8}
DATA=${2:-../shared/data/fer2013}
VOTES="$DATA/ferplus.csv"
EMOLENS=${EMOLENS:-emolens}
W=${W:-$RUN}
NAME=emolens-vgg-ferplus
if [ -f "$RUN/best.pt" ]; then
  "$EMOLENS" export "$RUN/best.pt" --out "$W/$NAME-fp32.onnx" --name "$NAME-fp32" --tta hflip
  "$EMOLENS" quantize "$W/$NAME-fp32.onnx" --out "$W/$NAME-int8.onnx" --data "$DATA"
fi
mkdir -p "$RUN/eval"
for model in "$NAME-fp32" "$NAME-int8"; do  # temperature per file, fitted on PublicTest's FER+ majority labels
  "$EMOLENS" calibrate "$W/$model.onnx" --data "$DATA" --ferplus "$VOTES" --out "$W/$model.onnx" \
    --json "$RUN/eval/calibration-$model.json" --plot "$RUN/eval/reliability-$model.png"
done
"$EMOLENS" info --json > "$RUN/eval/info.json"
for model in "$NAME-int8" "$NAME-fp32"; do
  for tta in none hflip shift cascade; do
    for split in val test; do
      "$EMOLENS" evaluate --model "$W/$model.onnx" --data "$DATA" --split "$split" --tta "$tta" --ferplus "$VOTES" \
        --json "$RUN/eval/$model-$tta-$split.json" --confusion "$RUN/eval/$model-$tta-$split.png"
    done
    "$EMOLENS" bench faces --model "$W/$model.onnx" --tta "$tta" --faces 256 --repeats 30 --json "$RUN/eval/bench-$model-$tta.json"
  done
done
cat "$RUN/eval/info.json"
