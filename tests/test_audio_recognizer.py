"""The speech model's export round trip and the VoiceRecognizer: any rate, any layout, any length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from audio_support import SR, assert_onnx_matches_torch, music_like, noise, speech_checkpoint, speech_like, speech_model
from emolens.audio.features import FeatureConfig, resample
from emolens.audio.labels import MUSIC, NON_SPEECH, SILENCE, SPEECH_EMOTIONS
from emolens.audio.recognizer import CROP_S, VoiceRecognizer, crops_of, speech_stretches, window_spans
from emolens.errors import DataError, ModelError


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speech_model(tmp_path_factory.mktemp("speech"))


@pytest.fixture(scope="module")
def rec(model: Path) -> VoiceRecognizer:
    return VoiceRecognizer(model, threads=1)


def test_export_matches_torch_and_stores_the_feature_settings(model: Path, rec: VoiceRecognizer) -> None:
    import torch

    from emolens.models import create_model
    from emolens.train import checkpoint

    props = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    assert props["emolens.kind"] == "speech" and props["emolens.name"] == "test-speech"
    assert FeatureConfig.from_json(props["emolens.audio"]) == FeatureConfig() == rec.features
    assert rec.labels == SPEECH_EMOTIONS and rec.meta.params > 500_000
    net = create_model("speech_crnn", num_classes=8)
    net.load_state_dict(checkpoint.load(model.with_suffix(".pt"))["model"])
    net.eval()
    for seconds in (0.7, 2.0, 5.3):  # a dynamic time axis
        x = rec.prepare(speech_like(seconds, seed=int(seconds * 10)), SR)
        assert x.shape == (1, 1, 64, 1 + int(seconds * SR) // 160)
        with torch.no_grad():
            ref = torch.softmax(net(torch.from_numpy(x)), 1).numpy()
        np.testing.assert_allclose(rec.run(x), ref, atol=1e-5)
    for bad in (x.astype(np.float64), x[:, 0], x[:, :, :10]):
        with pytest.raises(DataError, match="takes the float32"):
            rec.run(bad)
    x[0, 0, 3, 4] = np.nan
    with pytest.raises(DataError, match="NaN or infinity"):
        rec.run(x)
    assert model.with_suffix(".json").is_file()


def test_predict_gives_probabilities_for_any_input(rec: VoiceRecognizer) -> None:
    x = speech_like(2.5)
    p = rec.predict(x, SR)
    assert p.dtype == np.float32 and p.shape == (8,) and p.sum() == pytest.approx(1.0, abs=1e-5)
    assert p.max() < 0.999  # a random head, but not a saturated one
    np.testing.assert_allclose(rec.predict(np.stack([x, x], axis=1), SR), p, atol=1e-5)
    np.testing.assert_allclose(rec.predict((x * 32767).astype(np.int16), SR), p, atol=1e-3)
    for rate in (44100, 48000):  # the same sound at another rate: nearly the same judgement
        q = rec.predict(resample(x, SR, rate), rate)
        assert q.sum() == pytest.approx(1.0, abs=1e-5) and np.abs(q - p).max() < 0.02
    narrow = rec.predict(resample(x, SR, 8000), 8000)  # telephone band: no sound above 4 kHz
    assert narrow.sum() == pytest.approx(1.0, abs=1e-5)
    for odd in (np.zeros(0, np.float32), np.zeros(SR, np.float32), x[:800], np.clip(x * 50, -1, 1)):
        q = rec.predict(odd, SR)
        assert np.isfinite(q).all() and q.sum() == pytest.approx(1.0, abs=1e-5)


def test_bad_rates_and_arrays_are_data_errors(rec: VoiceRecognizer) -> None:
    for rate in (0, 16000.5, True, 10**7):
        with pytest.raises(DataError, match="sample_rate"):
            rec.predict(np.zeros(100, np.float32), rate)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="NaN"):
        rec.predict(np.full(100, np.nan, np.float32), SR)


def test_windows_tell_a_listener_how_the_work_goes(rec: VoiceRecognizer) -> None:
    x = np.concatenate([speech_like(3.0), np.zeros(2 * SR, np.float32), speech_like(3.0, seed=3)])
    heard: list[tuple[str, int, int]] = []
    wins = rec.windows(x, SR, progress=lambda stage, done, total: heard.append((stage, done, total)))
    assert [w.label for w in wins] == [w.label for w in rec.windows(x, SR)]  # listening changes nothing
    stages = list(dict.fromkeys(stage for stage, _, _ in heard))
    assert stages == ["cues", "voice"]
    for stage in stages:
        steps = [(done, total) for s, done, total in heard if s == stage]
        dones = [d for d, _ in steps]
        assert len({t for _, t in steps}) == 1 and dones == sorted(dones) and dones[-1] == steps[0][1]
    speech = sum(w.probs is not None for w in wins)
    assert speech > 0 and heard[-1] == ("voice", speech, speech)
    cues_total = next(total for stage, _, total in heard if stage == "cues")
    assert cues_total % 2 == 0 and cues_total >= 2 * 790  # two steps for each 10 ms frame of the 8 s


def test_windows_label_silence_music_and_non_speech_and_judge_speech(rec: VoiceRecognizer) -> None:
    x = np.concatenate([speech_like(3.0), np.zeros(3 * SR, np.float32), music_like(3.0)])
    wins = rec.windows(x, SR, window_s=2.0, hop_s=0.5)
    assert [(w.start_s, w.end_s) for w in wins] == window_spans(9.0, 2.0, 0.5)
    by_start = {w.start_s: w for w in wins}
    assert by_start[0.0].label in SPEECH_EMOTIONS and by_start[0.0].probs is not None
    assert by_start[0.0].probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert by_start[3.5].label == SILENCE and by_start[3.5].probs is None
    assert by_start[7.0].label == MUSIC and by_start[7.0].probs is None
    noisy = rec.windows(noise(2.0, amp=0.1), SR)
    assert [w.label for w in noisy] == [NON_SPEECH] and noisy[0].probs is None
    # the first window's probabilities are predict()'s on the same stretch of sound
    np.testing.assert_allclose(by_start[0.0].probs, rec.predict(x[: 2 * SR], SR), atol=1e-5)
    d = by_start[0.0].as_dict(rec.labels)
    assert d["label"] == by_start[0.0].label and set(d["probs"]) == set(SPEECH_EMOTIONS)  # type: ignore[arg-type]
    assert rec.windows(np.zeros(0, np.float32), SR)[0].label == SILENCE
    short = rec.windows(speech_like(1.0, sr=8000), 8000)
    assert len(short) == 1 and short[0].end_s == pytest.approx(1.0)


def test_a_speaker_profile_model_takes_the_recordings_profile_or_one_given(
    rec: VoiceRecognizer, tmp_path: Path
) -> None:
    by_speaker = VoiceRecognizer(speech_model(tmp_path / "spk", feature_norm="speaker"), threads=1)
    assert by_speaker.uses_profile and not rec.uses_profile
    talk = [speech_like(3.0, seed=1, amp=0.2), np.zeros(4 * SR, np.float32), speech_like(3.0, seed=2, amp=0.05)]
    x = np.concatenate(talk)
    wins = by_speaker.windows(x, SR, window_s=2.0, hop_s=0.5)
    speech = [(w.start_s, w.end_s) for w in wins if w.probs is not None]
    stretches = speech_stretches(speech)
    assert len(stretches) == 2 and stretches[0][0] == 0.0 and stretches[-1][1] == pytest.approx(10.0)
    # no profile given: the recording's own speech is the speaker's
    own = by_speaker.profile([x[int(a * SR) : int(b * SR)] for a, b in stretches], SR)
    again = by_speaker.windows(x, SR, window_s=2.0, hop_s=0.5, profile=own)
    for w, v in zip(wins, again, strict=True):
        assert (w.probs is None and v.probs is None) or np.allclose(w.probs, v.probs, atol=1e-6)  # type: ignore[arg-type]
    loud = talk[0][: 2 * SR]
    assert not np.allclose(by_speaker.predict(loud, SR, own), by_speaker.predict(loud, SR), atol=1e-4)
    np.testing.assert_array_equal(rec.predict(loud, SR, own), rec.predict(loud, SR))  # ignored by other models


def test_crops_tta_averages_the_whole_and_its_crops(model: Path, rec: VoiceRecognizer) -> None:
    one_pass = rec  # an exported file asks for no test-time augmentation until calibrate --tta says otherwise
    assert one_pass.tta == "none" and one_pass.meta.tta == "none"
    rec = VoiceRecognizer(model, threads=1, tta="crops")
    x = speech_like(3.3, seed=5)
    crops = crops_of(x, SR, CROP_S, 0.5)
    assert [len(c) for c in crops] == [2 * SR] * 4 and crops[-1][-1] == x[-1]  # 0, 0.5, 1.0, then 1.3 s: to the end
    whole = one_pass.predict(x, SR)
    mean_of_crops = np.mean([one_pass.predict(c, SR) for c in crops], axis=0)
    p = rec.predict(x, SR)
    np.testing.assert_allclose(p, (whole + mean_of_crops) / 2, atol=1e-6)
    assert np.abs(p - whole).max() > 1e-4  # the crops do change the judgement
    short = speech_like(CROP_S - 0.1, seed=6)  # no longer than a crop: judged whole
    np.testing.assert_array_equal(rec.predict(short, SR), one_pass.predict(short, SR))
    loud = speech_like(4.1, seed=7)  # at another rate the crops are cut after resampling
    assert np.abs(rec.predict(resample(loud, SR, 48000), 48000) - rec.predict(loud, SR)).max() < 0.02
    with pytest.raises(ModelError, match=r"hflip is for face models\); choose one of: none, crops"):
        VoiceRecognizer(model, tta="hflip")


def test_crops_of_cover_the_sound() -> None:
    x = np.arange(10, dtype=np.float32)
    assert [c.tolist() for c in crops_of(x, 2, 2.0, 1.0)] == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]]
    assert [c.tolist() for c in crops_of(x[:9], 2, 2.0, 1.5)] == [[0, 1, 2, 3], [3, 4, 5, 6], [5, 6, 7, 8]]
    assert crops_of(x[:4], 2, 2.0, 1.0)[0].tolist() == [0, 1, 2, 3]  # one crop: the sound itself


def test_speech_stretches_merge_overlapping_windows() -> None:
    assert speech_stretches([]) == []
    assert speech_stretches([(0.0, 2.0), (0.5, 2.5), (4.0, 6.0), (6.0, 7.0)]) == [(0.0, 2.5), (4.0, 7.0)]


def test_window_spans_cover_the_sound() -> None:
    assert window_spans(1.0, 2.0, 0.5) == [(0.0, 1.0)]
    assert window_spans(3.2, 2.0, 1.0) == [(0.0, 2.0), (1.0, 3.0), (pytest.approx(1.2), 3.2)]
    for window, hop in ((0.0, 1.0), (1e-9, 1.0), (2.0, 1e-4), (2.0, float("nan")), (float("inf"), 1.0)):
        with pytest.raises(DataError):  # nothing to judge, or a hop so small the windows never end
            window_spans(3.0, window, hop)
    assert window_spans(5.0, 2.0, 2.0) == [(0.0, 2.0), (2.0, 4.0), (3.0, 5.0)]  # windows end to end
    with pytest.raises(DataError, match="longer than the 2 s window"):
        window_spans(5.0, 2.0, 2.5)


def test_models_that_are_not_speech_models_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a speech model .a face model"):
        VoiceRecognizer("emolens-vgg-fer2013-fp32")
    assert VoiceRecognizer().labels == SPEECH_EMOTIONS  # the shipped one
    with pytest.raises(ModelError, match="unknown speech model 'emolens-speech-nope'"):
        VoiceRecognizer("emolens-speech-nope")
    with pytest.raises(ModelError, match="not found"):
        VoiceRecognizer(tmp_path / "none.onnx")
    with pytest.raises(ModelError, match="threads"):
        VoiceRecognizer("x.onnx", threads=-1)


def test_int8_copy_is_close(model: Path, rec: VoiceRecognizer, tmp_path: Path) -> None:
    from emolens.export.speech import quantize_speech

    q = VoiceRecognizer(quantize_speech(model, tmp_path / "q.onnx"), threads=1)
    assert q.meta.precision == "int8-dynamic" and q.labels == rec.labels
    x = speech_like(2.0, seed=5)
    assert np.abs(q.predict(x, SR) - rec.predict(x, SR)).max() < 0.05


def test_export_refuses_face_checkpoints_and_cli_exports_speech(tmp_path: Path) -> None:
    from emolens.cli import main
    from emolens.export.speech import export_speech_checkpoint, is_speech_checkpoint
    from emolens.models import create_model
    from emolens.train import checkpoint

    face = tmp_path / "face.pt"
    checkpoint.save_atomic({"arch": "compact", "model": create_model("compact").state_dict()}, face)
    assert not is_speech_checkpoint(face) and not is_speech_checkpoint(tmp_path / "none.pt")
    with pytest.raises(ModelError, match="face model"):
        export_speech_checkpoint(face, tmp_path / "f.onnx")
    ckpt = speech_checkpoint(tmp_path / "s.pt", labels=("calm", "angry"))
    assert is_speech_checkpoint(ckpt)
    assert main(["export", str(ckpt), "--out", str(tmp_path / "s.onnx"), "--name", "two"]) == 0
    two = VoiceRecognizer(tmp_path / "s.onnx")
    assert two.labels == ("calm", "angry") and two.meta.name == "two"


def test_an_ensemble_is_one_model_averaging_its_members(tmp_path: Path) -> None:
    from emolens.cli import main

    members = [speech_checkpoint(tmp_path / f"m{i}.pt", seed=i) for i in range(2)]
    singles = [VoiceRecognizer(speech_model_from(m, tmp_path / f"m{i}.onnx"), threads=1) for i, m in enumerate(members)]
    assert main(["export", *map(str, members), "--out", str(tmp_path / "ens.onnx"), "--name", "ens"]) == 0
    ens = VoiceRecognizer(tmp_path / "ens.onnx", threads=1)
    assert ens.meta.arch == "speech_crnn+speech_crnn" and ens.meta.params == 2 * singles[0].meta.params
    x = speech_like(2.0, seed=3)
    want = (singles[0].predict(x, SR) + singles[1].predict(x, SR)) / 2
    np.testing.assert_allclose(ens.predict(x, SR), want, atol=1e-5)
    other = speech_checkpoint(tmp_path / "other.pt", labels=("calm", "angry"))
    with pytest.raises(ModelError, match="member 2 has other labels"):
        speech_model_from([members[0], other], tmp_path / "bad.onnx")
    face = tmp_path / "face.pt"
    from emolens.models import create_model
    from emolens.train import checkpoint

    checkpoint.save_atomic({"arch": "compact", "model": create_model("compact").state_dict()}, face)
    assert main(["export", str(members[0]), str(face), "--out", str(tmp_path / "f.onnx")]) != 0  # a voice and a face
    assert not (tmp_path / "f.onnx").exists() and not (tmp_path / "bad.onnx").exists()


def test_networks_of_both_fronts_export_alone_and_together(tmp_path: Path) -> None:
    """A speech_crnn1d network exports with a dynamic time axis and matches torch; it joins a
    speech_crnn network in one ensemble, each weighing half."""

    from emolens.train import checkpoint

    one_d = speech_checkpoint(tmp_path / "1d.pt", seed=1, arch="speech_crnn1d")
    two_d = speech_checkpoint(tmp_path / "2d.pt", seed=2)
    rec = VoiceRecognizer(speech_model_from(one_d, tmp_path / "1d.onnx"), threads=1)
    assert rec.meta.arch == "speech_crnn1d" and rec.labels == SPEECH_EMOTIONS
    assert_onnx_matches_torch(rec, "speech_crnn1d", checkpoint.load(one_d)["model"])
    other = VoiceRecognizer(speech_model_from(two_d, tmp_path / "2d.onnx"), threads=1)
    both = VoiceRecognizer(speech_model_from([two_d, one_d], tmp_path / "both.onnx"), threads=1)
    assert both.meta.arch == "speech_crnn+speech_crnn1d"
    assert both.meta.params == rec.meta.params + other.meta.params
    x = speech_like(2.5, seed=5)
    p1, p2 = rec.predict(x, SR), other.predict(x, SR)
    assert np.abs(p1 - p2).max() > 1e-3  # two different networks
    np.testing.assert_allclose(both.predict(x, SR), (p1 + p2) / 2, atol=1e-5)


def test_a_model_file_joins_an_ensemble_each_network_weighing_the_same(tmp_path: Path) -> None:
    """A shipped model keeps no checkpoints: `emolens export PAIR.onnx C.pt` joins the file's graph
    with the checkpoint's network, a third each; an int8 member and other labels are refused."""
    from emolens.cli import main
    from emolens.export.speech import export_speech_checkpoint, is_speech_member, quantize_speech

    members = [speech_checkpoint(tmp_path / f"m{i}.pt", seed=i) for i in range(3)]
    singles = [VoiceRecognizer(speech_model_from(m, tmp_path / f"m{i}.onnx"), threads=1) for i, m in enumerate(members)]
    pair = speech_model_from(members[:2], tmp_path / "pair.onnx")
    assert is_speech_member(pair) and is_speech_member(members[2]) and not is_speech_member(tmp_path / "none.onnx")
    assert main(["export", str(pair), str(members[2]), "--out", str(tmp_path / "three.onnx"), "--name", "three"]) == 0
    three = VoiceRecognizer(tmp_path / "three.onnx", threads=1)
    assert three.meta.arch == "speech_crnn+speech_crnn+speech_crnn" and three.meta.name == "three"
    assert three.meta.params == 3 * singles[0].meta.params and three.meta.temperature == 1.0
    x = speech_like(2.5, seed=4)
    want = sum(s.predict(x, SR) for s in singles) / 3
    np.testing.assert_allclose(three.predict(x, SR), want, atol=1e-5)
    assert np.abs(three.predict(x, SR) - (singles[0].predict(x, SR) + singles[2].predict(x, SR)) / 2).max() > 1e-4
    int8 = quantize_speech(tmp_path / "m0.onnx", tmp_path / "m0-int8.onnx")
    with pytest.raises(ModelError, match="int8-dynamic; join float32 files"):
        export_speech_checkpoint([pair, int8], tmp_path / "bad.onnx")
    other = speech_checkpoint(tmp_path / "other.pt", labels=("calm", "angry"))
    with pytest.raises(ModelError, match="member 2 has other labels"):
        export_speech_checkpoint([pair, other], tmp_path / "bad.onnx")
    assert main(["export", str(pair), str(tmp_path / "none.pt"), "--out", str(tmp_path / "bad.onnx")]) != 0
    assert not (tmp_path / "bad.onnx").exists() and not list(tmp_path.glob(".bad.onnx*"))


