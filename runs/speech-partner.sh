#!/usr/bin/env bash
# 2026-12-06: the speech card's "A speaker-profile partner for known speakers", judged on actors 19-20 only.
# (spk200) exported alone with its temperature fitted on 19-20; then (cand): the shipped file naming it as partner.
set -euo pipefail
DATA=../shared/data/ravdess-speech-16k
export PATH="$PWD/.venv/bin:$PATH"
SELECT=1 TTA=crops NAME=emolens-speech-ravdess-partner MEMBERS=runs/speech-spk200/best.pt \
  bash benchmarks/speech_model.sh runs/speech-partner "$DATA"
mkdir -p runs/speech-cand-p/eval
cp runs/speech-partner/emolens-speech-ravdess-partner-fp32.onnx runs/speech-cand-p/emolens-speech-ravdess-partner.onnx
emolens calibrate src/emolens/audio/weights/emolens-speech-ravdess.onnx --data "$DATA" \
  --out runs/speech-cand-p/emolens-speech-ravdess.onnx --tta crops --partner emolens-speech-ravdess-partner \
  --report-split val --json runs/speech-cand-p/eval/calibration-val.json
emolens evaluate --model runs/speech-cand-p/emolens-speech-ravdess.onnx --data "$DATA" --split val \
  --json runs/speech-cand-p/eval/cand-val.json --confusion runs/speech-cand-p/eval/cand-val.png
