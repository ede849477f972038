#!/usr/bin/env bash
# 2026-12-05: the shipped 200-epoch recipe with silence trimmed (speech card, "Silence trimmed"), seed $SEED (0, then 1).
set -euo pipefail
.venv/bin/emolens train --data ../shared/data/ravdess-speech-16k --arch speech_crnn --epochs 200 --batch-size 32 \
  --lr 0.002 --weight-decay 0.05 --warmup-epochs 3 --label-smoothing 0.1 --balance weighted --ema 0.995 \
  --trim-db 40 --seed "${SEED:-0}" --threads 2 --no-progress --out "runs/speech-trim-s${SEED:-0}"
