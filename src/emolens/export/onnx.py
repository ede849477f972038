"""Export a training checkpoint to ONNX, store its preprocessing, check parity with torch."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emolens.errors import ModelError
from emolens.io import AtomicFile, write_json
from emolens.runtime.metadata import DEFAULT_FRAMING, Framing, ModelMeta, set_props

if TYPE_CHECKING:
    import torch

    from emolens.models.registry import ModelConfig

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExportResult:
    path: Path
    meta: ModelMeta
    max_abs_diff: float


def export_checked(
    model: torch.nn.Module,
    dummy: torch.Tensor,
    out: Path,
    dynamic_axes: dict[str, dict[int, str]],
    props: dict[str, str],
    parity: Callable[[str], float],
) -> float:
    """Write ``model`` (in eval mode; traced on ``dummy``, input ``input``, output ``probs``) to ``out``
    as ONNX with the metadata ``props``, then measure with ``parity`` (given the written file) the
    largest difference of its probabilities from torch's. At :data:`PARITY_TOLERANCE` or more the
    export is refused and ``out`` left as it was. Returns the difference."""
    import onnx
    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    with AtomicFile(out) as atomic:
        tmp = str(atomic.path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter announces its own deprecation
            torch.onnx.export(
                model,
                (dummy,),
                tmp,
                input_names=["input"],
                output_names=["probs"],
                dynamic_axes=dynamic_axes,
                opset_version=17,
                dynamo=False,
            )
        model.eval()  # the exporter puts the modules back in the mode it found them in
        proto = onnx.load(tmp)
        set_props(proto, props)
        proto.producer_name = "emolens"
        onnx.save(proto, tmp)
        diff = parity(tmp)
        if diff >= PARITY_TOLERANCE:
            raise ModelError(
                f"ONNX Runtime and torch disagree by {diff:.2e} (tolerance {PARITY_TOLERANCE:g}); export refused"
            )
    return diff


def _input_of(cfg: ModelConfig) -> tuple[object, ...]:
    """What a network's input must be: members of one ensemble share it."""
    return (cfg.input_size, cfg.channels, cfg.mean, cfg.std)


def export_checkpoint(
    checkpoint: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    name: str | None = None,
    version: str = "1",
    tta: str = "none",
    framing: Framing = DEFAULT_FRAMING,
    parity_faces: np.ndarray | None = None,
) -> ExportResult:
    """Export ``checkpoint`` (a ``best.pt`` or ``last.pt`` of ``emolens train``) to ``out``; a
    sequence of several: their ensemble, one graph that averages the members' probabilities (they
    must share labels and input: size, channels, normalisation). A member may also be an exported
    float32 model (an ``.onnx`` file or a bundled name, read back as ``emolens train --init`` reads
    it; an int8 one by its float32 twin): its network without its calibration temperature; an
    ensemble file gives each of its networks, so a pair and a checkpoint make three members.

    The graph takes normalised faces (N, C, H, W) float32 and returns probabilities (N, 7).
    Label order and preprocessing go into the ONNX metadata. The export is checked against
    torch on ``parity_faces`` (uint8 (N, H, W); random faces when None) and refused if the
    probabilities differ by ``PARITY_TOLERANCE`` or more.
    """
    import torch
    from torch import nn

    from emolens.models.ensemble import probabilities_of
    from emolens.models.registry import create_model, model_config
    from emolens.runtime.recognizer import Recognizer
    from emolens.train.init import load_members

    paths = [Path(checkpoint)] if isinstance(checkpoint, (str, Path)) else [Path(c) for c in checkpoint]
    if not paths:
        raise ModelError("nothing to export: no checkpoint given")
    nets: list[nn.Module] = []
    archs: list[str] = []
    labels: tuple[str, ...] = ()
    # a checkpoint, or an exported model read back into torch as --init reads it (an ensemble file: each network)
    members = [member for path in paths for member in load_members(str(path))]
    for i, member in enumerate(members):
        arch = member.arch
        if i == 0:
            labels, mcfg = member.labels, model_config(arch)
        elif member.labels != labels or _input_of(model_config(arch)) != _input_of(mcfg):
            raise ModelError(
                f"ensemble member {i + 1} ({member.name}) has other labels or input settings than the first"
            )
        net = create_model(arch, num_classes=len(labels))
        net.load_state_dict(member.state)
        nets.append(net)
        archs.append(arch)
    model = probabilities_of(nets)
    meta = ModelMeta(
        name=name or "+".join(archs),  # an ensemble is named by its members' architectures
        version=version,
        arch="+".join(archs),
        labels=labels,
        input_size=mcfg.input_size,
        channels=mcfg.channels,
        mean=mcfg.mean,
        std=mcfg.std,
        tta=tta,
        params=sum(p.numel() for net in nets for p in net.parameters()),
        crop_margin=framing.crop_margin,
        crop_square=framing.crop_square,
        interpolation=framing.interpolation,
    )
    dummy = torch.zeros(1, mcfg.channels, mcfg.input_size, mcfg.input_size)

    def parity(path: str) -> float:
        faces = parity_faces
        if faces is None:
            faces = np.random.default_rng(0).integers(0, 256, (64, mcfg.input_size, mcfg.input_size), dtype=np.uint8)
        rec = Recognizer(path, tta="none")
        x = rec.prepare(faces)
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        got = rec.run(x)
        return float(np.abs(ref - got).max())

    out = Path(out)
    axes = {"input": {0: "batch"}, "probs": {0: "batch"}}
    diff = export_checked(model, dummy, out, axes, meta.to_props(), parity)
    log.info("exported %s -> %s (max |p_onnx - p_torch| = %.2e)", ", ".join(map(str, paths)), out, diff)
    write_json(out.with_suffix(".json"), {**meta.as_dict(), "members": len(nets), "parity_max_abs_diff": diff})
    return ExportResult(out, meta, diff)
