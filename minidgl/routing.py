"""Gradient routing: three knobs that decide where the multimodal and unimodal losses may send gradients.

    routing          multimodal loss -> encoders   unimodal losses -> fusion   unimodal weight alpha
    joint            yes                           (unused)                    0
    uniform          yes                           yes                         1
    DGL              no (fused on detached z)      no (detached head params)   alpha

`MultimodalNet.forward(inputs, routing)` applies the two detaches; `routed_loss` weighs the losses, so one
`backward()` trains every routing.
"""
import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import InvalidValue


@dataclass(frozen=True)
class Routing:
    """Where gradients may flow.

    mm_to_encoders: the multimodal (fused) loss back-propagates into the encoders.
    uni_to_fusion:  the unimodal losses back-propagate into the fusion module's parameters.
    alpha:          weight of the sum of unimodal losses, `L = L_mm + alpha * sum_m L_m`.
    """

    mm_to_encoders: bool = True
    uni_to_fusion: bool = True
    alpha: float = 0.0

    def __post_init__(self):
        alpha = self.alpha
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha < math.inf:
            raise InvalidValue(f"alpha weighs the unimodal losses and must be a finite number >= 0, got {alpha!r}")


JOINT = Routing(mm_to_encoders=True, uni_to_fusion=True, alpha=0.0)
UNIFORM = Routing(mm_to_encoders=True, uni_to_fusion=True, alpha=1.0)


def dgl_routing(alpha=1.0):
    """DGL's routing: encoders learn from `alpha * sum_m L_m` only, the fusion from `L_mm` only."""
    return Routing(mm_to_encoders=False, uni_to_fusion=False, alpha=alpha)


@dataclass
class Losses:
    """Scalar losses of one batch: `total` is what `backward()` is called on."""

    total: torch.Tensor
    fused: torch.Tensor
    unimodal: dict


def routed_loss(output, labels, routing):
    """`L_mm + alpha * sum_m L_m` (cross-entropy) from a forward pass made under `routing`.

    The detaches already happened in the forward pass, so this is a plain weighted sum.
    """
    fused = F.cross_entropy(output.fused_logits, labels)
    unimodal = {m: F.cross_entropy(z, labels) for m, z in output.unimodal_logits.items()}
    total = fused + routing.alpha * sum(unimodal.values()) if routing.alpha else fused
    return Losses(total=total, fused=fused, unimodal=unimodal)
