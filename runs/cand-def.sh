#!/usr/bin/env bash
# candidates (d), (e), (f) of the rule "Two more 200-epoch seeds, without the adversary", judged on actors 19-20 only
cd /work/main
export PATH=/work/main/.venv/bin:$PATH
while pgrep -f e200-s23-chain.sh >/dev/null; do sleep 15; done
P="checkpoints/speech-e200/best.pt checkpoints/speech-e200-s1/best.pt"
A="checkpoints/speech-adv/best.pt"
SELECT=1 TTA=crops MEMBERS="$P $A runs/speech-e200-s2/best.pt" bash benchmarks/speech_model.sh runs/speech-cand-d > runs/speech-cand-d.log 2>&1
SELECT=1 TTA=crops MEMBERS="$P $A runs/speech-e200-s2/best.pt runs/speech-e200-s3/best.pt" bash benchmarks/speech_model.sh runs/speech-cand-e > runs/speech-cand-e.log 2>&1
SELECT=1 TTA=crops MEMBERS="$P runs/speech-e200-s2/best.pt runs/speech-e200-s3/best.pt" bash benchmarks/speech_model.sh runs/speech-cand-f > runs/speech-cand-f.log 2>&1
echo done
