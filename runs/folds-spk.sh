#!/usr/bin/env bash
# 2026-12-05 (fifth session): the 200-epoch speech_crnn recipe with --feature-norm speaker on the four folds of
# actors 01-20 (speech card, "Speaker profiles, judged on the folds"), seed 0, one run at a time, after
# runs/folds-adv.sh; resumes each fold from its last epoch. (2d) is runs/f-2d-{k}.
set -euo pipefail
while pgrep -f "runs/folds-adv.sh" > /dev/null; do sleep 60; done
for K in 0 1 2 3; do
  [ -f "runs/f-spk-$K/best.json" ] && continue
  RESUME=""; [ -f "runs/f-spk-$K/last.pt" ] && RESUME="--resume"
  .venv/bin/emolens train --data "runs/folds/fold$K" --arch speech_crnn --epochs 200 --batch-size 32 \
    --lr 0.002 --weight-decay 0.05 --warmup-epochs 3 --label-smoothing 0.1 --balance weighted --ema 0.995 \
    --feature-norm speaker --seed 0 --threads 2 --no-progress $RESUME --out "runs/f-spk-$K" >> "runs/f-spk-$K.log" 2>&1
done
.venv/bin/python benchmarks/speech_folds.py score --folds runs/folds --arm 2d=runs/f-2d-{k}@crops \
  --arm spk=runs/f-spk-{k}@crops > runs/folds-spk.log 2>&1
