"""The speaker adversary of speech training: a gradient reversal, its schedule, and a run that uses it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from audio_support import SR, assert_onnx_matches_torch, speech_like, write_audio, write_ravdess
from emolens.errors import DataError, EmolensError
from emolens.models.registry import create_model
from emolens.train.adversary import SpeakerAdversary, reversal_strength, reverse_gradient
from emolens.train.config import TrainConfig


def test_the_reversal_passes_values_and_turns_gradients_round() -> None:
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = reverse_gradient(x, 0.5)
    assert torch.equal(y, x)
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad is not None and torch.allclose(x.grad, torch.tensor([-0.5, -1.0, -1.5]))


def test_the_strength_rises_from_nothing_to_the_weight() -> None:
    values = [reversal_strength(p / 10, 2.0) for p in range(11)]
    assert values[0] == 0.0 and all(a < b for a, b in zip(values, values[1:], strict=False))
    assert 1.99 < values[-1] <= 2.0 and reversal_strength(0.2, 1.0) == pytest.approx(0.7616, abs=1e-4)
    assert reversal_strength(-1.0, 1.0) == 0.0 and reversal_strength(5.0, 1.0) == reversal_strength(1.0, 1.0)


def test_the_adversary_learns_speakers_while_the_features_get_the_opposite_push() -> None:
    torch.manual_seed(0)
    features = torch.randn(64, 16)
    speakers = (features[:, 0] > 0).long()  # the speaker is plain to see in feature 0
    adversary = SpeakerAdversary(16, 2, hidden=8)
    opt = torch.optim.SGD(adversary.parameters(), lr=0.5)
    first = None
    for _ in range(60):
        loss, _ = adversary.loss(features, speakers, 1.0)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    loss, correct = adversary.loss(features, speakers, 1.0)
    assert float(loss.detach()) < 0.5 * first and correct >= 58
    f = features.clone().requires_grad_(True)
    adversary.loss(f, speakers, 1.0)[0].backward()
    plain = features.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(adversary.classify(plain), speakers).backward()
    assert f.grad is not None and plain.grad is not None and torch.allclose(f.grad, -plain.grad)


def _cfg(data: Path, out: Path, **kw: object) -> TrainConfig:
    base: dict[str, object] = dict(
        data=str(data), arch="speech_crnn", out=str(out), epochs=2, batch_size=8, lr=0.003, weight_decay=0.01,
        warmup_epochs=0.5, augment=False, progress=False, threads=1, crop_s=1.0, speaker_adversary=1.0,
    )  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_a_run_with_a_speaker_adversary_exports_the_network_alone_and_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.train import checkpoint
    from emolens.train.fit import fit

    data = write_ravdess(tmp_path / "ravdess", actors=(1, 2, 3, 19, 21))
    out = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="emolens"):
        fit(_cfg(data, out))
    assert "speaker adversary over 3 training speakers" in caplog.text
    assert "epoch 2 speaker adversary: strength" in caplog.text
    best = checkpoint.load(out / "best.pt")
    assert "helpers" not in best
    assert set(best["model"]) == set(create_model("speech_crnn", num_classes=8).state_dict())
    last = checkpoint.load(out / "last.pt")
    assert last["helpers"]["speaker_adversary"]["classify.2.weight"].shape == (3, 128)
    assert VoiceRecognizer(out / "best.onnx", threads=1).labels  # the exported file is an ordinary voice model
    fit(_cfg(data, out, epochs=3, resume=True))
    assert checkpoint.load(out / "last.pt")["epoch"] == 3
    with pytest.raises(EmolensError, match="trained with speaker_adversary, this run with none"):
        fit(_cfg(data, out, epochs=4, resume=True, speaker_adversary=0.0))


def test_a_1d_front_trains_with_the_adversary_and_exports(tmp_path: Path) -> None:
    """speech_crnn1d is trained like speech_crnn: the run's file is a voice model of that architecture
    whose checkpoint holds the 1-D front and no 2-D one."""
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.train import checkpoint
    from emolens.train.fit import fit

    data = write_ravdess(tmp_path / "ravdess", actors=(1, 2, 19, 21))
    out = tmp_path / "run"
    fit(_cfg(data, out, arch="speech_crnn1d", epochs=1))
    best = checkpoint.load(out / "best.pt")
    assert best["arch"] == "speech_crnn1d" and "helpers" not in best
    assert any(k.startswith("front.") for k in best["model"]) and not any(k.startswith("cnn.") for k in best["model"])
    rec = VoiceRecognizer(out / "best.onnx", threads=1)
    assert rec.meta.arch == "speech_crnn1d" and rec.predict(speech_like(2.0), SR).shape == (8,)


def test_attentive_statistics_pooling_trains_with_the_adversary_and_exports(tmp_path: Path) -> None:
    """speech_crnn_asp is trained like speech_crnn (the adversary sees its wider pooled features); its
    file matches torch on utterances of any length."""
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.train import checkpoint
    from emolens.train.fit import fit

    data = write_ravdess(tmp_path / "ravdess", actors=(1, 2, 19, 21))
    out = tmp_path / "run"
    fit(_cfg(data, out, arch="speech_crnn_asp", epochs=1, speaker_adversary=0.5))
    best = checkpoint.load(out / "best.pt")
    assert best["arch"] == "speech_crnn_asp" and best["model"]["head.1.weight"].shape == (8, 512)
    rec = VoiceRecognizer(out / "best.onnx", threads=1)
    assert rec.meta.arch == "speech_crnn_asp"
    assert_onnx_matches_torch(rec, "speech_crnn_asp", best["model"])


def test_the_delta_network_trains_and_exports(tmp_path: Path) -> None:
    """speech_crnn_delta computes its deltas inside the graph: the file keeps speech_crnn's features
    and matches torch on utterances of any length."""
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.train import checkpoint
    from emolens.train.fit import fit

    data = write_ravdess(tmp_path / "ravdess", actors=(1, 2, 19, 21))
    out = tmp_path / "run"
    fit(_cfg(data, out, arch="speech_crnn_delta", epochs=1))
    best = checkpoint.load(out / "best.pt")
    assert best["arch"] == "speech_crnn_delta" and best["model"]["cnn.0.0.weight"].shape == (32, 3, 3, 3)
    rec = VoiceRecognizer(out / "best.onnx", threads=1)
    assert rec.meta.arch == "speech_crnn_delta"
    assert_onnx_matches_torch(rec, "speech_crnn_delta", best["model"])


def test_deltas_are_the_regression_over_two_frames_each_side() -> None:
    import torch

    from emolens.models.speech import time_deltas, with_deltas

    rng = np.random.default_rng(3)
    c = rng.normal(size=(2, 1, 4, 9)).astype(np.float32)
    edged = np.concatenate([c[..., :1], c[..., :1], c, c[..., -1:], c[..., -1:]], axis=-1)
    expected = np.zeros_like(c)
    for t in range(c.shape[-1]):  # d_t = (c_t+1 - c_t-1 + 2 (c_t+2 - c_t-2)) / 10
        u = t + 2
        expected[..., t] = (edged[..., u + 1] - edged[..., u - 1] + 2 * (edged[..., u + 2] - edged[..., u - 2])) / 10
    with torch.no_grad():
        got = time_deltas(torch.from_numpy(c)).numpy()
        stacked = with_deltas(torch.from_numpy(c)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert stacked.shape == (2, 3, 4, 9)
    np.testing.assert_allclose(stacked[:, :1], c)
    np.testing.assert_allclose(stacked[:, 1:2], expected, atol=1e-6)
    ramp = torch.arange(12.0).view(1, 1, 1, 12)  # a steady rise of 1 a frame: slope 1 inside, none in its curvature
    inside = time_deltas(ramp)[..., 2:-2]
    torch.testing.assert_close(inside, torch.ones_like(inside))
    torch.testing.assert_close(time_deltas(time_deltas(ramp))[..., 4:-4], torch.zeros(1, 1, 1, 4))


def test_attentive_statistics_are_the_weighted_mean_and_deviation() -> None:
    import torch

    from emolens.models.speech import AttentiveStatsPool

    pool = AttentiveStatsPool(3)
    steady = torch.ones(1, 5, 3)
    varied = torch.tensor([[[1.0, 0.0, 2.0], [3.0, 0.0, -2.0]]])
    with torch.no_grad():
        for layer in pool.score:  # equal weights for every step
            if isinstance(layer, torch.nn.Linear):
                layer.weight.zero_()
                layer.bias.zero_()
        torch.testing.assert_close(
            pool(steady), torch.tensor([[1.0, 1.0, 1.0, 0.0032, 0.0032, 0.0032]]), atol=1e-4, rtol=0
        )
        torch.testing.assert_close(pool(varied), torch.tensor([[2.0, 0.0, 0.0, 1.0, 0.0032, 2.0]]), atol=1e-4, rtol=0)


def test_the_adversary_is_refused_where_it_cannot_work(tmp_path: Path) -> None:
    from emolens.train.fit import fit

    data = write_ravdess(tmp_path / "ravdess", actors=(1, 19))
    with pytest.raises(EmolensError, match="cannot be combined with --mixup"):
        fit(_cfg(data, tmp_path / "m", mixup=0.2))
    with pytest.raises(EmolensError, match="--speaker-adversary is for speech"):
        fit(_cfg(tmp_path / "faces", tmp_path / "f", arch="compact"))
    with pytest.raises(EmolensError, match="--speaker-adversary must lie in"):
        _cfg(data, tmp_path / "x", speaker_adversary=-1.0)
    folders = tmp_path / "own"  # files that do not name their speakers: their classes are no speakers
    for split in ("train", "val"):
        for code, name in ((1, "neutral"), (5, "angry")):
            (folders / split / name).mkdir(parents=True)
            write_audio(folders / split / name / "a.wav", speech_like(1.2, f0=90.0 + 40.0 * code))
    with pytest.raises(DataError, match="--speaker-adversary needs each file's speaker: 2 of 2 files"):
        fit(_cfg(folders, tmp_path / "o"))
    with pytest.raises(DataError, match="--feature-norm speaker needs each file's speaker"):
        fit(_cfg(folders, tmp_path / "p", speaker_adversary=0.0, feature_norm="speaker"))
    for split in ("train", "val"):  # one named speaker is not enough to learn who speaks
        for f in folders.glob(f"{split}/*/a.wav"):
            f.rename(f.with_name("ann__a.wav"))
    with pytest.raises(EmolensError, match="needs at least two training speakers"):
        fit(_cfg(folders, tmp_path / "q"))
