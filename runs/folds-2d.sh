#!/usr/bin/env bash
# 2026-12-05 (third session): the 200-epoch speech_crnn (2-D front) recipe on the four folds of actors 01-20
# (speech card, "Which front, judged on the folds"), seed 0, one run at a time; (1d) is runs/f-base-{k}.
set -euo pipefail
for K in 0 1 2 3; do
  [ -f "runs/f-2d-$K/best.json" ] && continue
  .venv/bin/emolens train --data "runs/folds/fold$K" --arch speech_crnn --epochs 200 --batch-size 32 \
    --lr 0.002 --weight-decay 0.05 --warmup-epochs 3 --label-smoothing 0.1 --balance weighted --ema 0.995 \
    --seed 0 --threads 2 --no-progress --out "runs/f-2d-$K" > "runs/f-2d-$K.log" 2>&1
done
.venv/bin/python benchmarks/speech_folds.py score --folds runs/folds --arm 1d=runs/f-base-{k} --arm 2d=runs/f-2d-{k} \
  > runs/folds-2d.log 2>&1