def test_a_trimming_model_judges_the_sentence_not_the_silence_around_it(tmp_path: Path) -> None:
    """`--trim-db` (or a member trained with it) makes a model cut its input's silent ends before the
    features and before the crops: the same sentence in 0.3 s or 2 s of room noise gets the same
    probabilities; without trimming the silence changes them."""
    from emolens.cli import main
    from emolens.export.speech import export_speech_checkpoint

    plain, trimmed = speech_checkpoint(tmp_path / "a.pt", seed=1), speech_checkpoint(tmp_path / "b.pt", trim_db=40.0)
    assert main(["export", str(plain), "--out", str(tmp_path / "a.onnx"), "--trim-db", "40"]) == 0
    untrimmed = VoiceRecognizer(speech_model_from(plain, tmp_path / "a0.onnx"), threads=1)
    rec = VoiceRecognizer(tmp_path / "a.onnx", threads=1)
    assert rec.features.trim_db == 40.0 and untrimmed.features.trim_db is None
    sentence = speech_like(2.8, seed=8)
    rng = np.random.default_rng(0)

    def in_silence(before_s: float, after_s: float) -> np.ndarray:
        x = rng.normal(0, 1e-4, int((before_s + after_s) * SR) + len(sentence)).astype(np.float32)
        x[int(before_s * SR) : int(before_s * SR) + len(sentence)] += sentence
        return x

    near, far = in_silence(0.3, 0.3), in_silence(2.0, 1.5)
    for tta in ("none", "crops"):
        with_trim, without = VoiceRecognizer(rec.path, threads=1, tta=tta), VoiceRecognizer(untrimmed.path, tta=tta)
        moved = np.abs(with_trim.predict(far, SR) - with_trim.predict(near, SR)).max()
        moved_untrimmed = np.abs(without.predict(far, SR) - without.predict(near, SR)).max()
        assert moved < 0.2 * moved_untrimmed
    # members trained with and without trimming join only when the export says how the result trims
    with pytest.raises(ModelError, match="member 2 has other labels or feature settings"):
        export_speech_checkpoint([plain, trimmed], tmp_path / "bad.onnx")
    with pytest.raises(ModelError, match="member 2 has other labels or feature settings"):
        export_speech_checkpoint([untrimmed.path, trimmed], tmp_path / "bad.onnx")
    assert export_speech_checkpoint([plain, trimmed], tmp_path / "ab.onnx", trim_db=30.0).meta.features.trim_db == 30.0
    both = export_speech_checkpoint([untrimmed.path, trimmed], tmp_path / "ab2.onnx", trim_db=40.0)
    assert VoiceRecognizer(both.path).features.trim_db == 40.0
    assert main(["export", str(plain), "--out", str(tmp_path / "c.onnx"), "--trim-db", "5"]) != 0
    assert not (tmp_path / "c.onnx").exists() and not (tmp_path / "bad.onnx").exists()


