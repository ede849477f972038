#!/usr/bin/env bash
# rule in the speech card ("Two more 200-epoch seeds, without the adversary"): seed 2, then seed 3
cd /work/main
for s in 2 3; do
  .venv/bin/emolens train --data ../shared/data/ravdess-speech-16k --arch speech_crnn --epochs 200 --batch-size 32 --lr 0.002 --weight-decay 0.05 --warmup-epochs 3 --label-smoothing 0.1 --balance weighted --ema 0.995 --seed $s --threads 2 --no-progress --out runs/speech-e200-s$s > runs/speech-e200-s$s.nohup 2>&1
done
