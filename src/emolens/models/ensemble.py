"""An ensemble as one network: several members on the same input, their probabilities averaged."""

from __future__ import annotations

import torch
from torch import nn


class MeanOfProbabilities(nn.Module):
    """``members`` (networks that return logits) on the same input; the mean of their softmax
    probabilities. Exported as one graph, it runs wherever a single model does."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = [net(x).softmax(dim=1) for net in self.members]
        total = probs[0]
        for p in probs[1:]:
            total = total + p
        return total / len(probs)


def probabilities_of(nets: list[nn.Module]) -> nn.Module:
    """The network to export for ``nets`` (each returning logits), in eval mode: one network's
    softmax, or the mean of several networks' probabilities."""
    model = nn.Sequential(nets[0], nn.Softmax(dim=1)) if len(nets) == 1 else MeanOfProbabilities(nets)
    return model.eval()
