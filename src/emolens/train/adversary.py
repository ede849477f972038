"""A speaker adversary for speech training: the network learns emotion while unlearning who speaks.

A small classifier guesses the speaker from the network's pooled features (:meth:`SpeechCRNN.embed`)
through a *gradient reversal* (Ganin and Lempitsky, 2015): the classifier learns to tell the
training speakers apart, and the network receives the opposite of its gradient, so features that
identify a voice are pushed out of the ones emotion is judged on. Only training uses it; the
exported model is the network alone. The reversal's strength rises from 0 to ``weight`` over
the run (:func:`reversal_strength`), so the network first learns emotion at all.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, strength: float) -> torch.Tensor:
        ctx.strength = strength
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.strength * grad, None


def reverse_gradient(x: torch.Tensor, strength: float) -> torch.Tensor:
    """``x`` unchanged going forward; its gradient times ``-strength`` going back."""
    out: torch.Tensor = _Reverse.apply(x, strength)
    return out


def reversal_strength(progress: float, weight: float) -> float:
    """``weight * (2 / (1 + exp(-10 p)) - 1)`` at ``progress`` p in [0, 1] of the run: 0 at the start,
    0.76 of ``weight`` a fifth of the way in, ``weight`` at the end (Ganin and Lempitsky's schedule)."""
    p = min(max(progress, 0.0), 1.0)
    return weight * (2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0)


class SpeakerAdversary(nn.Module):
    """Pooled features -> gradient reversal -> a hidden layer -> one logit per training speaker."""

    def __init__(self, dim: int, speakers: int, hidden: int = 128) -> None:
        super().__init__()
        self.classify = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, speakers))

    def forward(self, features: torch.Tensor, strength: float) -> torch.Tensor:
        return self.classify(reverse_gradient(features.float(), strength))

    def loss(self, features: torch.Tensor, speakers: torch.Tensor, strength: float) -> tuple[torch.Tensor, int]:
        """Cross-entropy of the speaker guesses, and how many were right."""
        logits = self.forward(features, strength)
        return F.cross_entropy(logits, speakers), int((logits.argmax(1) == speakers).sum())
