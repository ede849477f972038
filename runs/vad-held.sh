#!/usr/bin/env bash
# 2026-12-06 (fourth session): the detector before and after held partials, on the same sounds.
set -euo pipefail
rm -rf /tmp/before && mkdir -p /tmp/before && git archive f10c52d src | tar -x -C /tmp/before
PYTHONPATH=/tmp/before/src .venv/bin/python benchmarks/vad_music.py --shared ../shared --json runs/vad-held-0.json > runs/vad-held-0.log 2>&1
.venv/bin/python benchmarks/vad_music.py --shared ../shared --json runs/vad-held-1.json > runs/vad-held-1.log 2>&1
