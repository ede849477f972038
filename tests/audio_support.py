"""Generated sounds for the audio tests: speech-like, music-like, tones, noise; and writing them to files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SR = 16000


def speech_like(seconds: float = 3.0, sr: int = SR, seed: int = 0, f0: float = 140.0, amp: float = 0.2) -> np.ndarray:
    """Syllables of a voiced buzz (a glottal-like harmonic series with a wandering pitch and vowel
    formants) 120-250 ms long, between short pauses and hissing consonants."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    out = np.zeros(n, np.float64)
    t = 0
    while t < n:
        syl = int(rng.uniform(0.12, 0.25) * sr)
        seg = np.arange(min(syl, n - t)) / sr
        pitch = f0 * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 3) * seg + rng.uniform(0, 6)))
        phase = 2 * np.pi * np.cumsum(pitch) / sr
        formants = rng.choice([(700, 1200), (300, 2300), (500, 900), (400, 2000)])
        voice = np.zeros_like(seg)
        for k in range(1, 30):
            fk = k * pitch
            gain = sum(np.exp(-(((fk - f) / 120) ** 2)) for f in formants) + 0.05
            voice += gain / k * np.sin(k * phase)
        env = np.sin(np.pi * np.arange(len(seg)) / max(len(seg), 1)) ** 0.5
        out[t : t + len(seg)] = voice * env
        t += len(seg)
        if rng.random() < 0.5 and t < n:  # a hissing consonant
            m = min(int(rng.uniform(0.04, 0.09) * sr), n - t)
            out[t : t + m] = rng.normal(0, 0.05, m)
            t += m
        t += int(rng.uniform(0.04, 0.12) * sr)  # a pause
    out *= amp / max(np.abs(out).max(), 1e-9)
    return out.astype(np.float32)


def music_like(seconds: float = 3.0, sr: int = SR, seed: int = 0, amp: float = 0.2) -> np.ndarray:
    """Sustained three-note chords, legato, changing every half second."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    out = np.zeros_like(t)
    roots = rng.choice([220.0, 246.9, 261.6, 293.7, 329.6], size=int(np.ceil(seconds / 0.5)))
    for i, root in enumerate(roots):
        sl = (t >= i * 0.5) & (t < (i + 1) * 0.5)
        for ratio in (1.0, 1.26, 1.5):
            for k in range(1, 5):
                out[sl] += np.sin(2 * np.pi * root * ratio * k * t[sl]) / k
    out *= amp / np.abs(out).max()
    return out.astype(np.float32)


def chord_like(seconds: float = 2.0, sr: int = SR, root: float = 261.6, amp: float = 0.2) -> np.ndarray:
    """One major chord of harmonic tones, held throughout."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * root * r * k * t) / k for r in (1.0, 1.26, 1.5) for k in range(1, 5))
    return (amp * x / np.abs(x).max()).astype(np.float32)


def melody_like(
    seconds: float = 4.0,
    sr: int = SR,
    seed: int = 0,
    instrument: str = "piano",
    amp: float = 0.2,
    vibrato_st: float = 0.0,
) -> np.ndarray:
    """A tune on a major scale: notes of 0.25-0.6 s, each a harmonic series held (``organ``) or
    dying away (``piano``; ``pluck`` faster, its upper partials fastest), one after the other;
    ``vibrato_st``: each note's pitch swings this many semitones either way, 5.5 times a second."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    out = np.zeros(n + sr)
    start = 0
    while start < n:
        length = int(rng.uniform(0.25, 0.6) * sr)
        f = rng.uniform(130.0, 260.0) * 2 ** (rng.choice([0, 2, 4, 5, 7, 9, 11, 12]) / 12)
        t = np.arange(length) / sr
        phase = 2 * np.pi * np.cumsum(f * 2 ** (vibrato_st * np.sin(2 * np.pi * 5.5 * t) / 12)) / sr
        note = np.zeros(length)
        for k in range(1, 7):
            decay = {"organ": 0.0, "piano": 3.0, "pluck": 4.0 * k}[instrument]
            note += np.sin(k * phase) * np.exp(-decay * t) / k
        note *= np.minimum(1.0, t / 0.01) * np.minimum(1.0, (length / sr - t) / 0.02)
        out[start : start + length] += note
        start += length
    x = out[:n]
    return (amp * x / max(np.abs(x).max(), 1e-9)).astype(np.float32)


def reverberant(x: np.ndarray, rt60: float = 0.8, sr: int = SR, seed: int = 0) -> np.ndarray:
    """``x`` in a room: convolved with exponentially decaying noise (reverberation time ``rt60``)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rt60 * sr)) / sr
    h = rng.normal(0, 1, len(t)) * np.exp(-6.9 * t / rt60)
    h[0] = 1.0
    y = np.convolve(x, h / np.sqrt(np.sum(h**2)))[: len(x)]
    return (y * np.abs(x).max() / max(np.abs(y).max(), 1e-9)).astype(np.float32)


