#!/usr/bin/env bash
# Peak memory of `emolens image` over many photos: N copies of a shared photo enlarged to 12 MP (4000x3000 JPEG),
# with annotated copies and JSON written. Prints the CPU, then "N images: peak RSS KB, seconds" per run.
# Usage: bash benchmarks/image_memory.sh [N ...]   (default: 5 20; PYTHON=... to run another checkout's emolens)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python - "$work" <<'PY'
import sys
from pathlib import Path
import cv2
img = cv2.imread("../shared/media/facerec_two_people.jpg")
big = cv2.resize(img, (4000, 3000), interpolation=cv2.INTER_CUBIC)
cv2.imwrite(str(Path(sys.argv[1]) / "photo.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 90])
PY
grep -m1 'model name' /proc/cpuinfo
for n in ${@:-5 20}; do
  rm -rf "$work/in" "$work/out" && mkdir "$work/in"
  for i in $(seq 1 "$n"); do ln -s "$work/photo.jpg" "$work/in/p$i.jpg"; done
  /usr/bin/time -f "%M %e" -o "$work/time" "$PY" -m emolens image "$work"/in/*.jpg --threads 1 \
    --out "$work/out" --json "$work/out.json" 2>/dev/null
  read -r kb s < "$work/time"
  echo "$n images: peak RSS $kb KB, $s s"
done
