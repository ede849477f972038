#!/usr/bin/env bash
# 2026-12-05: the candidates of the speech card's "Silence trimmed" rule, judged on actors 19-20 only.
set -euo pipefail
export PATH="$PWD/.venv/bin:$PATH" SELECT=1 TTA=crops TRIM_DB=40
SHIPPED="checkpoints/speech-e200/best.pt checkpoints/speech-e200-s1/best.pt checkpoints/speech-adv/best.pt"
MEMBERS="$SHIPPED" bash benchmarks/speech_model.sh runs/speech-cand-g
MEMBERS="$SHIPPED runs/speech-trim-s0/best.pt" bash benchmarks/speech_model.sh runs/speech-cand-h
MEMBERS="$SHIPPED runs/speech-trim-s0/best.pt runs/speech-trim-s1/best.pt" bash benchmarks/speech_model.sh runs/speech-cand-i
MEMBERS="runs/speech-trim-s0/best.pt runs/speech-trim-s1/best.pt" bash benchmarks/speech_model.sh runs/speech-cand-j