def tone(seconds: float = 2.0, sr: int = SR, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def noise(seconds: float = 2.0, sr: int = SR, amp: float = 0.1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, amp, int(seconds * sr)).astype(np.float32)


def rumble(seconds: float = 2.0, sr: int = SR, amp: float = 0.1, seed: int = 0) -> np.ndarray:
    """Brown noise (power falling as 1/f**2), like wind on a microphone or traffic through a wall."""
    n = int(seconds * sr)
    spec = np.fft.rfft(np.random.default_rng(seed).normal(0, 1, n))
    x = np.fft.irfft(spec / np.maximum(np.fft.rfftfreq(n, 1 / sr), 1.0), n)
    return (amp * x / max(np.abs(x).max(), 1e-9)).astype(np.float32)


def write_audio(path: Path, samples: np.ndarray, sr: int = SR, codec: str | None = None) -> Path:
    """Write float samples (n,) or (n, channels) to a WAV (s16), FLAC or other file PyAV can encode."""
    import av

    x = np.asarray(samples, dtype=np.float32)
    x = x[:, None] if x.ndim == 1 else x
    layout = {1: "mono", 2: "stereo"}[x.shape[1]]
    name = codec or {".wav": "pcm_s16le", ".flac": "flac", ".ogg": "libvorbis", ".mp3": "libmp3lame"}[path.suffix]
    pcm = np.clip(x, -1, 32767 / 32768)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(name, rate=sr, layout=layout)
        fmt = stream.codec_context.format.name
        data = (pcm * 32768).astype(np.int16) if fmt in ("s16", "s16p") else pcm
        arr = data.T.copy() if fmt.endswith("p") else data.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt, layout=layout)
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def assert_onnx_matches_torch(rec: Any, arch: str, state: dict[str, Any]) -> None:
    """The voice model file of ``rec`` gives the probabilities of the torch network ``arch`` with
    weights ``state``, on speech-like utterances of 0.3, 2.0 and 4.1 s (its time axis is dynamic)."""
    import torch

    from emolens.models import create_model

    net = create_model(arch, num_classes=len(rec.labels))
    net.load_state_dict(state)
    net.eval()
    for seconds in (0.3, 2.0, 4.1):
        x = rec.prepare(speech_like(seconds, seed=int(seconds * 10)), SR)
        with torch.no_grad():
            ref = torch.softmax(net(torch.from_numpy(x)), 1).numpy()
        np.testing.assert_allclose(rec.run(x), ref, atol=1e-5)


def speech_checkpoint(
    path: Path,
    seed: int = 0,
    labels: tuple[str, ...] | None = None,
    feature_norm: str = "utterance",
    trim_db: float | None = None,
    arch: str = "speech_crnn",
) -> Path:
    """A speech checkpoint (``arch``) with random weights, BatchNorm statistics moved away from their
    defaults and a head strong enough that its probabilities differ by input; ``trim_db``: its
    features trim silence so."""
    from dataclasses import asdict

    import torch

    from emolens.audio.features import FeatureConfig
    from emolens.audio.labels import SPEECH_EMOTIONS
    from emolens.models import create_model
    from emolens.train import checkpoint

    labels = labels or SPEECH_EMOTIONS
    torch.manual_seed(seed)
    model = create_model(arch, num_classes=len(labels))
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
        if isinstance(m, torch.nn.Linear) and m.out_features == len(labels):
            torch.nn.init.normal_(m.weight, 0, 0.5)
    state = {
        "arch": arch,
        "kind": "speech",
        "labels": labels,
        "model": model.state_dict(),
        "features": asdict(FeatureConfig(feature_norm=feature_norm, trim_db=trim_db)),
        "crop_s": 3.0,
    }
    checkpoint.save_atomic(state, path)
    return path


def speech_model(folder: Path, feature_norm: str = "utterance") -> Path:
    """An exported speech model (random weights) in ``folder``; ``feature_norm="speaker"``: one that
    normalises by speaker profiles."""
    from emolens.export.speech import export_speech_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    return export_speech_checkpoint(
        speech_checkpoint(folder / "speech.pt", feature_norm=feature_norm), folder / "speech.onnx", name="test-speech"
    ).path


def write_ravdess(
    root: Path, actors: tuple[int, ...], per_emotion: int = 2, seconds: float = 1.2, seed: int = 0
) -> Path:
    """A RAVDESS-like folder of generated sounds whose emotion is easy to hear: a voice at a pitch and
    with a brightness of its own per emotion code."""
    rng = np.random.default_rng(seed)
    for actor in actors:
        d = root / f"Actor_{actor:02d}"
        d.mkdir(parents=True, exist_ok=True)
        for code in range(1, 9):
            for rep in range(per_emotion):
                x = speech_like(seconds, seed=int(rng.integers(1 << 30)), f0=90.0 + 40.0 * code)
                if code % 2:
                    x = x + noise(seconds, amp=0.01 * code, seed=int(rng.integers(1 << 30)))
                name = f"03-01-{code:02d}-01-{rep % 2 + 1:02d}-{rep // 2 + 1:02d}-{actor:02d}.flac"
                write_audio(d / name, x)
    return root
