"""A small convolutional-recurrent network for speech emotion: log-mel in, emotion logits out.

Log-mel (B, 1, n_mels, T) -> four convolution blocks (3x3, BatchNorm, ReLU, max-pooling; the
frequency axis pooled 16-fold, time 4-fold: 40 ms a step) -> a linear projection per time step
-> a bidirectional LSTM over time -> attention pooling (a learned score per step, softmax over
time, the weighted mean of the LSTM's outputs) -> dropout -> classes. Any number of frames of 4
or more; ONNX export keeps the time axis dynamic.

With ``pitch_rows`` (models whose features have ``pitch=True``), the input's last rows are not mel
bands but per-frame pitch features: they bypass the convolutions, are averaged over the same 4
frames as a convolution step, and join its features before the projection.

``speech_crnn_asp`` pools with attentive statistics instead (Okabe et al., 2018): the same learned
weights per step give both the weighted mean of the LSTM's outputs and their weighted standard
deviation, so the head also sees how much the voice varies over the utterance, not only its
average (arousal shows in variability: of loudness, pitch, rate).

``speech_crnn_delta`` hears each band's rate of change too: before the convolutions the log-mel
gets two more channels, its delta and delta-delta over time (the regression over +-2 frames of
speech recognition's features, edges repeated), computed inside the network by fixed filters, so
the model file's feature settings and the NumPy extractor are those of ``speech_crnn`` (the 3-D
CRNN with attention of Chen et al., 2018, stacks the same three maps).

``speech_crnn1d`` is the same recurrent part after another convolutional front: the mel bands are
the channels of three 1-D convolutions over time (kernel 5, then 3 dilated by 2 and by 3, the last
one residual; time pooled 4-fold as above), so it hears every band at once instead of sliding one
small kernel up and down the spectrum. Its different view of the input is what an ensemble with
``speech_crnn`` networks can gain from.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from emolens.models.layers import init_weights
from emolens.models.registry import ModelConfig, register_model

TIME_STRIDE = 4
"""Frames per LSTM step (the convolutions' pooling over time)."""
FREQ_STRIDE = 16


def _block(cin: int, cout: int, pool: tuple[int, int]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(pool),
    )


class AttentionPool(nn.Module):
    """Weighted mean over time with weights softmax(v . tanh(W h_t))."""

    def __init__(self, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, D)
        w = torch.softmax(self.score(h), dim=1)
        return (w * h).sum(dim=1)


class AttentiveStatsPool(AttentionPool):
    """The attention-weighted mean and standard deviation over time, side by side: (B, T, D) -> (B, 2D)."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(self.score(h), dim=1)
        mean = (w * h).sum(dim=1)
        var = (w * h.square()).sum(dim=1) - mean.square()
        return torch.cat([mean, var.clamp_min(1e-5).sqrt()], dim=1)


DELTA_SPAN = 2
"""Frames each side of the regression that gives a delta: d_t = sum_n n (c_t+n - c_t-n) / (2 sum_n n^2)."""


def time_deltas(x: torch.Tensor) -> torch.Tensor:
    """The first differences of ``x`` (B, 1, F, T) over time by linear regression on +-:data:`DELTA_SPAN`
    frames, the first and last frames repeated beyond the edges; same shape as ``x``."""
    norm = 2 * sum(n * n for n in range(1, DELTA_SPAN + 1))
    taps = [n / norm for n in range(-DELTA_SPAN, DELTA_SPAN + 1)]
    kernel = torch.tensor(taps, dtype=x.dtype, device=x.device).view(1, 1, 1, -1)  # a constant in ONNX
    padded = nn.functional.pad(x, (DELTA_SPAN, DELTA_SPAN, 0, 0), mode="replicate")
    return nn.functional.conv2d(padded, kernel)


def with_deltas(x: torch.Tensor) -> torch.Tensor:
    """``x`` (B, 1, F, T) with its delta and delta-delta over time as two more channels: (B, 3, F, T)."""
    d = time_deltas(x)
    return torch.cat([x, d, time_deltas(d)], dim=1)


POOLINGS = ("attention", "stats")
"""How :class:`SpeechCRNN` pools its LSTM's outputs over time: :class:`AttentionPool` or :class:`AttentiveStatsPool`."""


class SpeechCRNN(nn.Module):
    def __init__(
        self,
        num_classes: int = 8,
        n_mels: int = 64,
        widths: tuple[int, int, int, int] = (32, 64, 128, 128),
        hidden: int = 128,
        dropout: float = 0.3,
        pitch_rows: int = 0,
        pooling: str = "attention",
        deltas: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if n_mels % FREQ_STRIDE:
            raise ValueError(f"n_mels must be a multiple of {FREQ_STRIDE}, got {n_mels}")
        self.n_mels, self.pitch_rows, self.deltas = n_mels, pitch_rows, deltas
        pools = ((2, 2), (2, 2), (2, 1), (2, 1))
        chans = (3 if deltas else 1, *widths)
        self.cnn = nn.Sequential(*(_block(chans[i], chans[i + 1], pools[i]) for i in range(4)))
        self.proj = nn.Sequential(
            nn.Linear(widths[-1] * (n_mels // FREQ_STRIDE) + pitch_rows, hidden), nn.ReLU(inplace=True)
        )
        self.drop = nn.Dropout(dropout * 0.5)
        self.rnn = nn.LSTM(hidden, hidden, batch_first=True, bidirectional=True)
        self.pool = AttentionPool(2 * hidden) if pooling == "attention" else AttentiveStatsPool(2 * hidden)
        classifier = nn.Linear(2 * hidden * (1 if pooling == "attention" else 2), num_classes)
        self.head = nn.Sequential(nn.Dropout(dropout), classifier)
        init_weights(self, linear="kaiming")
        nn.init.normal_(classifier.weight, 0, 0.01)

    @property
    def embed_dim(self) -> int:
        """Width of :meth:`embed`'s output."""
        return self.rnn.hidden_size * (4 if isinstance(self.pool, AttentiveStatsPool) else 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(x))

    def classify(self, e: torch.Tensor) -> torch.Tensor:
        """Class logits from :meth:`embed`'s features."""
        with torch.autocast(device_type="cpu", enabled=False):  # the head in float32, as the LSTM
            return self.head(e)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The utterance's pooled features (B, :attr:`embed_dim`), float32: what the head classifies."""
        h = self.drop(self.proj(self.steps(x)))  # (B, T', hidden)
        # the recurrent part in float32 also under bf16 autocast (LSTM kernels take one dtype)
        with torch.autocast(device_type="cpu", enabled=False):
            h, _ = self.rnn(h.float())
            return self.pool(h)

    def steps(self, x: torch.Tensor) -> torch.Tensor:
        """The convolutional front's features per LSTM step (B, T', D), before the projection."""
        mel = x[:, :, : self.n_mels] if self.pitch_rows else x
        h = self.cnn(with_deltas(mel) if self.deltas else mel)  # (B, C, F', T')
        h = h.permute(0, 3, 1, 2).flatten(2)  # (B, T', C * F')
        if self.pitch_rows:
            p = nn.functional.avg_pool1d(x[:, 0, self.n_mels :], TIME_STRIDE)  # (B, P, T')
            h = torch.cat([h, p.transpose(1, 2).to(h.dtype)], dim=2)
        return h


class SpeechCRNN1d(SpeechCRNN):
    """:class:`SpeechCRNN` with a front of 1-D convolutions over time whose input channels are the bands."""

    def __init__(
        self,
        num_classes: int = 8,
        n_mels: int = 64,
        width: int = 256,
        hidden: int = 128,
        dropout: float = 0.3,
        pitch_rows: int = 0,
    ) -> None:
        # the 2-D front is built and dropped, so that the random initialisation of the runs that
        # trained the shipped networks (checkpoints/speech-1d-s*) is reproduced by their commands
        super().__init__(num_classes, n_mels=n_mels, hidden=hidden, dropout=dropout)
        self.pitch_rows = pitch_rows  # pitch rows are more input channels here
        del self.cnn
        self.front = nn.Sequential(
            nn.Conv1d(n_mels + pitch_rows, width, 5, padding=2, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(2),
            nn.Conv1d(width, width, 3, padding=2, dilation=2, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(2),
        )
        self.residual = nn.Sequential(
            nn.Conv1d(width, width, 3, padding=3, dilation=3, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
        )
        self.proj = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(inplace=True))
        init_weights(self, linear="kaiming")
        classifier = self.head[1]
        assert isinstance(classifier, nn.Linear)
        nn.init.normal_(classifier.weight, 0, 0.01)

    def steps(self, x: torch.Tensor) -> torch.Tensor:
        h = self.front(x[:, 0])  # (B, F, T) -> (B, C, T')
        return (h + self.residual(h)).transpose(1, 2)


SPEECH_CONFIG = ModelConfig(
    input_size=64,
    channels=1,
    mean=0.0,
    std=1.0,
    description="speech: log-mel -> 4 conv blocks -> BiLSTM -> attention pooling (~0.6M parameters)",
    input_kind="audio",
)
"""``input_size`` is the number of mel bands it is built for by default; the model file's
feature settings (:class:`emolens.audio.features.FeatureConfig`) are what count."""


@register_model("speech_crnn", SPEECH_CONFIG)
def speech_crnn(num_classes: int = 8, n_mels: int = 64, pitch_rows: int = 0) -> nn.Module:
    """Speech CRNN: log-mel -> CNN -> BiLSTM -> attention pooling."""
    return SpeechCRNN(num_classes, n_mels=n_mels, pitch_rows=pitch_rows)


SPEECH_ASP_CONFIG = replace(
    SPEECH_CONFIG,
    description="speech: log-mel -> 4 conv blocks -> BiLSTM -> attentive statistics pooling (~0.6M parameters)",
)


@register_model("speech_crnn_asp", SPEECH_ASP_CONFIG)
def speech_crnn_asp(num_classes: int = 8, n_mels: int = 64, pitch_rows: int = 0) -> nn.Module:
    """Speech CRNN pooling the weighted mean and standard deviation of its LSTM's outputs over time."""
    return SpeechCRNN(num_classes, n_mels=n_mels, pitch_rows=pitch_rows, pooling="stats")


SPEECH_DELTA_CONFIG = replace(
    SPEECH_CONFIG,
    description="speech: log-mel with its deltas and delta-deltas -> 4 conv blocks -> BiLSTM -> attention pooling (~0.6M parameters)",
)


@register_model("speech_crnn_delta", SPEECH_DELTA_CONFIG)
def speech_crnn_delta(num_classes: int = 8, n_mels: int = 64, pitch_rows: int = 0) -> nn.Module:
    """Speech CRNN whose convolutions see the log-mel and its delta and delta-delta over time."""
    return SpeechCRNN(num_classes, n_mels=n_mels, pitch_rows=pitch_rows, deltas=True)


SPEECH_1D_CONFIG = replace(
    SPEECH_CONFIG,
    description="speech: log-mel bands as channels -> 3 1-D conv blocks -> BiLSTM -> attention pooling (~0.7M parameters)",
)


@register_model("speech_crnn1d", SPEECH_1D_CONFIG)
def speech_crnn1d(num_classes: int = 8, n_mels: int = 64, pitch_rows: int = 0) -> nn.Module:
    """Speech CRNN with a 1-D front: the mel bands are the channels of convolutions over time."""
    return SpeechCRNN1d(num_classes, n_mels=n_mels, pitch_rows=pitch_rows)
