#!/usr/bin/env bash
# 2026-12-06 (fifth session, AMD EPYC, fp32): the fold networks of the 2-D baseline (runs/folds-2d.sh's
# recipe, seed 0) retrained, since the originals were lost with runs/; one run at a time, resumed from
# its last epoch, each kept in checkpoints/ for the next fold comparison.
set -euo pipefail
for K in ${FOLDS:-0 1 2 3}; do
  [ -f "runs/f-2d-$K/best.json" ] && continue
  RESUME=""; [ -f "runs/f-2d-$K/last.pt" ] && RESUME="--resume"
  .venv/bin/emolens train --data "runs/folds/fold$K" --arch speech_crnn --epochs 200 --batch-size 32 \
    --lr 0.002 --weight-decay 0.05 --warmup-epochs 3 --label-smoothing 0.1 --balance weighted --ema 0.995 \
    --seed 0 --threads 2 --no-progress $RESUME --out "runs/f-2d-$K" >> "runs/f-2d-$K.log" 2>&1
done
