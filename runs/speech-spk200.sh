#!/usr/bin/env bash
# 2026-12-06: (spk200) of the speech card's "A speaker-profile partner for known speakers": the 200-epoch
# speech_crnn recipe with --feature-norm speaker on actors 01-18, epoch chosen on 19-20; resumes from its last epoch.
set -euo pipefail
RESUME=""; [ -f runs/speech-spk200/last.pt ] && RESUME="--resume"
.venv/bin/emolens train --data ../shared/data/ravdess-speech-16k --arch speech_crnn --epochs 200 --batch-size 32 \
  --lr 0.002 --weight-decay 0.05 --warmup-epochs 3 --label-smoothing 0.1 --balance weighted --ema 0.995 \
  --feature-norm speaker --seed 0 --threads 2 --no-progress $RESUME --out runs/speech-spk200 >> runs/speech-spk200.log 2>&1
