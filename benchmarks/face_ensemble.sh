#!/usr/bin/env bash
# Builds a face ensemble (one ONNX graph averaging its members' probabilities) and scores it for selection:
# export (float32, parity-checked; members are checkpoints or shipped models), FER-2013 framing, portable int8
# quantization, then PublicTest accuracy of both files under each test-time augmentation (none, hflip,
# selective, shift, cascade) and predict_faces throughput on real faces.
# PrivateTest is touched only with SCORE_TEST=1: run that once, for the candidate chosen on PublicTest. It adds
# the calibration (temperature per file fitted on PublicTest; `emolens calibrate` reports ECE and accuracy on
# PrivateTest, so it is left out of selection runs: the temperature changes no label, and selective flip
# looks at the network's own probabilities) and the PrivateTest scores.
# Usage: [SCORE_TEST=1] [SPLITS="val test"] [BENCH=0] [FERPLUS=ferplus.csv] bash benchmarks/face_ensemble.sh OUT_DIR MEMBER MEMBER [MEMBER...]
#   e.g. bash benchmarks/face_ensemble.sh runs/vgg-pair emolens-vgg-fer2013 runs/vgg-s1/best.pt
# SPLITS: the splits scored (default val, or "val test" with SCORE_TEST=1; test needs SCORE_TEST=1).
# BENCH=0 leaves out the throughput runs (ten settings of 30 timed calls each): accuracy alone decides selection.
# FERPLUS=ferplus.csv: members with FER+'s 8 emotions; every score is FER+ majority-vote accuracy (ties, unknown and
#   not-a-face dropped) and the files keep flip as their default mode (that family's), not selective flip.
#   e.g. (emolens-vgg2-ferplus: the first FER+ network, shipped alone until 2026-12-04, from the history, and a second)
#   git show 6ba2438:src/emolens/models/weights/emolens-vgg-ferplus-fp32.onnx > runs/emolens-vgg-ferplus-fp32.onnx
#   FERPLUS=../shared/data/fer2013/ferplus.csv BENCH=0 bash benchmarks/face_ensemble.sh runs/ferplus-pair \
#          runs/emolens-vgg-ferplus-fp32.onnx runs/vgg-ferplus8-s1/best.pt
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: [SCORE_TEST=1] [SPLITS=...] [BENCH=0] [FERPLUS=ferplus.csv] bash benchmarks/face_ensemble.sh OUT_DIR MEMBER MEMBER [MEMBER...]" >&2
  exit 2
fi
OUT=$1
shift
DATA=${DATA:-../shared/data/fer2013}
EMOLENS=${EMOLENS:-emolens}
NAME=${NAME:-$(basename "$OUT")}
LABELS=()  # FER-2013's own labels, or FER+ majority votes
DEFAULT_TTA=selective
if [ -n "${FERPLUS:-}" ]; then LABELS=(--ferplus "$FERPLUS"); DEFAULT_TTA=hflip; fi
if [ "${SCORE_TEST:-0}" = 1 ]; then SPLITS=${SPLITS:-val test}; else SPLITS=${SPLITS:-val}; fi
case " $SPLITS " in
  *" test "*) if [ "${SCORE_TEST:-0}" != 1 ]; then echo "SPLITS with test needs SCORE_TEST=1" >&2; exit 2; fi ;;
esac
mkdir -p "$OUT/eval"
"$EMOLENS" export "$@" --out "$OUT/$NAME-fp32.onnx" --name "$NAME-fp32" --tta hflip
"$EMOLENS" framing "$OUT/$NAME-fp32.onnx" --out "$OUT/$NAME-fp32.onnx"  # FER-2013 framing, as the default's
"$EMOLENS" quantize "$OUT/$NAME-fp32.onnx" --out "$OUT/$NAME-int8.onnx" --data "$DATA"
for variant in fp32 int8; do
  if [ "${SCORE_TEST:-0}" != 1 ]; then break; fi
  "$EMOLENS" calibrate "$OUT/$NAME-$variant.onnx" --data "$DATA" --out "$OUT/$NAME-$variant.onnx" --tta "$DEFAULT_TTA" \
    "${LABELS[@]}" \
    --json "$OUT/eval/calibration-$variant.json" --plot "$OUT/eval/reliability-$variant.png"
done
"$EMOLENS" info --json > "$OUT/eval/info.json"
for variant in int8 fp32; do
  for tta in none hflip selective shift cascade; do
    for split in $SPLITS; do
      "$EMOLENS" evaluate --model "$OUT/$NAME-$variant.onnx" --data "$DATA" --split "$split" --tta "$tta" "${LABELS[@]}" \
        --json "$OUT/eval/$variant-$tta-$split.json" --confusion "$OUT/eval/$variant-$tta-$split.png" | sed -n 1,2p
    done
    if [ "${BENCH:-1}" = 0 ]; then continue; fi
    "$EMOLENS" bench faces --model "$OUT/$NAME-$variant.onnx" --tta "$tta" --faces 256 --repeats 30 --data "$DATA" \
      --json "$OUT/eval/bench-$variant-$tta.json" | tail -1
  done
done
cat "$OUT/eval/info.json"
