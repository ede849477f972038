#!/usr/bin/env bash
# The speech card's rule "Delta networks in the shipped file" (triggered 2026-12-07, sixth session: (D) 864 against (C) 825, p = 0.0022).
set -euo pipefail
cd "$(dirname "$0")/.."
for S in ${SEEDS:-0 1}; do
  OUT=runs/speech-delta-e200; [ "$S" = 0 ] || OUT="runs/speech-delta-e200-s$S"
  [ -f "$OUT/best.json" ] && continue
  RESUME=""; [ -f "$OUT/last.pt" ] && RESUME="--resume"
  .venv/bin/emolens train --data ../shared/data/ravdess-speech-16k --arch speech_crnn_delta --epochs 200 --batch-size 32 \
    --lr 0.002 --weight-decay 0.05 --warmup-epochs 3 --label-smoothing 0.1 --balance weighted --ema 0.995 \
    --seed "$S" --threads 2 --no-progress $RESUME --out "$OUT" >> "$OUT.log" 2>&1
done
