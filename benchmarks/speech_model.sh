#!/usr/bin/env bash
# Builds and measures a speech emotion model from a training run (issue 14): export (fp32, parity-checked,
# feature settings in the file), an int8 copy (dynamic: int8 weights of the LSTM and matrix products),
# accuracy, macro-F1, the 4-class figure (neutral+calm, happy, sad, angry) and the confusion matrix on
# RAVDESS actors 19-20 (selection) and 21-24 (the report), and the speed of VoiceRecognizer, with `emolens info`;
# for a model normalised by speaker profiles (--feature-norm speaker), the same with shorter enrolments.
# Usage: [THREADS=N] [NAME=emolens-speech-...] [MEMBERS="A/best.pt B/best.pt"] [TTA=none|crops] [TRIM_DB=40] [SELECT=1] bash benchmarks/speech_model.sh [RUN_DIR] [DATA]
# TRIM_DB=40: the model cuts its input's silent ends (40 dB under the loudest frame), whatever the members were trained with.
# SELECT=1: a selection run: the export, its temperature and its scores on actors 19-20 only, nothing read of
# actors 21-24 (run it again without SELECT for the candidate the selection keeps).
# The run (about 35-70 s an epoch on 2 AMD EPYC cores; 1,080 utterances of actors 01-18, selected on 19-20):
#   emolens train --data ../shared/data/ravdess-speech-16k --arch speech_crnn --epochs 120 --batch-size 32 \
#     --lr 0.002 --weight-decay 0.05 --warmup-epochs 3 --label-smoothing 0.1 --balance weighted --ema 0.995 \
#     --seed 0 --threads 2 --no-progress --out runs/speech-crnn-120
# and again with --seed 1 --out runs/speech-crnn-120-s1; their ensemble (the shipped model until 2026-12-04):
#   TTA=crops MEMBERS="runs/speech-crnn-120/best.pt runs/speech-crnn-120-s1/best.pt" bash benchmarks/speech_model.sh runs/speech-e2
# A member may also be a model file or a bundled name; the shipped model since 2026-12-04 (that pair's file and
# a run with --speaker-adversary 0.5, three networks of equal weight):
#   git show fee9914:src/emolens/audio/weights/emolens-speech-ravdess.onnx > runs/speech-e2.onnx
#   TTA=crops MEMBERS="runs/speech-e2.onnx checkpoints/speech-adv/best.pt" bash benchmarks/speech_model.sh runs/speech-e3adv
# and since the evening of 2026-12-04 (the same recipe with --epochs 200, seeds 0 and 1):
#   TTA=crops MEMBERS="checkpoints/speech-e200/best.pt checkpoints/speech-e200-s1/best.pt" bash benchmarks/speech_model.sh runs/speech-e200-pair
# (TTA=crops: the files ask for crop test-time augmentation, chosen on actors 19-20 by benchmarks/speech_crops.py)
set -euo pipefail
RUN=${1:-runs/speech-crnn-120}
DATA=${2:-../shared/data/ravdess-speech-16k}
EMOLENS=${EMOLENS:-emolens}
PYTHON=${PYTHON:-python}
THREADS=${THREADS:-0}  # ONNX Runtime threads for the evaluations (0: one per core)
NAME=${NAME:-emolens-speech-ravdess}  # the model name written into the files
TTA=${TTA:-none}  # the test-time augmentation the files ask for (VoiceRecognizer's default for them)
mkdir -p "$RUN/eval"
# MEMBERS="runs/a/best.pt runs/b/best.pt": export their ensemble (one graph, probabilities averaged) into RUN.
# shellcheck disable=SC2086
"$EMOLENS" export ${MEMBERS:-"$RUN/best.pt"} --out "$RUN/$NAME-raw.onnx" --name "$NAME" ${TRIM_DB:+--trim-db "$TRIM_DB"}
if [ "${SELECT:-0}" = 1 ]; then
  "$EMOLENS" calibrate "$RUN/$NAME-raw.onnx" --data "$DATA" --out "$RUN/$NAME-fp32.onnx" --tta "$TTA" \
    --report-split val --json "$RUN/eval/calibration-val.json"
  "$EMOLENS" evaluate --model "$RUN/$NAME-fp32.onnx" --data "$DATA" --split val --threads "$THREADS" \
    --json "$RUN/eval/$NAME-fp32-val.json" --confusion "$RUN/eval/$NAME-fp32-val.png"
  exit 0
fi
"$EMOLENS" calibrate "$RUN/$NAME-raw.onnx" --data "$DATA" --out "$RUN/$NAME-fp32.onnx" --tta "$TTA" \
  --json "$RUN/eval/calibration.json"
"$PYTHON" -c 'import sys; from emolens.export.speech import quantize_speech; quantize_speech(sys.argv[1], sys.argv[2])' \
  "$RUN/$NAME-fp32.onnx" "$RUN/$NAME-int8.onnx"
"$EMOLENS" info --json > "$RUN/eval/info.json"
for variant in fp32 int8; do
  for split in val test; do
    "$EMOLENS" evaluate --model "$RUN/$NAME-$variant.onnx" --data "$DATA" --split "$split" --threads "$THREADS" \
      --json "$RUN/eval/$NAME-$variant-$split.json" --confusion "$RUN/eval/$NAME-$variant-$split.png"
  done
  "$PYTHON" - "$RUN/$NAME-$variant.onnx" "$DATA" "$THREADS" <<'EOF'
import sys, time
from pathlib import Path
import numpy as np
from emolens.audio.decode import decode_audio
from emolens.audio.recognizer import VoiceRecognizer
rec = VoiceRecognizer(sys.argv[1], threads=int(sys.argv[3]))
files = sorted(Path(sys.argv[2]).glob("Actor_21/*.flac"))
x = np.concatenate([decode_audio(f).samples for f in files])[: 16000 * 60]
rec.predict(x[:48000], 16000)
t = [time.perf_counter()]
for _ in range(20):
    rec.predict(x[:48000], 16000)
    t.append(time.perf_counter())
print(f"{rec.meta.name}: predict on 3 s of speech: p50 {np.median(np.diff(t)) * 1000:.1f} ms")
t0 = time.perf_counter()
wins = rec.windows(x, 16000)
s = time.perf_counter() - t0
speech = sum(w.probs is not None for w in wins)
print(f"{rec.meta.name}: windows() on {len(x) / 16000:.0f} s of actor 21 ({len(wins)} windows, {speech} speech): {s:.2f} s")
EOF
done
# A model normalised by speaker profiles is scored above with each speaker's profile from all their utterances
# (labels unused); here also with each utterance alone (K=0) and with K other utterances of the speaker at random.
if "$PYTHON" -c 'import sys; from emolens.audio.recognizer import VoiceRecognizer; sys.exit(not VoiceRecognizer(sys.argv[1]).uses_profile)' "$RUN/$NAME-fp32.onnx"; then
  for k in 0 5 10; do
    for split in val test; do
      "$EMOLENS" evaluate --model "$RUN/$NAME-fp32.onnx" --data "$DATA" --split "$split" --threads "$THREADS" \
        --profile-utterances "$k" --json "$RUN/eval/$NAME-fp32-$split-profile$k.json"
    done
  done
fi
cat "$RUN/eval/info.json"
