"""``emolens train --init``: start from a trained model (a shipped one, an .onnx file or a checkpoint).

Weights whose shapes match are copied. The last layer (the head) is rebuilt for the new label
set: rows of labels the old model knew are copied, new labels (contempt, say) start fresh, and
labels the data lacks are dropped. ONNX files store convolutions with their batch norm folded in;
they are read back into the architecture as the same convolutions followed by an identity batch
norm, and the result must give the ONNX model's probabilities to 1e-4 or it is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from emolens.errors import ModelError
from emolens.labels import EMOTIONS
from emolens.models.registry import create_model
from emolens.train import checkpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """Weights to start from: a state dict of ``arch`` predicting ``labels``."""

    name: str
    arch: str
    labels: tuple[str, ...]
    state: dict[str, torch.Tensor]


def _head(model: nn.Module) -> tuple[str, nn.Linear]:
    """The last linear layer: the one that gives one score per label."""
    last = None
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            last = (name, m)
    if last is None:
        raise ModelError(f"{type(model).__name__} has no linear output layer to rebuild")
    return last


def _from_checkpoint(path: Path) -> Source:
    state = checkpoint.load(path)
    if "model" not in state or "arch" not in state:
        raise ModelError(f"{path} is not an emolens training checkpoint (best.pt or last.pt)")
    labels = tuple(state.get("labels", EMOTIONS))
    return Source(str(path), state["arch"], labels, state["model"])


def _fill(
    net: nn.Module, convs: list[list[np.ndarray | None]], gemms: list[list[np.ndarray | None]], what: str
) -> None:
    """Copy ONNX convolutions (batch norm folded in) and linear layers, in graph order, into ``net``."""
    modules = list(net.modules())
    torch_convs = [m for m in modules if isinstance(m, nn.Conv2d)]
    torch_linears = [m for m in modules if isinstance(m, nn.Linear)]
    if len(torch_convs) != len(convs) or len(torch_linears) != len(gemms):
        raise ModelError(f"cannot read {what}: its layers do not match")
    with torch.no_grad():
        for conv, (w, *b) in zip(torch_convs, convs, strict=True):
            if w is None or tuple(w.shape) != tuple(conv.weight.shape):
                raise ModelError(f"cannot read {what}: a convolution's shape differs")
            conv.weight.copy_(torch.from_numpy(np.array(w, dtype=np.float32)))
            bias = (
                torch.from_numpy(np.array(b[0], dtype=np.float32))
                if b and b[0] is not None
                else torch.zeros(conv.out_channels)
            )
            bn = modules[modules.index(conv) + 1] if modules.index(conv) + 1 < len(modules) else None
            if (
                isinstance(bn, nn.BatchNorm2d)
                and bn.num_features == conv.out_channels
                and bn.running_mean is not None
                and bn.running_var is not None
            ):
                # the folded bias goes into an identity batch norm: (x - 0) / sqrt(1 - eps + eps) * 1 + bias
                bn.weight.fill_(1.0)
                bn.bias.copy_(bias)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
            elif conv.bias is not None:
                conv.bias.copy_(bias)
            elif b and b[0] is not None and np.abs(b[0]).max() > 0:
                raise ModelError(f"cannot read {what}: a convolution's bias has no place")
        for lin, (w, *b) in zip(torch_linears, gemms, strict=True):
            if w is None or tuple(w.shape) != tuple(lin.weight.shape):
                raise ModelError(f"cannot read {what}: a linear layer's shape differs")
            lin.weight.copy_(torch.from_numpy(np.array(w, dtype=np.float32)))
            if lin.bias is not None and b and b[0] is not None:
                lin.bias.copy_(torch.from_numpy(np.array(b[0], dtype=np.float32)))


def _members_of_onnx(model: str) -> list[Source]:
    """The networks of an exported float32 model, each as a :class:`Source`: one for a single
    network, one per member for an ensemble file (``arch`` ``"vgg+vgg"``: its members' layers come
    one member after the other in the graph). The networks' (mean) probabilities must match ONNX
    Runtime's to 1e-4, or the file is refused."""
    import onnx
    from onnx import numpy_helper

    from emolens.export.halfweights import widen_proto
    from emolens.models.bundled import resolve_model
    from emolens.runtime.recognizer import Recognizer

    path = resolve_model(model)
    rec = Recognizer(path, tta="none", temperature=1.0)
    if rec.meta.precision != "fp32":
        fp32 = path.with_name(path.name.replace("-int8.onnx", "-fp32.onnx"))
        if not fp32.is_file():
            raise ModelError(f"{path} is int8; start from its float32 model")
        path, rec = fp32, Recognizer(fp32, tta="none", temperature=1.0)
    proto = onnx.load(str(path))
    widen_proto(proto)  # weights stored in float16 (emolens.export.halfweights) read as float32
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    for node in proto.graph.node:  # weights the exporter shared between equal members reach them through Identity
        if node.op_type == "Identity" and node.input[0] in inits:
            inits[node.output[0]] = inits[node.input[0]]
    convs: list[list[np.ndarray | None]] = []
    gemms: list[list[np.ndarray | None]] = []
    for node in proto.graph.node:
        if node.op_type == "Conv":
            convs.append([inits.get(n) for n in node.input[1:]])
        elif node.op_type == "Gemm":
            args = [inits.get(n) for n in node.input[1:]]
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            w = args[0]
            gemms.append([w if trans_b else (w.T if w is not None else None), *args[1:]])
    archs = rec.meta.arch.split("+")
    nets: list[nn.Module] = []
    for i, arch in enumerate(archs):
        net = create_model(arch, num_classes=len(rec.labels)).eval()
        n_conv = sum(isinstance(m, nn.Conv2d) for m in net.modules())
        n_lin = sum(isinstance(m, nn.Linear) for m in net.modules())
        what = f"{path} into a {arch}" + (f" (member {i + 1} of {len(archs)})" if len(archs) > 1 else "")
        if len(convs) < n_conv or len(gemms) < n_lin:
            raise ModelError(f"cannot read {what}: its layers do not match")
        _fill(net, convs[:n_conv], gemms[:n_lin], what)
        convs, gemms = convs[n_conv:], gemms[n_lin:]
        nets.append(net)
    if convs or gemms:
        raise ModelError(f"cannot read {path} into {rec.meta.arch}: it has layers left over")
    faces = np.random.default_rng(0).integers(0, 256, (16, rec.meta.input_size, rec.meta.input_size), dtype=np.uint8)
    x = torch.from_numpy(rec.prepare(faces))
    with torch.no_grad():
        ours = torch.stack([torch.softmax(net(x), dim=1) for net in nets]).mean(0).numpy()
    diff = float(np.abs(ours - rec.run(x.numpy())).max())
    if diff > 1e-4:
        raise ModelError(f"cannot read {path} into {rec.meta.arch}: it differs from ONNX Runtime by {diff:.1e}")
    log.info("read %s into %s (max difference from ONNX Runtime %.1e)", path.name, rec.meta.arch, diff)
    if len(nets) == 1:
        return [Source(str(path), archs[0], rec.labels, nets[0].state_dict())]
    return [
        Source(f"{path} (member {i + 1})", arch, rec.labels, net.state_dict())
        for i, (arch, net) in enumerate(zip(archs, nets, strict=True))
    ]


