"""The NumPy feature chain: log-mel against torch.stft and an independent mel filterbank, resampling,
mono conversion, loudness and feature normalisation, per utterance and by speaker profiles, and the
pitch rows against sounds of known pitch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audio_support import SR, noise, speech_like, tone
from emolens.audio.features import (
    FeatureConfig,
    ProfileAccumulator,
    active_level_db,
    feature_stats,
    features,
    log_mel,
    mel_filterbank,
    normalize_features,
    normalize_loudness,
    pitch_features,
    resample,
    speaker_profile,
    to_mono,
    trim_silence,
)
from emolens.errors import DataError, ModelError


def reference_filterbank(sr: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """HTK mel triangles built bin by bin, straight from the textbook definition."""

    def mel(f: float) -> float:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m: float) -> float:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = [hz(mel(f_min) + i * (mel(f_max) - mel(f_min)) / (n_mels + 1)) for i in range(n_mels + 2)]
    fb = np.zeros((n_mels, n_fft // 2 + 1))
    for m in range(n_mels):
        left, centre, right = edges[m], edges[m + 1], edges[m + 2]
        for k in range(n_fft // 2 + 1):
            f = k * sr / n_fft
            if left < f <= centre:
                fb[m, k] = (f - left) / (centre - left)
            elif centre < f < right:
                fb[m, k] = (right - f) / (right - centre)
    return fb


def test_the_mel_filterbank_matches_the_textbook_definition() -> None:
    cfg = FeatureConfig()
    ref = reference_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max)
    np.testing.assert_allclose(mel_filterbank(cfg), ref, atol=1e-5)


def test_log_mel_agrees_with_torch_stft_and_the_reference_filterbank() -> None:
    import torch

    cfg = FeatureConfig()
    x = speech_like(2.3, seed=4)
    spec = torch.stft(
        torch.from_numpy(x),
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=torch.hann_window(cfg.win_length, periodic=True),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    power = spec.abs().numpy().astype(np.float64) ** 2
    fb = reference_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max)
    ref = np.log(fb @ power + cfg.log_offset)
    got = log_mel(x, cfg)
    assert got.shape == ref.shape == (cfg.n_mels, 1 + len(x) // cfg.hop_length)
    assert got.dtype == np.float32
    loud = ref > np.log(1e-3)  # near the floor the log magnifies float32 rounding
    np.testing.assert_allclose(got[loud], ref[loud], atol=2e-3)
    np.testing.assert_allclose(got, ref, atol=0.05)


def test_slaney_scale_and_config_round_trip() -> None:
    cfg = FeatureConfig(mel_scale="slaney", n_mels=40)
    fb = mel_filterbank(cfg)
    assert fb.shape == (40, 257) and fb.min() >= 0 and fb.max() <= 1 and (fb.max(axis=1) > 0.5).all()
    centres = np.argmax(fb, axis=1)
    assert (np.diff(centres) >= 0).all()  # low to high frequency
    assert FeatureConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="unknown audio settings"):
        FeatureConfig.from_json(json.dumps({**json.loads(cfg.to_json()), "dither": 1}))
    for bad in ({"mel_scale": "bark"}, {"f_max": 9000.0}, {"win_length": 1024}, {"feature_norm": "global"}):
        with pytest.raises(ModelError):
            FeatureConfig(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_any_rate_resamples_to_16k_keeping_pitch_and_level(rate: int) -> None:
    x = tone(1.5, sr=rate, freq=440.0, amp=0.5)
    y = resample(x, rate, SR)
    assert y.dtype == np.float32 and abs(len(y) - 1.5 * SR) <= 1
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * SR / len(y) - 440.0) < 2
    assert abs(y[2000:-2000].std() * np.sqrt(2) - 0.5) < 0.01
    assert resample(x[:0], rate, SR).shape == (0,)


def test_to_mono_takes_every_layout_and_refuses_garbage() -> None:
    left = speech_like(0.5)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    np.testing.assert_allclose(to_mono(stereo), left / 2, atol=1e-7)
    np.testing.assert_allclose(to_mono(stereo.T), left / 2, atol=1e-7)
    pcm = (left * 32767).astype(np.int16)
    np.testing.assert_allclose(to_mono(pcm), left, atol=1e-4)
    assert to_mono(np.full(10, 128, np.uint8)).max() == 0
    assert to_mono(np.zeros((0, 2))).shape == (0,)
    with pytest.raises(DataError, match="NaN"):
        to_mono(np.array([0.0, np.nan]))
    with pytest.raises(DataError, match="shape"):
        to_mono(np.zeros((2, 3, 4)))
    with pytest.raises(DataError, match="channels"):
        to_mono(np.zeros((40, 40)))
    with pytest.raises(DataError, match="numbers"):
        to_mono(np.array(["a", "b"]))


def test_loudness_normalisation_reaches_the_target_and_spares_silence() -> None:
    for amp in (0.001, 0.05, 0.9):
        x = speech_like(2.0, amp=amp)
        y = normalize_loudness(x, SR, -23.0, 60.0)
        assert abs(active_level_db(y, SR) + 23.0) < 0.1
    quiet = noise(1.0, amp=1e-4)
    assert active_level_db(normalize_loudness(quiet, SR, -23.0, 20.0), SR) == pytest.approx(
        active_level_db(quiet, SR) + 20.0, abs=0.01
    )
    silence = np.zeros(SR, np.float32)
    assert not normalize_loudness(silence, SR, -23.0, 40.0).any()
    assert normalize_loudness(silence[:0], SR, -23.0, 40.0).shape == (0,)


def test_feature_normalisation_per_utterance_and_per_speaker() -> None:
    cfg = FeatureConfig()
    lm = log_mel(speech_like(2.0), cfg)
    z = normalize_features(lm)
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-4)
    assert z.std() == pytest.approx(1.0, abs=1e-3)
    flat = normalize_features(np.full((64, 50), -13.8, np.float32))
    assert np.isfinite(flat).all() and not flat.any()
    other = log_mel(speech_like(2.0, seed=9), cfg)
    stats = feature_stats([lm, other])
    both = np.concatenate([normalize_features(lm, stats=stats), normalize_features(other, stats=stats)], axis=1)
    np.testing.assert_allclose(both.mean(axis=1), 0, atol=1e-4)
    assert normalize_features(lm, "none") is lm


def test_the_whole_chain_ignores_the_recording_level_and_takes_any_input() -> None:
    cfg = FeatureConfig()
    x = speech_like(1.5)
    a = features(x, SR, cfg)
    np.testing.assert_allclose(features(x * 0.03, SR, cfg), a, atol=1e-3)  # within max_gain_db (40 dB)
    np.testing.assert_allclose(features(np.stack([x, x], axis=1), SR, cfg), a, atol=1e-4)
    for short in (np.zeros(0, np.float32), np.zeros(10, np.float32), x[:100]):
        out = features(short, SR, cfg)
        assert out.shape[0] == 64 and np.isfinite(out).all()


def _in_silence(x: np.ndarray, before_s: float, after_s: float, hiss: float = 1e-4) -> np.ndarray:
    """``x`` with quiet room noise (80 dB under it, about) before and after it."""
    pad = noise(before_s + after_s + len(x) / SR, amp=hiss, seed=3)
    at = int(before_s * SR)
    pad[at : at + len(x)] += x
    return pad


def test_trimming_cuts_the_silent_ends_only() -> None:
    sentence = speech_like(2.6, seed=1)
    x = _in_silence(sentence, 1.0, 0.7)
    out = trim_silence(x, SR, 40.0)
    start = next(i for i in range(len(x) - len(out) + 1) if np.array_equal(x[i : i + len(out)], out))
    first, last = np.flatnonzero(np.abs(sentence) > 1e-3)[[0, -1]] + SR  # where the sound is loud in x
    assert start < first and start + len(out) > last  # all the sentence kept
    assert (
        0.05 * SR <= first - start <= 0.15 * SR and 0.05 * SR <= start + len(out) - last <= 0.2 * SR
    )  # ~0.1 s margins
    assert len(out) < len(x) - 1.4 * SR  # the 1.7 s of silence nearly all gone
    # a pause inside stays: two words 1 s apart
    words = np.concatenate([speech_like(1.2, seed=2), np.zeros(SR, np.float32), speech_like(1.2, seed=4)])
    assert len(trim_silence(_in_silence(words, 1.0, 1.0), SR, 40.0)) > len(words)
    # a word shorter than 2 s keeps 2 s around it; an input shorter than that and digital silence stay whole
    word = _in_silence(speech_like(0.6, seed=5), 2.0, 2.0)
    kept = trim_silence(word, SR, 40.0)
    assert len(kept) == 2 * SR and np.abs(kept).max() == np.abs(word).max()
    assert len(trim_silence(word[: int(1.9 * SR)], SR, 40.0)) == int(1.9 * SR)
    silence = np.zeros(5 * SR, np.float32)
    assert len(trim_silence(silence, SR, 40.0)) == 5 * SR
    # a looser threshold keeps more of a slowly fading end
    envelope = np.r_[np.ones(len(sentence) - SR), np.geomspace(1, 1e-4, SR)].astype(np.float32)
    fade = _in_silence(sentence * envelope, 1.0, 1.0)
    assert len(trim_silence(fade, SR, 70.0)) > len(trim_silence(fade, SR, 30.0))


def test_features_of_a_trimming_model_ignore_the_silence_around_a_sentence() -> None:
    cfg = FeatureConfig(trim_db=40.0)
    sentence = speech_like(2.5, seed=6)
    short, long = _in_silence(sentence, 0.3, 0.3), _in_silence(sentence, 2.0, 1.5)
    a, b = features(short, SR, cfg), features(long, SR, cfg)
    assert a.shape == b.shape and a.shape[1] < features(long, SR, FeatureConfig()).shape[1] - 300
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99  # the same sentence (only the room noise differs)
    assert json.loads(cfg.to_json())["trim_db"] == 40.0 and FeatureConfig.from_json(cfg.to_json()) == cfg
    old = json.loads(FeatureConfig().to_json())
    del old["trim_db"]  # a file written before trimming existed
    assert FeatureConfig.from_json(json.dumps(old)).trim_db is None
    for bad in (0.0, 5.0, 120.0, float("nan"), float("inf")):
        with pytest.raises(ModelError, match="trim_db must lie in"):
            FeatureConfig(trim_db=bad)


SPEAKER = FeatureConfig(feature_norm="speaker")


def test_a_profile_of_one_utterance_is_the_utterance_itself() -> None:
    x = speech_like(2.0, seed=3, amp=0.05)
    own = features(x, SR, FeatureConfig())
    np.testing.assert_allclose(features(x, SR, SPEAKER, speaker_profile([x], SPEAKER)), own, atol=1e-5)
    np.testing.assert_allclose(features(x, SR, SPEAKER), own, atol=1e-6)  # no profile: its own
    other = speaker_profile([speech_like(2.0, seed=4, amp=0.3)], SPEAKER)
    np.testing.assert_array_equal(features(x, SR, FeatureConfig(), other), own)  # utterance models ignore profiles


def test_a_speaker_profile_keeps_how_loud_an_utterance_is_for_its_speaker() -> None:
    loud = speech_like(2.0, seed=5, amp=0.2)
    quiet = speech_like(2.0, seed=6, amp=0.05)  # 12 dB under the same voice
    profile = speaker_profile([loud, quiet], SPEAKER)
    assert profile.level_db == pytest.approx((active_level_db(loud, SR) + active_level_db(quiet, SR)) / 2)
    assert profile.seconds == pytest.approx(4.0)
    by_utt = [features(x, SR, FeatureConfig()).mean() for x in (loud, quiet)]
    by_spk = [features(x, SR, SPEAKER, profile).mean() for x in (loud, quiet)]
    assert abs(by_utt[0] - by_utt[1]) < 0.05  # each utterance alone: loudness normalised away
    # against the speaker's usual level louder stays louder: 12 dB is ln(16) in log power, less where the log
    # floor holds quiet bands, over the profile's spread
    gap = np.log(16.0) / profile.stats.std
    assert 0.5 * gap < by_spk[0] - by_spk[1] <= gap
    with pytest.raises(DataError, match="at least one utterance"):
        speaker_profile([np.zeros(0, np.float32)], SPEAKER)


def test_the_running_profile_matches_the_batch_one_and_keeps_no_sound() -> None:
    acc = ProfileAccumulator(SPEAKER)
    assert acc.profile() is None
    x = speech_like(2.0, seed=7, amp=0.1)
    acc.add(x)
    acc.add(np.zeros(0, np.float32))  # nothing to add
    got, want = acc.profile(), speaker_profile([x], SPEAKER)
    assert got is not None and got.level_db == pytest.approx(want.level_db)
    np.testing.assert_allclose(got.stats.mean, want.stats.mean, atol=1e-4)
    assert got.stats.std == pytest.approx(want.stats.std, rel=1e-4)
    ys = [speech_like(1.5, seed=s, amp=0.1) for s in (8, 9)]
    for y in ys:
        stereo_48k = np.stack([resample(y, SR, 48000)] * 2, axis=1)
        acc.add(stereo_48k, 48000)
    many = speaker_profile([x, *ys], SPEAKER)
    got = acc.profile()
    assert got is not None and acc.seconds == pytest.approx(5.0, abs=0.01)
    assert got.level_db == pytest.approx(many.level_db, abs=0.2)
    np.testing.assert_allclose(got.stats.mean, many.stats.mean, atol=0.2)  # the level settled as it came
    assert not any(isinstance(v, np.ndarray) and v.size > SPEAKER.n_mels for v in vars(acc).values())


def glide(seconds: float, f_start: float, octaves: float, sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """A harmonic buzz whose pitch rises ``octaves`` from ``f_start`` over ``seconds``, and that pitch
    (Hz) at every sample."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = f_start * 2 ** (octaves * t / seconds)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    return (0.1 * sum(np.sin(k * phase) / k for k in range(1, 12))).astype(np.float32), f0


