"""A training method: a routing for the forward pass, the loss it builds, and how it turns that loss into gradients."""
from ..errors import InvalidType
from ..routing import JOINT, Routing, routed_loss


class Method:
    """Train with a given `Routing` and one `backward()`; subclasses may post-process gradients.

    `selection_metric` names the accuracy that selects checkpoints on validation and is reported as the
    method's test accuracy: `"fused"` for multimodal methods, a modality name for unimodal training.
    """

    name = "custom"
    selection_metric = "fused"
    accumulates = True  # the gradient is a sum over samples, so a batch can be back-propagated in parts

    def __init__(self, routing=JOINT, name=None):
        if not isinstance(routing, Routing):
            raise InvalidType(f"routing must be a minidgl.Routing, got {type(routing).__name__}")
        self.routing = routing
        if name is not None:
            self.name = name

    @property
    def needs_unimodal_logits(self):
        """Whether this method's loss or backward reads `Output.unimodal_logits` (else a step may skip them)."""
        return self.routing.alpha > 0

    @property
    def trains_all_parameters(self):
        """Whether every parameter gets a gradient at each step; if not, `DistributedDataParallel` must look for
        the unused ones. A routing leaves the encoders without one only if the fused loss may not reach them
        and the unimodal losses have weight 0."""
        return self.routing.mm_to_encoders or self.routing.alpha > 0

    def check(self, model):
        """Raise if this method cannot train `model` (e.g. it names a modality the model lacks)."""

    def losses(self, output, labels):
        """`Losses` of one batch from the network's `Output`."""
        return routed_loss(output, labels, self.routing)

    def backward(self, model, output, losses, labels, epoch):
        """Fill every parameter's `.grad` for this batch (`labels` `(batch,)`, `epoch` counted from 0) and return
        the step's statistics `{name: {modality: 0-d tensor}}` (empty when the method has none; read by `fit`
        once per epoch, never synced here). Default: one `backward()` of the routed loss.

        A method keeps no state between calls: everything a step needs comes in its arguments.
        """
        losses.total.backward()
        return {}

    def __repr__(self):
        return f"{type(self).__name__}({self.routing})"