def load_members(model: str) -> list[Source]:
    """The networks in ``model`` (a checkpoint .pt, an .onnx file or a bundled name): one, or
    each member of an ensemble file. ``emolens export`` takes them as ensemble members."""
    path = Path(model)
    if path.suffix == ".pt":
        if not path.is_file():
            raise ModelError(f"checkpoint not found: {path}")
        return [_from_checkpoint(path)]
    return _members_of_onnx(model)


def load_source(init: str) -> Source:
    """The weights named by ``--init``: an emolens checkpoint (.pt), an .onnx file or a bundled model name."""
    members = load_members(init)
    if len(members) > 1:
        raise ModelError(
            f"{init} is an ensemble of {len(members)} networks; --init starts from one network: "
            "give one of its members' checkpoints"
        )
    return members[0]


def initialize(model: nn.Module, arch: str, classes: tuple[str, ...], source: Source) -> dict[str, int]:
    """Copy ``source`` into ``model`` (``arch`` predicting ``classes``); the head is rebuilt by label.

    Returns counts: tensors copied, head rows copied, new labels.
    """
    if source.arch != arch:
        raise ModelError(f"--init {source.name} is a {source.arch} model; train it with --arch {source.arch}")
    head_name, head = _head(model)
    own = model.state_dict()
    copied = 0
    for key, value in source.state.items():
        if key.startswith(head_name + ".") or key not in own:
            continue
        if own[key].shape != value.shape:
            raise ModelError(f"--init {source.name}: {key} has shape {tuple(value.shape)}, not {tuple(own[key].shape)}")
        own[key] = value.clone()
        copied += 1
    model.load_state_dict(own)
    shared = [c for c in classes if c in source.labels]
    with torch.no_grad():
        for c in shared:
            i, j = classes.index(c), source.labels.index(c)
            head.weight[i] = source.state[f"{head_name}.weight"][j]
            if head.bias is not None and f"{head_name}.bias" in source.state:
                head.bias[i] = source.state[f"{head_name}.bias"][j]
    new = [c for c in classes if c not in source.labels]
    log.info(
        "started from %s: %d tensors, head rows for %s%s",
        source.name,
        copied,
        ", ".join(shared) or "no label",
        f"; new labels {', '.join(new)}" if new else "",
    )
    return {"tensors": copied, "head_rows": len(shared), "new_labels": len(new)}


