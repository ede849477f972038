#!/usr/bin/env bash
# 2026-12-05 (fourth session): the 200-epoch speech_crnn recipe with --speaker-adversary 0.5 on the four folds of
# actors 01-20 (speech card, "A speaker adversary, judged on the folds"), seed 0, one run at a time; resumes
# each fold from its last epoch. (2d) is runs/f-2d-{k}.
set -euo pipefail
for K in 0 1 2 3; do
  [ -f "runs/f-adv-$K/best.json" ] && continue
  RESUME=""; [ -f "runs/f-adv-$K/last.pt" ] && RESUME="--resume"
  .venv/bin/emolens train --data "runs/folds/fold$K" --arch speech_crnn --epochs 200 --batch-size 32 \
    --lr 0.002 --weight-decay 0.05 --warmup-epochs 3 --label-smoothing 0.1 --balance weighted --ema 0.995 \
    --speaker-adversary 0.5 --seed 0 --threads 2 --no-progress $RESUME --out "runs/f-adv-$K" >> "runs/f-adv-$K.log" 2>&1
done
.venv/bin/python benchmarks/speech_folds.py score --folds runs/folds --arm 2d=runs/f-2d-{k}@crops \
  --arm adv=runs/f-adv-{k}@crops > runs/folds-adv.log 2>&1
