#!/usr/bin/env bash
# Builds .venv-fer/: emolens (editable) plus the third-party `fer` package, so that
#   .venv-fer/bin/emolens bench video CLIP --compare-fer
# can time fer's detect_emotions (Haar cascade + mini-Xception on Keras) next to ours.
#
# Why a separate venv: fer drags in TensorFlow (~1.3 GB installed, 2.1 GB for the whole venv),
# moviepy and pandas, none of which emolens needs, and it declares opencv-contrib-python, which
# would fight our opencv-python-headless over the same `cv2` module. So fer is installed with
# --no-deps and only what it imports at run time is added by hand:
#   - tensorflow-cpu (not `tensorflow`), whose Keras 3 loads fer's bundled emotion_model.hdf5;
#   - moviepy<2 (fer/classes.py does `from moviepy.editor import *`, gone in moviepy 2), pandas,
#     tqdm, Pillow, requests; setuptools<67 for `pkg_resources` without a deprecation warning.
#   - NOT facenet-pytorch / torch: fer imports them only for FER(mtcnn=True); FER() uses Haar.
#   - NOT ffmpeg==1.4 / matplotlib / opencv-contrib-python (unused here; `pip check` lists them).
# fer 22.5.1 is pinned on purpose: fer 25.10.x no longer exports FER from fer/__init__.py, so
# `import fer; fer.FER()` (what emolens.bench does) fails there. fer ships its weights and
# cv2 ships the Haar cascade: nothing is downloaded at run time.
#
# TensorFlow/Keras chatter on stderr is silenced with
#   TF_CPP_MIN_LOG_LEVEL=1 TF_ENABLE_ONEDNN_OPTS=0 PYTHONWARNINGS="ignore:The structure of:UserWarning"
#
# Usage: bash benchmarks/install_fer.sh   (re-running it is safe; PYTHON=python3.11 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=.venv-fer

if [[ ! -x $VENV/bin/python ]]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

# One resolve for emolens and fer's runtime dependencies, so that numpy/opencv stay consistent.
"${PIP[@]}" install -e . \
  "numpy==2.4.6" \
  "opencv-python-headless==4.14.0.94" \
  "tensorflow-cpu==2.21.0" \
  "keras==3.15.1" \
  "h5py==3.14.0" \
  "moviepy==1.0.3" \
  "pandas==3.1.1" \
  "tqdm==4.70.1" \
  "pillow==13.0.0" \
  "requests==2.34.2" \
  "setuptools>=65,<67"
"${PIP[@]}" install --no-deps "fer==22.5.1"

# Smoke test: fer imports, builds its model, and classifies a blank frame (no face, no output).
TF_CPP_MIN_LOG_LEVEL=1 TF_ENABLE_ONEDNN_OPTS=0 PYTHONWARNINGS="ignore:The structure of:UserWarning" \
  "$VENV/bin/python" -c 'import fer, numpy as np; fer.FER().detect_emotions(np.zeros((120, 160, 3), np.uint8)); print("fer", fer.__version__, "ok")'
echo "now: $VENV/bin/emolens bench video CLIP --compare-fer"
