#!/usr/bin/env bash
# 2026-12-05 (third session, started at its end; scored next session): a second seed of the 200-epoch speech_crnn
# recipe on the four folds of actors 01-20 (speech card, "Two 2-D networks or one of each front"), one run at a time.
set -euo pipefail
for K in 0 1 2 3; do
  [ -f "runs/f-2d-s1-$K/best.json" ] && continue
  RESUME=""; [ -f "runs/f-2d-s1-$K/last.pt" ] && RESUME="--resume"
  .venv/bin/emolens train --data "runs/folds/fold$K" --arch speech_crnn --epochs 200 --batch-size 32 \
    --lr 0.002 --weight-decay 0.05 --warmup-epochs 3 --label-smoothing 0.1 --balance weighted --ema 0.995 \
    --seed 1 --threads 2 --no-progress $RESUME --out "runs/f-2d-s1-$K" >> "runs/f-2d-s1-$K.log" 2>&1
done
.venv/bin/python benchmarks/speech_folds.py score --folds runs/folds --arm 2d+2d=runs/f-2d-{k}+runs/f-2d-s1-{k} \
  --arm 2d+1d=runs/f-2d-{k}+runs/f-base-{k} > runs/folds-2d-s1.log 2>&1
