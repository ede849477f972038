#!/usr/bin/env bash
# 2026-12-05: the shipped 200-epoch recipe with the 1-D front (speech card, "A second convolutional front"), seeds 0, 1, 2 in turn.
set -euo pipefail
for SEED in 0 1 2; do
  .venv/bin/emolens train --data ../shared/data/ravdess-speech-16k --arch speech_crnn1d --epochs 200 --batch-size 32 \
    --lr 0.002 --weight-decay 0.05 --warmup-epochs 3 --label-smoothing 0.1 --balance weighted --ema 0.995 \
    --seed "$SEED" --threads 2 --no-progress --out "runs/speech-1d-s$SEED" > "runs/speech-1d-s$SEED.log" 2>&1
done
