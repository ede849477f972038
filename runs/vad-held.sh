#!/usr/bin/env bash
# 2026-12-06 (fourth session): the detector before (f10c52d) and after held partials, on the same
# sounds. Thresholds were chosen on a smaller run with --seed 0 (every 10th clip, 8 tunes per
# instrument); this report uses --seed 1 (other tunes, rooms and mixes) and every clip.
set -euo pipefail
rm -rf /tmp/before && mkdir -p /tmp/before && git archive f10c52d src | tar -x -C /tmp/before
PYTHONPATH=/tmp/before/src .venv/bin/python benchmarks/vad_music.py --shared ../shared --seed 1 --json runs/vad-held-0.json > runs/vad-held-0.log 2>&1
.venv/bin/python benchmarks/vad_music.py --shared ../shared --seed 1 --json runs/vad-held-1.json > runs/vad-held-1.log 2>&1