def freeze_first_convs(model: nn.Module, n: int) -> list[nn.Module]:
    """Stop training the first ``n`` convolutions (and the batch norms after them); returns the
    batch norms, which must stay in eval mode so that their statistics stay as learnt."""
    if n <= 0:
        return []
    modules = list(model.modules())
    convs = [m for m in modules if isinstance(m, nn.Conv2d)]
    if n > len(convs):
        raise ModelError(f"--freeze {n}: the model has only {len(convs)} convolutions")
    frozen_bn: list[nn.Module] = []
    for conv in convs[:n]:
        for p in conv.parameters():
            p.requires_grad_(False)
        nxt = modules[modules.index(conv) + 1] if modules.index(conv) + 1 < len(modules) else None
        if isinstance(nxt, nn.BatchNorm2d):
            for p in nxt.parameters():
                p.requires_grad_(False)
            frozen_bn.append(nxt)
    return frozen_bn


def is_identity_bn(m: nn.Module) -> bool:
    """A batch norm as :func:`load_source` leaves it after reading folded ONNX weights."""
    return (
        isinstance(m, nn.BatchNorm2d)
        and m.running_mean is not None
        and m.running_var is not None
        and bool(torch.all(m.weight == 1))
        and bool(torch.all(m.running_mean == 0))
        and bool(torch.allclose(m.running_var, torch.full_like(m.running_var, 1.0 - m.eps)))
    )


@torch.no_grad()
def restore_batch_norm_statistics(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> int:
    """Give identity batch norms (read from folded ONNX weights) the statistics of real inputs.

    An identity batch norm computes ``z + b`` in eval mode, but in training it would normalise by
    the batch's statistics and lose the scale the folding put into the convolution. With the mean
    ``m`` and variance ``v`` of ``z`` over ``x`` (prepared inputs), ``weight = sqrt(v + eps)`` and
    ``bias = m + b`` keep eval mode exact and make training start from the same function.
    Returns the number of batch norms changed.
    """
    targets = [m for m in model.modules() if is_identity_bn(m)]
    if not targets:
        return 0
    sums: dict[nn.Module, list[torch.Tensor]] = {m: [] for m in targets}

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        z = inputs[0].float()
        sums[module].append(torch.stack([z.sum(dim=(0, 2, 3)), (z * z).sum(dim=(0, 2, 3))]))
        sums[module].append(torch.tensor([z.numel() / z.shape[1]]).expand(2, z.shape[1]))

    handles = [m.register_forward_hook(hook) for m in targets]
    was_training = model.training
    model.eval()
    try:
        for s in range(0, len(x), batch_size):
            model(x[s : s + batch_size])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    for m in targets:
        assert isinstance(m, nn.BatchNorm2d) and m.running_mean is not None and m.running_var is not None
        stats = torch.stack(sums[m][0::2]).sum(dim=0)
        count = float(torch.stack(sums[m][1::2])[:, 0, 0].sum())
        mean = stats[0] / count
        var = (stats[1] / count - mean * mean).clamp(min=0)
        bias = m.bias.detach().clone()
        m.running_mean.copy_(mean)
        m.running_var.copy_(var)
        m.weight.copy_(torch.sqrt(var + m.eps))
        m.bias.copy_(mean + bias)
    log.info("batch-norm statistics of %d imported layers taken from %d training faces", len(targets), len(x))
    return len(targets)
