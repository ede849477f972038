#!/usr/bin/env bash
# What the real-time optimizations buy: `emolens bench video` on one clip with the default
# settings, then detecting on every 3rd frame only, on frames shrunk by half. Each run prints a
# per-stage table and writes JSON; `fer` is timed on the same frames when it is installed.
# Usage: bash benchmarks/bench_video.sh [CLIP] [OUT_DIR] [extra bench options, e.g. --repeat 3]
set -euo pipefail
CLIP=${1:-../shared/media/pyfeat_single_face.mp4}
OUT=${2:-runs/bench-video}
shift $(( $# > 2 ? 2 : $# ))
mkdir -p "$OUT"
emolens bench video "$CLIP" --compare-fer --json "$OUT/default.json" "$@" | sed -n '/^[^ {}"]/,$p'
emolens bench video "$CLIP" --compare-fer --detect-every 3 --detect-scale 0.5 \
  --json "$OUT/every3-scale0.5.json" "$@" | sed -n '/^[^ {}"]/,$p'
