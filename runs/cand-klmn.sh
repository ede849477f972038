#!/usr/bin/env bash
# 2026-12-05: the candidates of the speech card's "A second convolutional front" rule, judged on actors 19-20 only.
set -euo pipefail
export PATH="$PWD/.venv/bin:$PATH" SELECT=1 TTA=crops
SHIPPED="checkpoints/speech-e200/best.pt checkpoints/speech-e200-s1/best.pt checkpoints/speech-adv/best.pt"
ONED="runs/speech-1d-s0/best.pt runs/speech-1d-s1/best.pt runs/speech-1d-s2/best.pt"
MEMBERS="$SHIPPED runs/speech-1d-s0/best.pt" bash benchmarks/speech_model.sh runs/speech-cand-k
MEMBERS="$SHIPPED runs/speech-1d-s0/best.pt runs/speech-1d-s1/best.pt" bash benchmarks/speech_model.sh runs/speech-cand-l
MEMBERS="$SHIPPED $ONED" bash benchmarks/speech_model.sh runs/speech-cand-m
MEMBERS="$ONED" bash benchmarks/speech_model.sh runs/speech-cand-n