@pytest.mark.parametrize(("f_start", "octaves"), [(90.0, 1.0), (180.0, 0.8), (300.0, -1.5)])
def test_pitch_rows_follow_a_voice_of_known_pitch(f_start: float, octaves: float) -> None:
    cfg = FeatureConfig(pitch=True)
    x, f0 = glide(2.0, f_start, octaves)
    x[: SR // 4] = 0  # a quarter second of silence first
    rows = pitch_features(x, cfg)
    assert rows.shape == (2, log_mel(x, cfg).shape[1])
    centres = np.minimum(np.arange(rows.shape[1]) * cfg.hop_length, len(x) - 1)
    voiced = rows[0] > 2 * 0.6 - 1
    silent = centres < SR // 4 - cfg.hop_length * 3
    assert not voiced[silent].any()
    assert voiced[~silent & (centres > SR // 4 + 400)].mean() > 0.97
    truth = np.log2(f0[centres[voiced]])
    np.testing.assert_allclose(rows[1][voiced], truth - np.median(truth), atol=0.04)  # octaves


def test_pitch_rows_of_noise_silence_and_loudness() -> None:
    cfg = FeatureConfig(pitch=True)
    assert (pitch_features(noise(1.0, seed=3), cfg)[0] < 0.2).mean() > 0.95  # hiss is not voiced
    silent = pitch_features(np.zeros(SR, np.float32), cfg)
    np.testing.assert_array_equal(silent, np.stack([-np.ones(101), np.zeros(101)]).astype(np.float32))
    x = speech_like(2.0, seed=4)
    np.testing.assert_allclose(pitch_features(x * 0.05, cfg), pitch_features(x, cfg), atol=1e-4)
    batch = pitch_features(np.stack([x, x[::-1].copy()]), cfg)
    np.testing.assert_array_equal(batch[0], pitch_features(x, cfg))
    np.testing.assert_array_equal(batch[1], pitch_features(x[::-1].copy(), cfg))
    assert pitch_features(np.zeros(0, np.float32), cfg).shape == (2, 1)


def test_pitch_rows_join_the_features_below_the_mel_bands() -> None:
    x = speech_like(1.5, seed=5)
    plain, with_pitch = features(x, SR, FeatureConfig()), features(x, SR, FeatureConfig(pitch=True))
    assert FeatureConfig(pitch=True).rows == 66 and FeatureConfig().rows == 64
    assert with_pitch.shape == (66, plain.shape[1])
    np.testing.assert_array_equal(with_pitch[:64], plain)
    cfg = FeatureConfig(pitch=True, n_mels=32)
    assert FeatureConfig.from_json(cfg.to_json()) == cfg
    assert FeatureConfig.from_json(json.dumps({"n_mels": 32})).pitch is False  # files from before pitch
    with pytest.raises(ModelError, match="f0_min"):
        FeatureConfig(pitch=True, f0_min=500.0, f0_max=400.0)
    assert FeatureConfig(sample_rate=1000, f_max=500.0).rows == 64  # no pitch range asked of a model without pitch
