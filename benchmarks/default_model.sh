#!/usr/bin/env bash
# Builds the shipped default model from a finished training run and measures it:
# export (fp32, parity-checked), int8 quantization, PublicTest/PrivateTest scores with and
# without flip test-time augmentation, and predict_faces throughput.
# Usage: bash benchmarks/default_model.sh [RUN_DIR] [DATA]
set -euo pipefail
RUN=${1:-runs/vgg-default}
DATA=${2:-../shared/data/fer2013}
W=src/emolens/models/weights
emolens export "$RUN/best.pt" --out "$W/emolens-vgg-fer2013-fp32.onnx" --name emolens-vgg-fer2013-fp32 --tta hflip
emolens quantize "$W/emolens-vgg-fer2013-fp32.onnx" --out "$W/emolens-vgg-fer2013.onnx" --data "$DATA"
mkdir -p "$RUN/eval"
for model in emolens-vgg-fer2013 emolens-vgg-fer2013-fp32; do
  for tta in none hflip; do
    for split in val test; do
      emolens evaluate --model "$model" --data "$DATA" --split "$split" --tta "$tta" \
        --json "$RUN/eval/$model-$tta-$split.json" --confusion "$RUN/eval/$model-$tta-$split.png"
    done
  done
done
for model in emolens-vgg-fer2013 emolens-vgg-fer2013-fp32; do
  for tta in none hflip; do
    emolens bench faces --model "$model" --tta "$tta" --faces 256 --repeats 30 --json "$RUN/eval/bench-$model-$tta.json"
  done
done
