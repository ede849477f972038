#!/usr/bin/env bash
# 2026-12-06: (spk-s1) of the speech card's "Speaker profiles beside a network without, again on the folds":
# the (spk) fold recipe with --seed 1, one run at a time; resumes each fold from its last epoch.
set -euo pipefail
for K in 0 1 2 3; do
  [ -f "runs/f-spk-s1-$K/best.json" ] && continue
  RESUME=""; [ -f "runs/f-spk-s1-$K/last.pt" ] && RESUME="--resume"
  .venv/bin/emolens train --data "runs/folds/fold$K" --arch speech_crnn --epochs 200 --batch-size 32 \
    --lr 0.002 --weight-decay 0.05 --warmup-epochs 3 --label-smoothing 0.1 --balance weighted --ema 0.995 \
    --feature-norm speaker --seed 1 --threads 2 --no-progress $RESUME --out "runs/f-spk-s1-$K" >> "runs/f-spk-s1-$K.log" 2>&1
done
.venv/bin/python benchmarks/speech_folds.py score --folds runs/folds --arm A=runs/f-2d-{k}@crops+runs/f-2d-s1-{k}@crops \
  --arm B=runs/f-2d-{k}@crops+runs/f-spk-s1-{k}@crops > runs/folds-spk-s1.log 2>&1
