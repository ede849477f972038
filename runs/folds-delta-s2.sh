#!/usr/bin/env bash
# 2026-12-07 (seventh session): the scores of the speech card's rule "A third delta network, on the folds",
# run once all four (delta-s2) fold networks had finished (banked in checkpoints/f-delta-s2-{0..3}/).
# (G) against (E) decides; (F) against (E) and (D) is information only. Log: runs/folds-delta-s2.log.
set -euo pipefail
cd "$(dirname "$0")/.."
for K in 0 1 2 3; do [ -f "runs/f-delta-s2-$K/best.json" ] || { echo "runs/f-delta-s2-$K has not finished" >&2; exit 1; }; done
P=benchmarks/speech_folds.py
TWO="runs/f-2d-{k}@crops+runs/f-2d-s1-{k}@crops"
DELTA2="runs/f-delta-{k}@crops+runs/f-delta-s1-{k}@crops"
{ time .venv/bin/python "$P" score --folds runs/folds \
    --arm "E=$TWO+$DELTA2" \
    --arm "G=$TWO+$DELTA2+runs/f-delta-s2-{k}@crops" \
    --arm "F=$DELTA2+runs/f-delta-s2-{k}@crops" \
    --arm "D=$DELTA2" \
    --compare G:E --compare F:E --compare F:D ; } > runs/folds-delta-s2.log 2>&1
cat runs/folds-delta-s2.log