def speech_model_from(checkpoints: Path | list[Path], out: Path) -> Path:
    from emolens.export.speech import export_speech_checkpoint

    return export_speech_checkpoint(checkpoints if isinstance(checkpoints, Path) else list(checkpoints), out).path


def test_voice_recognizer_is_public_and_lazy() -> None:
    import emolens

    assert "VoiceRecognizer" in emolens.__all__ and emolens.VoiceRecognizer is VoiceRecognizer


def test_a_profile_of_silence_or_of_the_wrong_kind_is_a_data_error() -> None:
    by_speaker = VoiceRecognizer("emolens-speech-ravdess-speaker", threads=1)
    with pytest.raises(DataError, match="utterance with sound"):
        by_speaker.profile([np.zeros(16000, np.float32), np.zeros(8000, np.float32)], 16000)
    tone = (0.1 * np.sin(np.linspace(0, 2000 * np.pi, 16000))).astype(np.float32)
    with pytest.raises(DataError, match="must be a SpeakerProfile"):
        by_speaker.predict(tone, 16000, profile="me")  # type: ignore[arg-type]


def with_partner(model: Path, partner: str, out: Path) -> Path:
    """A copy of ``model`` that names ``partner`` as its speaker-profile partner."""
    from emolens.runtime.metadata import PREFIX, set_props

    proto = onnx.load(str(model))
    set_props(proto, {p.key: p.value for p in proto.metadata_props} | {PREFIX + "partner": partner})
    onnx.save(proto, str(out))
    return out


