"""A training method: a routing for the forward pass, the loss it builds, and how it turns that loss into gradients."""
import torch

from ..routing import JOINT, Routing, routed_loss


class Method:
    """Train with a given `Routing` and one `backward()`; subclasses may post-process gradients.

    `score` names the accuracy that selects checkpoints and is reported as the method's test accuracy:
    `"fused"` for multimodal methods, a modality name for unimodal training.
    """

    name = "custom"
    score = "fused"

    def __init__(self, routing=JOINT, name=None):
        if not isinstance(routing, Routing):
            raise TypeError(f"routing must be a minidgl.Routing, got {type(routing).__name__}")
        self.routing = routing
        if name is not None:
            self.name = name
        self._stat_sums, self._stat_counts, self._stat_steps = {}, {}, {}

    def check(self, model):
        """Raise if this method cannot train `model` (e.g. it names a modality the model lacks)."""

    def losses(self, output, labels):
        """`Losses` of one batch from the network's `Output`."""
        return routed_loss(output, labels, self.routing)

    def backward(self, model, output, losses, epoch):
        """Fill every parameter's `.grad` for this batch. Default: one `backward()` of the routed loss."""
        losses.total.backward()

    def record(self, key, value):
        """Add a 0-dim tensor to statistic `key`, on its device (no host sync inside the training step)."""
        self._stat_sums[key] = self._stat_sums.get(key, 0) + value.detach()
        self._stat_counts[key] = self._stat_counts.get(key, 0) + 1
        self._stat_steps.setdefault(key, []).append(value.detach())

    def epoch_stats(self):
        """Mean of each `record`ed statistic since the last call, as `{name: float}` (read once per epoch)."""
        stats = {key: float(total) / self._stat_counts[key] for key, total in self._stat_sums.items()}
        self._stat_sums, self._stat_counts = {}, {}
        return stats

    def step_stats(self):
        """Every `record`ed value of each statistic since the last call, in order, as `{name: [float]}`
        (one host sync per statistic; read once per epoch)."""
        steps = {key: torch.stack(values).float().tolist() for key, values in self._stat_steps.items()}
        self._stat_steps = {}
        return steps

    def __repr__(self):
        return f"{type(self).__name__}({self.routing})"
