"""Speech emotion recognition at run time: NumPy, PyAV and ONNX Runtime only (no torch, no librosa).

* :mod:`~emolens.audio.decode`: the sound of any file FFmpeg reads, mono, at a chosen rate;
* :mod:`~emolens.audio.features`: log-mel features, loudness and feature normalisation;
* :mod:`~emolens.audio.vad`: is it speech, silence or something else;
* :mod:`~emolens.audio.recognizer`: :class:`~emolens.audio.recognizer.VoiceRecognizer`;
* :mod:`~emolens.audio.analyze`, :mod:`~emolens.audio.evaluate`, :mod:`~emolens.audio.cli`: files,
  data sets and the command line.

Importing this package imports nothing heavy.
"""

MAX_DURATION_S = 1800.0
"""Longest sound decoded by default (30 minutes: 115 MB of float32 at 16 kHz)."""
