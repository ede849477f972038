#!/usr/bin/env bash
# 2026-12-05 (second session): the 200-epoch speech_crnn1d recipe with and without --freq-warp 0.1 on four
# folds of actors 01-20 (speech card, "Vocal tract length perturbation, judged on folds"), one run at a time.
set -euo pipefail
.venv/bin/python benchmarks/speech_folds.py make --data ../shared/data/ravdess-speech-16k --out runs/folds
for K in 0 1 2 3; do
  for ARM in base warp; do
    [ -f "runs/f-$ARM-$K/best.json" ] && continue
    EXTRA=""; [ "$ARM" = warp ] && EXTRA="--freq-warp 0.1"
    .venv/bin/emolens train --data "runs/folds/fold$K" --arch speech_crnn1d --epochs 200 --batch-size 32 \
      --lr 0.002 --weight-decay 0.05 --warmup-epochs 3 --label-smoothing 0.1 --balance weighted --ema 0.995 \
      --seed 0 --threads 2 --no-progress $EXTRA --out "runs/f-$ARM-$K" > "runs/f-$ARM-$K.log" 2>&1
  done
done
.venv/bin/python benchmarks/speech_folds.py score --folds runs/folds --arm base=runs/f-base-{k} --arm warp=runs/f-warp-{k} \
  > runs/folds-warp.log 2>&1