def test_a_partner_joins_in_only_when_there_is_a_speaker_profile(
    model: Path, rec: VoiceRecognizer, tmp_path: Path
) -> None:
    spk_file = speech_model(tmp_path / "spk", feature_norm="speaker")
    (tmp_path / "pair").mkdir()
    spk_file.rename(tmp_path / "pair" / "voice-partner.onnx")
    pair = VoiceRecognizer(with_partner(model, "voice-partner", tmp_path / "pair" / "voice.onnx"), threads=1)
    spk = VoiceRecognizer(tmp_path / "pair" / "voice-partner.onnx", threads=1)
    assert pair.partner is not None and pair.uses_profile and pair.profile_features == spk.features
    assert not VoiceRecognizer(pair.path, threads=1, partner=False).uses_profile
    talk = np.concatenate([speech_like(3.0, seed=1, amp=0.2), np.zeros(2 * SR, np.float32), speech_like(3.0, seed=2)])
    utterance = talk[: 3 * SR]
    profile = pair.profile([talk[: 3 * SR], talk[5 * SR :]], SR)
    # a single clip without a profile: the file alone; with one: half the file, half the partner
    np.testing.assert_array_equal(pair.predict(utterance, SR), rec.predict(utterance, SR))
    both = (rec.predict(utterance, SR) + spk.predict(utterance, SR, profile)) / 2
    np.testing.assert_allclose(pair.predict(utterance, SR, profile), both, atol=1e-6)
    assert not np.allclose(both, rec.predict(utterance, SR), atol=1e-4)
    # a recording: the partner hears each speech window with the recording's own profile
    ours, alone, theirs = pair.windows(talk, SR), rec.windows(talk, SR), spk.windows(talk, SR)
    assert [w.label for w in ours if w.probs is None] == [w.label for w in alone if w.probs is None]
    for w, a, b in zip(ours, alone, theirs, strict=True):
        if w.probs is not None:
            np.testing.assert_allclose(w.probs, (a.probs + b.probs) / 2, atol=1e-6)  # type: ignore[operator]


def test_a_partner_that_cannot_serve_is_a_model_error(model: Path, tmp_path: Path) -> None:
    plain = speech_model(tmp_path / "plain")
    with pytest.raises(ModelError, match="does not normalise by speaker profiles"):
        VoiceRecognizer(with_partner(model, plain.name, tmp_path / "plain" / "pair.onnx"), threads=1)
    with pytest.raises(ModelError, match="'nobody' cannot be used"):
        VoiceRecognizer(with_partner(model, "nobody", tmp_path / "lonely.onnx"), threads=1)
    with pytest.raises(ModelError, match="not a file name"):
        VoiceRecognizer(with_partner(model, "../elsewhere", tmp_path / "far.onnx"), threads=1)
