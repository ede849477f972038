#!/usr/bin/env bash
# 2026-12-06 (fifth session): seconds per epoch of the fold recipe's speech training (fold 0 of
# benchmarks/speech_folds.py: 900 training utterances, 300 held out) before (ea8398f) and after the
# speech network trains in channels_last; 6 epochs each, fp32 on this CPU, one run at a time.
set -euo pipefail
ARGS=(train --data runs/folds/fold0 --arch speech_crnn --epochs 6 --batch-size 32 --lr 0.002 --weight-decay 0.05
  --warmup-epochs 3 --label-smoothing 0.1 --balance weighted --ema 0.995 --seed 0 --threads 2 --no-progress)
rm -rf /tmp/before /tmp/sp-before /tmp/sp-after && mkdir -p /tmp/before && git archive ea8398f src | tar -x -C /tmp/before
grep -m1 'model name' /proc/cpuinfo
PYTHONPATH=/tmp/before/src .venv/bin/python -m emolens "${ARGS[@]}" --out /tmp/sp-before 2>&1 | grep -E 'precision|epoch '
.venv/bin/python -m emolens "${ARGS[@]}" --out /tmp/sp-after 2>&1 | grep -E 'precision|epoch '
