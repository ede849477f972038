"""What defines a training run: :class:`TrainConfig` and its :class:`AugmentConfig`. No torch here.

``emolens train``'s options are built from :class:`TrainConfig`'s fields (:mod:`emolens.options`),
so the command line and ``emolens.train.fit.fit`` take the same names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emolens.errors import EmolensError


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; zero switches one off."""

    rotate_deg: float = 15.0
    scale: float = 0.15
    shift: float = 0.12
    hflip: bool = True
    erase_p: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.2)
    photometric_p: float = 0.0
    """Chance that each photometric change (brightness, contrast, blur, noise) hits an image; 0: none."""
    brightness: float = 0.25
    contrast: tuple[float, float] = (0.4, 1.6)
    blur_sigma: float = 1.5
    noise_std: float = 0.08


BALANCE_MODES = ("none", "weighted", "sampler")
PRECISIONS = ("auto", "bf16", "fp32")
DEVICES = ("auto", "cpu", "cuda")
LABEL_SETS = ("data", "ferplus")
SPEECH_FEATURE_NORMS = ("utterance", "speaker")
SPEECH_N_MELS = 64
"""The mel bands of a speech model's input unless ``--n-mels`` says otherwise."""
FREQ_WARP_MAX = 0.3
"""The widest ``--freq-warp``: factors from 0.7 to 1.3 (adult vocal tracts differ by about +-20%)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; saved as ``config.json`` beside the weights."""

    data: str = field(
        metadata={
            "help": "FER-2013 folder (train/, test/), fer2013.csv, or your own train/, val/, test/ with a folder per class"
        }
    )
    arch: str = field(default="vgg", metadata={"help": "architecture name (see 'emolens models --arch')"})
    out: str = field(default="runs/train", metadata={"help": "output folder for checkpoints, metrics and curves"})
    epochs: int = field(default=60, metadata={"help": ""})
    batch_size: int = field(default=128, metadata={"help": ""})
    lr: float = field(
        default=0.05,
        metadata={
            "help": "peak learning rate: of SGD with Nesterov momentum for faces, of AdamW for speech (try 0.002)"
        },
    )
    weight_decay: float = field(default=5e-4, metadata={"help": ""})
    warmup_epochs: float = field(default=2.0, metadata={"help": ""})
    label_smoothing: float = field(default=0.0, metadata={"help": ""})
    balance: str = field(default="none", metadata={"help": "class-imbalance handling", "choices": BALANCE_MODES})
    ferplus: str | None = field(default=None, metadata={"help": "ferplus.csv: train on FER+ vote distributions"})
    ferplus_weight: float = field(default=1.0, metadata={"help": "share of the FER+ distribution in the target"})
    label_set: str = field(
        default="data",
        metadata={
            "help": "data: the class folders; ferplus: FER+'s 8 emotions (with contempt) from the --ferplus votes",
            "choices": LABEL_SETS,
        },
    )
    """``data``: the class folders (FER-2013's labels); ``ferplus``: FER+'s eight emotions, trained on
    the vote distributions of the faces with a clear majority (needs ``ferplus``)."""
    teacher: str | None = field(
        default=None,
        metadata={
            "help": "distil: blend trained models' probabilities on the training faces or utterances into the "
            "targets (a bundled name or an .onnx file; several, comma-separated, are averaged)",
            "metavar": "MODEL[,MODEL]",
        },
    )
    """Models whose probabilities on the training faces or utterances (:mod:`emolens.train.teacher`) are
    blended into the targets; None: none."""
    teacher_weight: float = field(default=0.5, metadata={"help": "share of the teachers' probabilities in the target"})
    teacher_temperature: float = field(
        default=1.0, metadata={"help": "soften (above 1) or sharpen (below 1) the teachers' probabilities"}
    )
    augment: bool = field(default=True, metadata={"help": "no geometric augmentation"})
    photometric: float = field(
        default=0.0,
        metadata={
            "help": "chance of each photometric change per face: brightness, contrast, blur, noise (0: off)",
            "metavar": "P",
        },
    )
    """Chance of each photometric change (brightness, contrast, blur, noise) per face; 0: off."""
    mixup: float = field(default=0.0, metadata={"help": "mixup with Beta(ALPHA, ALPHA); 0: off", "metavar": "ALPHA"})
    cutmix: float = field(default=0.0, metadata={"help": "CutMix with Beta(ALPHA, ALPHA); 0: off", "metavar": "ALPHA"})
    ema: float = field(
        default=0.0,
        metadata={
            "help": "validate and keep a moving average of the weights with this decay; 0: off",
            "metavar": "DECAY",
        },
    )
    """Decay of an exponential moving average of the weights (e.g. 0.999); 0: off. When on, the
    average is what is validated and saved as best.pt."""
    precision: str = field(
        default="auto",
        metadata={
            "help": "bf16 autocast or float32; auto: bf16 only where the device has native bf16 (a CPU with "
            "AVX512-BF16 or AMX, a GPU from Ampere on)",
            "choices": PRECISIONS,
        },
    )
    device: str = field(
        default="auto",
        metadata={"help": "train on the CPU or a CUDA GPU; auto: the GPU when torch sees one", "choices": DEVICES},
    )
    seed: int = field(default=0, metadata={"help": ""})
    threads: int = field(default=0, metadata={"help": "torch threads (0 = torch's default)"})
    limit: int = field(default=0, metadata={"help": "train on a random subset of this many faces (0 = all)"})
    init: str | None = field(
        default=None,
        metadata={
            "help": "start from a trained model: a bundled name, an .onnx file or a checkpoint .pt (fine-tuning); the head is rebuilt for the data's classes",
            "metavar": "MODEL",
        },
    )
    freeze: int = field(default=0, metadata={"help": "do not train the first N convolutions", "metavar": "N"})
    resume: bool = field(default=False, metadata={"help": "continue from OUT/last.pt"})
    progress: bool = field(default=True, metadata={"help": "no progress bar"})
    crop_s: float = field(
        default=3.0,
        metadata={"help": "speech: longest random training crop in seconds (each batch: 2/3 of it to all of it)"},
    )
    feature_norm: str = field(
        default="utterance",
        metadata={
            "help": "speech: normalise loudness and log-mel per utterance, or per speaker (each speaker's usual level and "
            "spectrum; at run time a recording's or stream's)",
            "choices": SPEECH_FEATURE_NORMS,
        },
    )
    n_mels: int = field(
        default=SPEECH_N_MELS,
        metadata={
            "help": "speech: mel bands of the log-mel input (a multiple of 16; more resolve the voice's pitch finer)"
        },
    )
    pitch: bool = field(
        default=False,
        metadata={
            "help": "speech: give the network the voice's pitch too (voicing and pitch relative to the utterance's, per frame)"
        },
    )
    trim_db: float | None = field(
        default=None,
        metadata={
            "help": "speech: cut each utterance's leading and trailing silence (frames this many dB under its loudest; "
            "try 40) before the training crops and the features, in training and at run time (stored in the model)",
            "metavar": "DB",
        },
    )
    freq_warp: float = field(
        default=0.0,
        metadata={
            "help": "speech: warp the frequency axis of half the training crops by a random factor within 1 +- this "
            "(vocal tract length perturbation: the formants of shorter and longer vocal tracts; try 0.1; 0: off)",
            "metavar": "F",
        },
    )
    speaker_adversary: float = field(
        default=0.0,
        metadata={
            "help": "speech: train a speaker classifier on the network's features through a gradient reversal of "
            "this strength, so that they stop telling the training speakers apart (0: off)",
            "metavar": "W",
        },
    )
    """Strength of the speaker adversary (:mod:`emolens.train.adversary`); 0: off."""
    aug: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if self.balance not in BALANCE_MODES:
            raise EmolensError(f"unknown --balance {self.balance!r}; choose one of: {', '.join(BALANCE_MODES)}")
        if self.label_set not in LABEL_SETS:
            raise EmolensError(f"unknown --label-set {self.label_set!r}; choose one of: {', '.join(LABEL_SETS)}")
        if self.label_set == "ferplus" and not self.ferplus:
            raise EmolensError("--label-set ferplus needs --ferplus ferplus.csv (the votes)")
        if self.precision not in PRECISIONS:
            raise EmolensError(f"unknown --precision {self.precision!r}; choose one of: {', '.join(PRECISIONS)}")
        if self.device not in DEVICES:
            raise EmolensError(f"unknown --device {self.device!r}; choose one of: {', '.join(DEVICES)}")
        if not 0 <= self.ema < 1:
            raise EmolensError(f"--ema must lie in [0, 1), got {self.ema}")
        if self.mixup < 0 or self.cutmix < 0 or not 0 <= self.photometric <= 1:
            raise EmolensError("--mixup and --cutmix must be >= 0, --photometric in [0, 1]")
        if not 0 <= self.teacher_weight <= 1 or not self.teacher_temperature > 0:
            raise EmolensError("--teacher-weight must lie in [0, 1] and --teacher-temperature be positive")
        if self.feature_norm not in SPEECH_FEATURE_NORMS:
            raise EmolensError(
                f"unknown --feature-norm {self.feature_norm!r}; choose one of: {', '.join(SPEECH_FEATURE_NORMS)}"
            )
        if not (16 <= self.n_mels <= 256 and self.n_mels % 16 == 0):
            raise EmolensError(f"--n-mels must be a multiple of 16 from 16 to 256, got {self.n_mels}")
        if self.trim_db is not None:
            from emolens.audio.features import TRIM_DB_RANGE  # NumPy: imported only when asked, not for --help

            lo, hi = TRIM_DB_RANGE
            if not lo <= self.trim_db <= hi:
                raise EmolensError(f"--trim-db must lie in [{lo:g}, {hi:g}] dB, got {self.trim_db}")
        if not 0 <= self.freq_warp <= FREQ_WARP_MAX:
            raise EmolensError(f"--freq-warp must lie in [0, {FREQ_WARP_MAX:g}], got {self.freq_warp}")
        if not 0 <= self.speaker_adversary <= 10:
            raise EmolensError(f"--speaker-adversary must lie in [0, 10], got {self.speaker_adversary}")
        if not 0.5 <= self.crop_s <= 30:
            raise EmolensError(f"--crop-s must lie in [0.5, 30] seconds, got {self.crop_s}")
        if self.epochs < 1 or self.batch_size < 1:
            raise EmolensError("--epochs and --batch-size must be at least 1")
