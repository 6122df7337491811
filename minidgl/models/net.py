"""MultimodalNet: one encoder per modality, a fusion module, and a forward pass that applies a `Routing`;
`ModelConfig`, everything `build_model` needs to build the same network again, without the data."""
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.func import functional_call

from ..errors import InvalidType, InvalidValue, UnknownKey
from ..routing import JOINT
from ..runtime import seeded
from .encoders import build_encoder
from .fusion import build_fusion


@dataclass
class Output:
    """What the network computes for a batch.

    fused_logits:    `(batch, classes)` from the fusion of all modalities.
    unimodal_logits: `{modality: (batch, classes)}` from the same fusion with that modality alone (empty when
                     the forward pass was asked not to compute them).
    features:        `{modality: (batch, dim) or Tokens}` encoder outputs.
    """

    fused_logits: torch.Tensor
    unimodal_logits: dict
    features: dict


@dataclass(frozen=True)
class ModelConfig:
    """What `build_model` builds: `input_shapes` `{modality: per-sample shape}`, `num_classes`, the `encoder`
    (a name from `ENCODERS`, or `{modality: name}`), the `fusion` (a name from `FUSIONS`) and `feature_dim`.
    Plain data (`to_dict` / `from_dict`), so that a checkpoint can rebuild the network without the dataset."""

    input_shapes: dict
    num_classes: int
    encoder: object = "mlp"
    fusion: str = "concat"
    feature_dim: int = 64

    def __post_init__(self):
        object.__setattr__(self, "input_shapes", {m: tuple(s) for m, s in self.input_shapes.items()})

    @property
    def modalities(self):
        return list(self.input_shapes)

    def to_dict(self):
        return {**asdict(self), "input_shapes": {m: list(s) for m, s in self.input_shapes.items()}}

    @classmethod
    def from_dict(cls, config):
        return cls(**config)


class MultimodalNet(nn.Module):
    """`encoders` `{modality: nn.Module}` -> features -> `fusion` -> logits.

    `input_shapes` `{modality: per-sample shape}` lets the forward pass name the modality and the shape
    expected when a batch does not fit; a `None` dimension takes any size (e.g. the frames of a clip, which
    vary from batch to batch; within a batch, pad them and let the encoder return `Tokens` with a mask).
    `config` is the `ModelConfig` that built it (`build_model`), None for a network assembled by hand.
    """

    def __init__(self, encoders, fusion, input_shapes, config=None):
        super().__init__()
        if list(encoders) != fusion.modalities:
            raise InvalidValue(f"encoders {list(encoders)} and fusion modalities {fusion.modalities} differ")
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = fusion
        self.input_shapes = {m: tuple(s) for m, s in input_shapes.items()}
        self.config = config

    @property
    def modalities(self):
        return list(self.encoders)

    def forward(self, inputs, routing=JOINT, unimodal=True):
        """`inputs` `{modality: (batch, *input_shape)}` -> `Output`, with `routing`'s detaches applied:

        - not `routing.mm_to_encoders`: the fused logits see detached features;
        - not `routing.uni_to_fusion`: the unimodal logits use detached fusion parameters.
        `unimodal=False` skips the M unimodal passes through the fusion (`Output.unimodal_logits` is empty).
        """
        self.check_inputs(inputs)
        features = {m: encoder(inputs[m]) for m, encoder in self.encoders.items()}
        fusion_input = features if routing.mm_to_encoders else {m: z.detach() for m, z in features.items()}
        fused_logits = self.fusion(fusion_input)
        unimodal_logits = self.unimodal_logits(features, routing) if unimodal else {}
        return Output(fused_logits, unimodal_logits, features)

    def unimodal_logits(self, features, routing=JOINT):
        """`{m: (batch, classes)}`: the fusion with each modality of `features` alone, with fusion parameters
        detached unless `routing.uni_to_fusion`.

        The unimodal passes run on copies of the fusion's buffers, so that only the fused pass updates its
        BatchNorm running statistics: the M unimodal passes see zero-padded inputs, which are no sample of what
        the fusion reads at evaluation. A fusion without buffers computes exactly what it computed before.
        """
        state = {name: b.clone() for name, b in self.fusion.named_buffers()}
        if not routing.uni_to_fusion:
            state.update({name: p.detach() for name, p in self.fusion.named_parameters()})
        return {m: functional_call(self.fusion, state, (features,), {"alone": m}) for m in features}

    def check_inputs(self, inputs):
        """Raise a clear error when `inputs` does not match the modalities and shapes the model was built for."""
        if not isinstance(inputs, dict):
            raise InvalidType(f"inputs must be a dict {{modality: tensor}} with keys {self.modalities}, "
                              f"got {type(inputs).__name__}")
        if set(inputs) != set(self.encoders):
            missing = sorted(set(self.encoders) - set(inputs))
            extra = sorted(set(inputs) - set(self.encoders))
            raise UnknownKey(f"modalities do not match the model: it expects {self.modalities}; missing {missing}, "
                             f"unexpected {extra}. Build the model from the same dataset, or select its modalities "
                             f"with data.select(...)")
        sizes = {m: x.shape[0] for m, x in inputs.items()}
        if len(set(sizes.values())) > 1:
            raise InvalidValue(f"every modality needs the same batch size, got {sizes}")
        for m, x in inputs.items():
            expected = self.input_shapes[m]
            if x.ndim - 1 != len(expected) or any(e is not None and e != n for e, n in zip(expected, x.shape[1:])):
                raise InvalidValue(f"modality '{m}' has shape {tuple(x.shape)}; the model expects "
                                   f"(batch, {', '.join('any' if e is None else str(e) for e in expected)})")


def build_model(data, encoder="mlp", fusion="concat", feature_dim=64, seed=None):
    """A `MultimodalNet` fitted to `data` (`Splits` or `MultimodalDataset`: its modalities, shapes and classes),
    or built from a `ModelConfig` (then the other arguments are not used).

    `encoder` is a name from `ENCODERS` or a dict `{modality: name}`; `fusion` a name from `FUSIONS`.
    `seed`: initialise the weights from this seed (the same weights as `seed_everything(seed)` then
    `build_model(...)`), leaving the caller's random generators as they were; None draws from them.
    """
    if seed is not None:
        with seeded(seed):
            return build_model(data, encoder, fusion, feature_dim)
    config = data if isinstance(data, ModelConfig) else ModelConfig(data.input_shapes, data.num_classes, encoder,
                                                                    fusion, feature_dim)
    shapes = config.input_shapes
    kinds = config.encoder if isinstance(config.encoder, dict) else {m: config.encoder for m in shapes}
    if set(kinds) != set(shapes):
        raise UnknownKey(f"encoder choices name {sorted(kinds)}, but the data has modalities {list(shapes)}")
    encoders = {m: build_encoder(kinds[m], shapes[m], config.feature_dim) for m in shapes}
    head = build_fusion(config.fusion, {m: e.out_dim for m, e in encoders.items()}, config.num_classes)
    for m, e in encoders.items():
        if getattr(e, "returns_maps", False) != head.accepts_maps:
            raise InvalidValue(f"fusion '{config.fusion}' takes feature maps and encoder '{kinds[m]}' ({m}) returns "
                               f"pooled features; use encoder 'cnn-maps'" if head.accepts_maps else
                               f"encoder '{kinds[m]}' ({m}) returns feature maps, which only an intermediate fusion "
                               f"reads; use fusion 'mmtm' or encoder 'cnn'")
    return MultimodalNet(encoders, head, shapes, config)
