#!/usr/bin/env bash
# Builds the shipped default model family and measures it on this machine:
# export (fp32, parity-checked), FER-2013 framing and portable int8 quantization (emolens quantize's default
# scheme), these three only when RUN/best.pt exists; calibration (emolens calibrate, which also stores the default
# test-time augmentation: selective flip), PublicTest/PrivateTest scores under each test-time augmentation (none,
# hflip, selective, shift, cascade), and predict_faces throughput, with `emolens info --json` beside them.
# Usage: bash benchmarks/default_model.sh [RUN_DIR] [DATA]
set -euo pipefail
RUN=${1:-runs/vgg-default}
DATA=${2:-../shared/data/fer2013}
EMOLENS=${EMOLENS:-emolens}
W=src/emolens/models/weights
if [ -f "$RUN/best.pt" ]; then
  "$EMOLENS" export "$RUN/best.pt" --out "$W/emolens-vgg-fer2013-fp32.onnx" --name emolens-vgg-fer2013-fp32 --tta hflip
  "$EMOLENS" framing "$W/emolens-vgg-fer2013-fp32.onnx" --out "$W/emolens-vgg-fer2013-fp32.onnx"  # FER-2013 framing
  "$EMOLENS" quantize "$W/emolens-vgg-fer2013-fp32.onnx" --out "$W/emolens-vgg-fer2013-int8.onnx" --data "$DATA"
fi
mkdir -p "$RUN/eval"
for model in emolens-vgg-fer2013-fp32 emolens-vgg-fer2013-int8; do  # temperature per file, fitted on PublicTest
  "$EMOLENS" calibrate "$model" --data "$DATA" --out "$W/$model.onnx" --tta selective \
    --json "$RUN/eval/calibration-$model.json" --plot "$RUN/eval/reliability-$model.png"
done
"$EMOLENS" info --json > "$RUN/eval/info.json"
for model in emolens-vgg-fer2013-int8 emolens-vgg-fer2013-fp32; do
  for tta in none hflip selective shift cascade; do
    for split in val test; do
      "$EMOLENS" evaluate --model "$model" --data "$DATA" --split "$split" --tta "$tta" \
        --json "$RUN/eval/$model-$tta-$split.json" --confusion "$RUN/eval/$model-$tta-$split.png"
    done
  done
done
for model in emolens-vgg-fer2013-int8 emolens-vgg-fer2013-fp32; do
  for tta in none hflip selective shift cascade; do
    "$EMOLENS" bench faces --model "$model" --tta "$tta" --faces 256 --repeats 30 --data "$DATA" --json "$RUN/eval/bench-$model-$tta.json"
  done
done
cat "$RUN/eval/info.json"
