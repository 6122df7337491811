"""Joint training, the uniform multitask sum, and unimodal training: the baselines DGL is measured against."""
import torch.nn.functional as F

from ..errors import UnknownKey
from ..routing import JOINT, UNIFORM, Losses
from .base import Method


class Joint(Method):
    """Plain joint training: `L_mm` alone, back-propagated through the fusion into every encoder."""

    name = "joint"

    def __init__(self):
        super().__init__(JOINT)


class Uniform(Method):
    """The uniform multitask sum `L_mm + sum_m L_m`, every gradient flowing everywhere (MMPareto's baseline)."""

    name = "uniform"

    def __init__(self):
        super().__init__(UNIFORM)


class Unimodal(Method):
    """Train one modality alone: its encoder plus the fusion's unimodal path (for concat, a linear head).

    The loss is that modality's unimodal cross-entropy; the other encoders receive no gradient.
    Checkpoints are selected, and results reported, on that modality's accuracy.
    """

    def __init__(self, modality):
        super().__init__(JOINT)
        self.modality = modality
        self.name = f"unimodal:{modality}"
        self.selection_metric = modality

    needs_unimodal_logits = True
    trains_all_parameters = False  # the other modalities' encoders get no gradient

    def check(self, model):
        if self.modality not in model.modalities:
            raise UnknownKey(f"unimodal training of '{self.modality}', but the model has modalities "
                             f"{model.modalities}")

    def losses(self, output, labels):
        unimodal = {m: F.cross_entropy(z, labels) for m, z in output.unimodal_logits.items()}
        return Losses(total=unimodal[self.modality], fused=F.cross_entropy(output.fused_logits, labels),
                      unimodal=unimodal)

    def __repr__(self):
        return f"Unimodal({self.modality!r})"
