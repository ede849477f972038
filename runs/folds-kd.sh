#!/usr/bin/env bash
# 2026-12-08 (first session): the scores of the speech card's rule "Distillation from the fold ensemble, on
# the folds", written with the rule, run once all four (kd) fold networks have finished (banked in
# checkpoints/f-kd-{0..3}/). (H) against (G) decides; the other comparisons are information only.
# Log: runs/folds-kd.log.
set -euo pipefail
cd "$(dirname "$0")/.."
for K in 0 1 2 3; do [ -f "runs/f-kd-$K/best.json" ] || { echo "runs/f-kd-$K has not finished" >&2; exit 1; }; done
P=benchmarks/speech_folds.py
TWO="runs/f-2d-{k}@crops+runs/f-2d-s1-{k}@crops"
DELTA2="runs/f-delta-{k}@crops+runs/f-delta-s1-{k}@crops"
{ time .venv/bin/python "$P" score --folds runs/folds \
    --arm "G=$TWO+$DELTA2+runs/f-delta-s2-{k}@crops" \
    --arm "H=$TWO+$DELTA2+runs/f-delta-s2-{k}@crops+runs/f-kd-{k}@crops" \
    --arm "kd=runs/f-kd-{k}@crops" \
    --arm "delta-s2=runs/f-delta-s2-{k}@crops" \
    --arm "Ekd=$TWO+$DELTA2+runs/f-kd-{k}@crops" \
    --compare H:G --compare kd:delta-s2 --compare kd:G --compare Ekd:G ; } > runs/folds-kd.log 2>&1
cat runs/folds-kd.log
