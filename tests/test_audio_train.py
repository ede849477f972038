"""Speech data loading, the torch feature chain and augmentations, and a short training run."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from audio_support import SR, speech_like, tone, write_audio, write_ravdess
from conftest import SHARED, need
from emolens.audio.features import FeatureConfig, features, speaker_profile
from emolens.audio.labels import SPEECH_EMOTIONS
from emolens.data.audio import (
    UNKNOWN_SPEAKER,
    audio_layout,
    folder_speaker,
    is_audio_data,
    list_split,
    load_audio_split,
)
from emolens.errors import DataError, EmolensError
from emolens.train.config import TrainConfig
from emolens.train.speech_features import (
    AudioAugmentConfig,
    SpeakerBatch,
    TorchFeatures,
    augment_waveforms,
    crop_batch,
    spec_augment,
    trimmed_crop_length,
    warp_factors,
    warp_power,
)

RAVDESS = SHARED / "data" / "ravdess-speech-16k"


@pytest.fixture(scope="module")
def ravdess_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ravdess(tmp_path_factory.mktemp("ravdess"), actors=(1, 2, 19, 21))


def test_ravdess_splits_by_actor(ravdess_like: Path) -> None:
    assert audio_layout(ravdess_like) == "ravdess" and is_audio_data(ravdess_like)
    speakers = {split: {s for _, _, s in list_split(ravdess_like, split)} for split in ("train", "val", "test")}
    assert speakers == {"train": {"01", "02"}, "val": {"19"}, "test": {"21"}}
    train = load_audio_split(ravdess_like, "train")
    assert len(train) == 32 and train.classes == SPEECH_EMOTIONS and train.sample_rate == SR
    assert train.class_counts().tolist() == [4] * 8
    assert all(w.dtype == np.float32 and w.ndim == 1 for w in train.waveforms)


def test_the_real_ravdess_protocol() -> None:
    root = need(RAVDESS)
    counts = {}
    actors: dict[str, set[str]] = {}
    for split in ("train", "val", "test"):
        files = list_split(root, split)
        counts[split] = len(files)
        actors[split] = {a for _, _, a in files}
    assert counts == {"train": 1080, "val": 120, "test": 240}
    assert actors["val"] == {"19", "20"} and actors["test"] == {"21", "22", "23", "24"}
    assert not actors["train"] & (actors["val"] | actors["test"])


def test_audio_folders_and_what_is_not_speech_data(tmp_path: Path) -> None:
    for split in ("train", "val"):
        for name in ("calm", "angry"):
            d = tmp_path / "own" / split / name
            d.mkdir(parents=True)
            write_audio(d / "a.wav", tone(0.3))
    assert audio_layout(tmp_path / "own") == "folders"
    ds = load_audio_split(tmp_path / "own", "val")
    assert ds.classes == ("calm", "angry") and len(ds) == 2
    with pytest.raises(DataError, match="no 'test' folder"):
        list_split(tmp_path / "own", "test")
    (tmp_path / "faces" / "train" / "happy").mkdir(parents=True)
    assert not is_audio_data(tmp_path / "faces") and not is_audio_data(tmp_path / "missing")
    with pytest.raises(DataError, match="no speech data"):
        list_split(tmp_path / "faces", "train")
    with pytest.raises(DataError, match="not among"):
        load_audio_split(tmp_path / "own", "train", classes=("calm", "sad"))


def test_a_folder_file_names_its_speaker_or_has_none(tmp_path: Path) -> None:
    from emolens.train.fit import fit

    names = {"anna__take-3.wav": "anna", "03-01-05-01-02-01-07.wav": "07", "take-3.wav": UNKNOWN_SPEAKER}
    names |= {"__x.wav": UNKNOWN_SPEAKER, "bo.b__1.wav": "bo.b", "anna_take.wav": UNKNOWN_SPEAKER}
    assert {n: folder_speaker(Path(n)) for n in names} == names
    for split in ("train", "val"):
        for n, name in enumerate(("calm", "angry")):
            d = tmp_path / split / name
            d.mkdir(parents=True)
            write_audio(d / f"s{n}__a.wav", tone(0.3))  # speakers named otherwise than the classes
            write_audio(d / "b.wav", tone(0.3))
    ds = load_audio_split(tmp_path, "train")
    assert sorted(ds.speakers) == ["?", "?", "s0", "s1"]
    assert set(ds.speaker_profiles(FeatureConfig())) == {"s0", "s1"}  # none pooled over unknown files
    with pytest.raises(DataError, match=r"--speaker-adversary needs each file's speaker: 2 of 4 files .*train/"):
        ds.require_speakers("--speaker-adversary")
    ds.subset(np.flatnonzero(np.asarray(ds.speakers) != UNKNOWN_SPEAKER)).require_speakers("x")
    with pytest.raises(DataError, match="--speaker-adversary needs each file's speaker"):
        fit(_cfg(tmp_path, tmp_path / "run", speaker_adversary=0.5, batch_size=2))
    assert not (tmp_path / "run").exists()  # refused before a run folder was made


def test_torch_features_match_the_numpy_chain() -> None:
    cfg = FeatureConfig()
    xs = [speech_like(2.0, seed=i, amp=0.02 * (i + 1)) for i in range(3)]
    ref = np.stack([features(x, SR, cfg) for x in xs])
    got = TorchFeatures(cfg)(torch.from_numpy(np.stack(xs))).numpy()[:, 0]
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=5e-4)


def test_torch_features_by_speaker_profile_match_the_numpy_chain() -> None:
    cfg = FeatureConfig(feature_norm="speaker")
    xs = [speech_like(2.0, seed=i, amp=0.02 * (i + 1)) for i in range(3)]
    profiles = [speaker_profile(xs[:2], cfg), speaker_profile(xs[:2], cfg), speaker_profile(xs[2:], cfg)]
    ref = np.stack([features(x, SR, cfg, p) for x, p in zip(xs, profiles, strict=True)])
    got = TorchFeatures(cfg)(torch.from_numpy(np.stack(xs)), SpeakerBatch.of(profiles)).numpy()[:, 0]
    np.testing.assert_allclose(got, ref, atol=5e-4)
    assert abs(got[0].mean() - got[1].mean()) > 0.1  # the same speaker, one louder than the other


def test_torch_features_with_pitch_match_the_numpy_chain() -> None:
    cfg = FeatureConfig(pitch=True)
    xs = [speech_like(2.0, seed=i, amp=0.02 * (i + 1), f0=110.0 + 60 * i) for i in range(3)]
    ref = np.stack([features(x, SR, cfg) for x in xs])
    got = TorchFeatures(cfg)(torch.from_numpy(np.stack(xs))).numpy()[:, 0]
    assert got.shape == ref.shape == (3, 66, 201)
    np.testing.assert_allclose(got[:, :64], ref[:, :64], atol=5e-4)
    np.testing.assert_allclose(got[:, 64:], ref[:, 64:], atol=1e-3)
    assert (got[:, 64] > 0.2).mean() > 0.3  # the buzz is voiced much of the time


def test_frequency_masks_leave_the_pitch_rows_alone() -> None:
    spec = torch.randn(6, 1, 66, 120)
    aug = AudioAugmentConfig(freq_masks=4, freq_mask_bands=16, time_masks=0)
    out = spec_augment(spec, aug, torch.Generator().manual_seed(0), bands=64)
    assert torch.equal(out[:, :, 64:], spec[:, :, 64:]) and (out[:, :, :64] == 0).any()
    timed = spec_augment(spec, replace(aug, freq_masks=0, time_masks=2), torch.Generator().manual_seed(0), bands=64)
    assert (timed[:, 0] == 0).all(dim=1).any(dim=1).all()  # each row's time masks cover the pitch rows too


def test_augmentations_keep_shapes_and_follow_the_generator() -> None:
    waves = [speech_like(1.5, seed=i) for i in range(4)] + [speech_like(0.3, seed=9)]
    aug = AudioAugmentConfig(speed_p=1.0, reverb_p=1.0, noise_p=1.0)

    def run(seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        x = augment_waveforms(crop_batch(waves, SR, gen, aug), aug, SR, gen)
        return spec_augment(TorchFeatures(FeatureConfig())(x), aug, gen)

    a, b = run(0), run(0)
    assert a.shape == (5, 1, 64, 101) and torch.isfinite(a).all()
    assert torch.equal(a, b) and not torch.equal(a, run(1))
    assert (a == 0).any()  # masks


def test_a_warped_spectrum_moves_its_formants_and_keeps_its_ends() -> None:
    power = torch.zeros(3, 257, 4)
    power[:, 60] = 1.0  # one component, under the knee
    out = warp_power(power, torch.tensor([1.0, 1.15, 0.85]))
    assert torch.equal(out[0], power[0])  # a factor of 1 changes nothing
    assert int(out[1, :, 0].argmax()) == 69 and int(out[2, :, 0].argmax()) == 51  # 60 x 1.15, 60 x 0.85
    noise = torch.rand(2, 257, 4)
    warped = warp_power(noise, torch.tensor([1.3, 0.7]))
    assert torch.allclose(warped[:, [0, -1]], noise[:, [0, -1]])  # DC and Nyquist stay where they are
    assert warped.min() >= noise.min() and warped.max() <= noise.max()  # read between bins, never beyond
    x = torch.from_numpy(np.stack([speech_like(1.0, seed=i) for i in range(2)]))
    feats = TorchFeatures(FeatureConfig())
    assert torch.allclose(feats(x, warp=torch.ones(2)), feats(x))
    assert not torch.allclose(feats(x, warp=torch.tensor([1.1, 0.9])), feats(x))


def test_warp_factors_are_drawn_only_when_asked() -> None:
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    assert warp_factors(8, AudioAugmentConfig(), gen) is None and warp_factors(8, None, gen) is None
    assert torch.equal(gen.get_state(), state)  # runs without the warp draw what they drew before it existed
    f = warp_factors(4000, AudioAugmentConfig(warp_p=0.5, warp=(0.9, 1.1)), gen)
    assert f is not None and bool(((f >= 0.9) & (f <= 1.1)).all())
    assert 0.45 < float((f == 1).float().mean()) < 0.55 and len(set(f.tolist())) > 1000


def _cfg(data: Path, out: Path, **kw: object) -> TrainConfig:
    base: dict[str, object] = dict(
        data=str(data),
        arch="speech_crnn",
        out=str(out),
        epochs=5,
        batch_size=8,
        lr=0.003,
        weight_decay=0.01,
        warmup_epochs=0.5,
        augment=False,
        progress=False,
        threads=1,
        crop_s=1.0,
    )
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "metrics.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_a_training_run_writes_its_records_resumes_and_exports(ravdess_like: Path, tmp_path: Path) -> None:
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.train import checkpoint
    from emolens.train.fit import fit

    out = tmp_path / "run"
    res = fit(_cfg(ravdess_like, out, epochs=1))
    assert res.epochs_run == 1 and len(_rows(out)) == 1
    for name in ("best.pt", "last.pt", "best.onnx", "best.json", "curves.png", "metrics.csv", "config.json"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["features"]["n_mels"] == 64 and config["arch"] == "speech_crnn"
    assert config["device_used"] in ("cpu", "cuda:0")
    rec = VoiceRecognizer(out / "best.onnx", threads=1)
    assert rec.labels == SPEECH_EMOTIONS and rec.meta.train_seconds == 1.0
    res = fit(_cfg(ravdess_like, out, epochs=2, resume=True))
    assert [int(r["epoch"]) for r in _rows(out)] == [1, 2] and res.epochs_run == 2
    assert checkpoint.load(out / "last.pt")["epoch"] == 2


@pytest.mark.slow
def test_short_training_lowers_the_loss(ravdess_like: Path, tmp_path: Path) -> None:
    from emolens.train.fit import fit

    fit(_cfg(ravdess_like, tmp_path / "run", epochs=4, balance="weighted"))
    rows = _rows(tmp_path / "run")
    assert float(rows[-1]["train_loss"]) < 0.9 * float(rows[0]["train_loss"])


def test_training_by_speaker_profiles_makes_a_model_that_asks_for_them(ravdess_like: Path, tmp_path: Path) -> None:
    from emolens.audio.evaluate import evaluate_speech, split_probabilities
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.train.fit import fit

    out = tmp_path / "run"
    fit(_cfg(ravdess_like, out, epochs=1, feature_norm="speaker", augment=True))
    assert json.loads((out / "config.json").read_text())["features"]["feature_norm"] == "speaker"
    rec = VoiceRecognizer(out / "best.onnx", threads=1)
    assert rec.uses_profile
    ds = load_audio_split(ravdess_like, "test")
    profile = rec.profile(list(ds.waveforms[:4]), SR)
    assert not np.allclose(rec.predict(ds.waveforms[5], SR, profile), rec.predict(ds.waveforms[5], SR))
    modes = {
        k: evaluate_speech(out / "best.onnx", ravdess_like, "test", threads=1, profile_utterances=k)
        for k in (None, 0, 3)
    }
    assert {k: ev.profile for k, ev in modes.items()} == {None: "speaker", 0: "utterance", 3: "3 others"}
    assert all(ev.utterances == 16 for ev in modes.values())
    with pytest.raises(EmolensError, match="at least 0"):
        evaluate_speech(out / "best.onnx", ravdess_like, "test", threads=1, profile_utterances=-1)
    for split in ("train", "test"):  # files that do not name their speaker are judged each on its own
        for i, w in enumerate(ds.waveforms[:4]):
            (tmp_path / "own" / split / ds.classes[ds.labels[i]]).mkdir(parents=True, exist_ok=True)
            write_audio(tmp_path / "own" / split / ds.classes[ds.labels[i]] / f"{i}.wav", w)
    unnamed = load_audio_split(tmp_path / "own", "test", classes=rec.labels)
    alone = split_probabilities(rec, unnamed, profile_utterances=0)
    for k in (None, 3):
        np.testing.assert_array_equal(split_probabilities(rec, unnamed, profile_utterances=k), alone)
    assert list(evaluate_speech(out / "best.onnx", tmp_path / "own", "test", threads=1).per_speaker) == ["?"]
    with pytest.raises(EmolensError, match="--feature-norm is for speech"):
        fit(_cfg(tmp_path / "faces", tmp_path / "f", arch="compact", feature_norm="speaker"))
    with pytest.raises(EmolensError, match="--feature-norm"):
        _cfg(ravdess_like, out, feature_norm="global")


def test_more_mel_bands_reach_the_model_file_and_a_resume_must_keep_them(ravdess_like: Path, tmp_path: Path) -> None:
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.train.fit import fit

    out = tmp_path / "run"
    fit(_cfg(ravdess_like, out, epochs=1, n_mels=32))
    assert json.loads((out / "config.json").read_text())["features"]["n_mels"] == 32
    rec = VoiceRecognizer(out / "best.onnx", threads=1)
    assert rec.features.n_mels == 32
    ds = load_audio_split(ravdess_like, "test")
    assert rec.prepare(ds.waveforms[0], SR).shape[2] == 32
    p = rec.predict(ds.waveforms[0], SR)
    assert p.shape == (len(rec.labels),) and abs(float(p.sum()) - 1) < 1e-5
    with pytest.raises(EmolensError, match="other input features"):
        fit(_cfg(ravdess_like, out, epochs=2, resume=True))  # 64 bands on a 32-band run
    for bad in (0, 40, 512):
        with pytest.raises(EmolensError, match="--n-mels must be a multiple of 16"):
            _cfg(ravdess_like, out, n_mels=bad)
    with pytest.raises(EmolensError, match="--n-mels is for speech"):
        fit(_cfg(tmp_path / "faces", tmp_path / "f", arch="compact", n_mels=32))


def test_a_run_that_trims_silence_makes_a_model_that_trims_it(tmp_path: Path) -> None:
    """Clips of a sentence in 1-2 s of room noise: the crops come from the trimmed clips (at least 2 s,
    so none is padded with silence), and the model file trims as the run did."""
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.train.fit import fit

    rng = np.random.default_rng(1)
    for actor in (1, 19):
        d = tmp_path / "data" / f"Actor_{actor:02d}"
        d.mkdir(parents=True)
        for code in range(1, 9):
            sentence = speech_like(2.2, seed=int(rng.integers(1 << 30)), f0=90.0 + 40.0 * code)
            x = rng.normal(0, 1e-4, 2 * SR + len(sentence) + SR).astype(np.float32)
            x[2 * SR : 2 * SR + len(sentence)] += sentence
            write_audio(d / f"03-01-{code:02d}-01-01-01-{actor:02d}.flac", x)
    out = tmp_path / "run"
    fit(_cfg(tmp_path / "data", out, epochs=1, trim_db=40.0, crop_s=3.0, augment=True))
    assert json.loads((out / "config.json").read_text())["features"]["trim_db"] == 40.0
    assert VoiceRecognizer(out / "best.onnx", threads=1).features.trim_db == 40.0
    clips = [np.zeros(int(s * SR), np.float32) for s in (2.2, 3.5, 4.0)]
    assert trimmed_crop_length(3 * SR, clips, SR) == int(2.2 * SR)  # the shortest clip
    assert trimmed_crop_length(2 * SR, clips, SR) == 2 * SR  # a shorter crop stays
    assert trimmed_crop_length(3 * SR, [*clips, np.zeros(SR, np.float32)], SR) == 2 * SR  # never under 2 s
    for bad in (5.0, 200.0):
        with pytest.raises(EmolensError, match="--trim-db must lie in"):
            _cfg(tmp_path / "data", out, trim_db=bad)
    with pytest.raises(EmolensError, match="--trim-db is for speech"):
        fit(_cfg(tmp_path / "faces", tmp_path / "f", arch="compact", trim_db=40.0))


def test_a_run_with_a_frequency_warp_records_it_and_its_option_is_checked(ravdess_like: Path, tmp_path: Path) -> None:
    from emolens.train.fit import fit

    out = tmp_path / "run"
    fit(_cfg(ravdess_like, out, epochs=1, freq_warp=0.1, augment=True))
    aug = json.loads((out / "config.json").read_text())["audio_augment"]
    assert aug["warp"] == [0.9, 1.1] and aug["warp_p"] == 0.5
    assert (out / "best.onnx").is_file()
    for bad in (-0.1, 0.31, float("nan")):
        with pytest.raises(EmolensError, match="--freq-warp must lie in"):
            _cfg(ravdess_like, out, freq_warp=bad)
    with pytest.raises(EmolensError, match="--freq-warp is an augmentation"):
        fit(_cfg(ravdess_like, tmp_path / "n", freq_warp=0.1, augment=False))
    with pytest.raises(EmolensError, match="--freq-warp is for speech"):
        fit(_cfg(tmp_path / "faces", tmp_path / "f", arch="compact", freq_warp=0.1))


def test_a_model_trained_with_pitch_hears_it_at_run_time(ravdess_like: Path, tmp_path: Path) -> None:
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.train.fit import fit

    out = tmp_path / "run"
    fit(_cfg(ravdess_like, out, epochs=1, pitch=True, augment=True))
    assert json.loads((out / "config.json").read_text())["features"]["pitch"] is True
    rec = VoiceRecognizer(out / "best.onnx", threads=1)
    assert rec.features.pitch and rec.features.rows == 66
    ds = load_audio_split(ravdess_like, "test")
    x = rec.prepare(ds.waveforms[0], SR)
    assert x.shape[2] == 66
    flat = x.copy()
    flat[:, :, 64:] = 0
    assert not np.allclose(rec.run(x), rec.run(flat))  # the network reads the pitch rows
    p = rec.predict(ds.waveforms[0], SR)
    assert p.shape == (len(rec.labels),) and abs(float(p.sum()) - 1) < 1e-5
    with pytest.raises(EmolensError, match="--pitch is for speech"):
        fit(_cfg(tmp_path / "faces", tmp_path / "f", arch="compact", pitch=True))


def test_face_options_and_face_architectures_are_refused_on_speech(ravdess_like: Path, tmp_path: Path) -> None:
    from emolens.train.fit import fit

    with pytest.raises(EmolensError, match="--arch speech_crnn"):
        fit(_cfg(ravdess_like, tmp_path / "a", arch="compact"))
    with pytest.raises(EmolensError, match="--freeze.*not available for speech"):
        fit(_cfg(ravdess_like, tmp_path / "b", freeze=2))
    with pytest.raises(EmolensError, match="--crop-s"):
        _cfg(ravdess_like, tmp_path / "c", crop_s=0.1)


def test_distilling_from_a_speech_teacher_changes_the_targets_and_weight_zero_does_not(
    ravdess_like: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from emolens.train import checkpoint
    from emolens.train.fit import fit

    def weights(out: Path) -> dict[str, torch.Tensor]:
        return checkpoint.load(out / "last.pt")["model"]  # type: ignore[no-any-return]

    teacher = "emolens-speech-ravdess"
    plain = fit(_cfg(ravdess_like, tmp_path / "plain", epochs=1)).out
    with caplog.at_level(logging.INFO, logger="emolens.train.teacher"):
        zero = fit(_cfg(ravdess_like, tmp_path / "zero", epochs=1, teacher=teacher, teacher_weight=0.0)).out
    n_train = len(load_audio_split(ravdess_like, "train"))
    assert f"teacher {teacher} (tta crops): {n_train} utterances" in caplog.text
    taught = fit(_cfg(ravdess_like, tmp_path / "taught", epochs=1, teacher=teacher, teacher_weight=1.0)).out
    for name, w in weights(plain).items():
        assert torch.equal(w, weights(zero)[name]), name
    assert any(not torch.equal(w, weights(taught)[name]) for name, w in weights(plain).items())
    assert json.loads((taught / "config.json").read_text())["teacher"] == teacher


def test_a_speech_teacher_must_be_a_speech_model_that_exists(ravdess_like: Path, tmp_path: Path) -> None:
    from emolens.train.fit import fit

    with pytest.raises(EmolensError, match="is not a speech model"):
        fit(_cfg(ravdess_like, tmp_path / "face", epochs=1, teacher="emolens-vgg-fer2013"))
    with pytest.raises(EmolensError, match="model file not found"):
        fit(_cfg(ravdess_like, tmp_path / "missing", epochs=1, teacher=str(tmp_path / "missing.onnx")))
    assert not (tmp_path / "face").exists() and not (tmp_path / "missing").exists()
