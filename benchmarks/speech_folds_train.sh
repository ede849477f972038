#!/usr/bin/env bash
# One speech network per fold of the training actors (benchmarks/speech_folds.py), with the fold recipe of the
# 2-D baseline (200 epochs, AdamW 0.002, weight decay 0.05, 3 warm-up epochs, label smoothing 0.1, weighted
# classes, weight average 0.995) and any options added; one run at a time, each resumed from its last epoch,
# a fold whose run has finished (best.json) skipped. Logs: runs/f-NAME-K.log.
#   NAME=asp bash benchmarks/speech_folds_train.sh --arch speech_crnn_asp
#   NAME=2d bash benchmarks/speech_folds_train.sh --arch speech_crnn          (the baseline, seed 0)
#   NAME=kd SEED=3 bash benchmarks/speech_folds_train.sh --arch speech_crnn_delta --teacher "runs/teach-G-{k}.onnx"
#     ({k} in an option: the fold's number, e.g. each fold's own teacher from `speech_folds.py teacher`)
# FOLDS="0 1 2 3" (default), SEED=0 (default), FOLD_DIR=runs/folds (`speech_folds.py make` writes it).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${NAME:?set NAME, the name of the arm (runs/f-NAME-K)}"
[ $# -gt 0 ] || { echo "give the options of the arm (at least --arch ARCH)" >&2; exit 2; }
for K in ${FOLDS:-0 1 2 3}; do
  OUT="runs/f-$NAME-$K"
  [ -f "$OUT/best.json" ] && continue
  RESUME=""; [ -f "$OUT/last.pt" ] && RESUME="--resume"
  .venv/bin/emolens train --data "${FOLD_DIR:-runs/folds}/fold$K" --epochs 200 --batch-size 32 \
    --lr 0.002 --weight-decay 0.05 --warmup-epochs 3 --label-smoothing 0.1 --balance weighted --ema 0.995 \
    --seed "${SEED:-0}" --threads 2 --no-progress $RESUME --out "$OUT" "${@//\{k\}/$K}" >> "$OUT.log" 2>&1
done
