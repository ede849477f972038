#!/usr/bin/env bash
# What each real-time optimization buys: `emolens bench video` on one clip with the defaults
# (Haar every 10th frame at half size, faces followed in between), then with each optimization
# alone, then with none. The first run also times the `fer` package on the same frames, in the
# same process, when it is importable: build its venv with `bash benchmarks/install_fer.sh` and
# run this script with EMOLENS=.venv-fer/bin/emolens. Each run prints a per-stage table and
# writes JSON to OUT_DIR.
# Usage: [EMOLENS=...] bash benchmarks/bench_video.sh [CLIP] [OUT_DIR] [extra bench options]
set -euo pipefail
CLIP=${1:-../shared/media/pyfeat_single_face.mp4}
OUT=${2:-runs/bench-video}
shift $(( $# > 2 ? 2 : $# ))
EMOLENS=${EMOLENS:-emolens}
export TF_CPP_MIN_LOG_LEVEL=1 TF_ENABLE_ONEDNN_OPTS=0 PYTHONWARNINGS="ignore:The structure of:UserWarning"
mkdir -p "$OUT"
run() {  # name, options...
  local name=$1; shift
  echo "== $name: $*"
  "$EMOLENS" bench video "$CLIP" --repeat 3 --json "$OUT/$name.json" "$@" | sed -n '/^[^ {}"]/,$p'
}
"$EMOLENS" info
run defaults --compare-fer "$@"
run every1-scale1 --detect-every 1 --detect-scale 1 --no-follow "$@"
run every1-scale0.5 --detect-every 1 --detect-scale 0.5 --no-follow "$@"
run every10-scale1-follow --detect-every 10 --detect-scale 1 "$@"
run every10-scale0.5-hold --detect-every 10 --detect-scale 0.5 --no-follow "$@"
