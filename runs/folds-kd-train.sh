#!/usr/bin/env bash
# 2026-12-08 (first session): the (kd) arm of the speech card's rule "Distillation from the fold ensemble, on
# the folds": each fold's teacher file from the five (G) networks banked in checkpoints/ (copied to runs/
# first), then one distilled speech_crnn_delta network per fold, one at a time, resumed from its last epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d runs/folds ] || .venv/bin/python benchmarks/speech_folds.py make --data ../shared/data/ravdess-speech-16k --out runs/folds
for R in 2d 2d-s1 delta delta-s1 delta-s2; do
  for K in 0 1 2 3; do [ -d "runs/f-$R-$K" ] || cp -r "checkpoints/f-$R-$K" "runs/f-$R-$K"; done
done
for K in 0 1 2 3; do  # the (kd) fold networks banked so far: finished ones are skipped, an unfinished one resumes
  [ -d "runs/f-kd-$K" ] || [ ! -d "checkpoints/f-kd-$K" ] || cp -r "checkpoints/f-kd-$K" "runs/f-kd-$K"
done
for K in 0 1 2 3; do
  [ -f "runs/teach-G-$K.onnx" ] || .venv/bin/python benchmarks/speech_folds.py teacher \
    --runs "runs/f-2d-{k}+runs/f-2d-s1-{k}+runs/f-delta-{k}+runs/f-delta-s1-{k}+runs/f-delta-s2-{k}" \
    --tta crops --out "runs/teach-G-{k}.onnx"
done
NAME=kd SEED=3 bash benchmarks/speech_folds_train.sh --arch speech_crnn_delta \
  --teacher "runs/teach-G-{k}.onnx" --teacher-weight 0.5 --teacher-temperature 2
