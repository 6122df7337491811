"""Fusion modules: features `{modality: (batch, dim)}` or token sequences -> logits `(batch, num_classes)`, fused or
unimodal.

An encoder returns either pooled features `(batch, dim)` or `Tokens`: `values` `(batch, n, dim)` with a padding
`mask` `(batch, n)` (True where a token is real), e.g. the cells of a feature map or the frames of a
variable-length clip. `AttentionFusion` takes both (a pooled vector is one token); the other fusions take
pooled features only and say so.

The fusion contract, which every fusion keeps and `Routing`, DGL, OGM-GE and MMPareto rely on:
  `fusion(features)`                fused logits from all modalities;
  `fusion(features, alone="audio")` unimodal logits of one modality. What "alone" means is the fusion's to
                                    define: by default the other modalities' features are replaced by zeros
                                    (right for fusions linear in each modality); a fusion may say otherwise,
                                    as the DGL authors' code does for sum, gated and bilinear fusion
                                    (shicaiwei123/ICCV2025-GDL, `models/fusion_modules.py`), and an attention
                                    fusion masks the other modalities' tokens rather than zero them (a zero
                                    token still takes softmax mass).
                                    Modality n's unimodal logits must not depend on any other modality's
                                    features (MMPareto's two-pass identity needs it; tests check it for every
                                    fusion);
  `fusion.contribution(features, m)` modality m's share of the fused logits, the score OGM-GE compares.
Modalities with distinct roles (which one gates, which one conditions) are named, never taken from the
order of a dict: `"gated:audio"` (audio gates the others), `"film:visual"` (visual conditions the others).
Every fusion takes any number of modalities; gated, FiLM and bilinear fusion need two or more.
"""
import itertools
from typing import NamedTuple

import torch
from torch import nn

from ..errors import InvalidType, InvalidValue


class Fusion(nn.Module):
    """Base class. Subclasses implement `fuse(features)`; they may override `fuse_alone(features, modality)`.

    `accepts_tokens`: whether the fusion reads token sequences (`minidgl.models.Tokens`); `accepts_maps`:
    whether it reads feature maps `(batch, channels, height, width)` (`minidgl.models.dense`) and only those.
    The others take pooled features `(batch, dim)` only; each refuses what it cannot read with a clear error.
    """

    min_modalities = 1
    accepts_tokens = False
    accepts_maps = False

    def __init__(self, feature_dims, num_classes):
        super().__init__()
        if len(feature_dims) < self.min_modalities:
            raise InvalidValue(f"{type(self).__name__} combines {self.min_modalities} or more modalities, got "
                               f"{len(feature_dims)} ({', '.join(feature_dims)}); use 'concat', 'sum' or "
                               f"'attention' for fewer")
        self.feature_dims = dict(feature_dims)
        self.num_classes = num_classes

    @property
    def modalities(self):
        return list(self.feature_dims)

    def forward(self, features, alone=None):
        if self.accepts_maps:
            for m, z in features.items():
                if not isinstance(z, torch.Tensor) or z.ndim != 4:
                    raise InvalidType(f"{type(self).__name__} takes feature maps (batch, channels, height, width), "
                                      f"but '{m}' gives {type(z).__name__} of shape "
                                      f"{tuple(getattr(z, 'shape', ()))}; use a map encoder such as 'cnn-maps'")
        elif not self.accepts_tokens:
            for m, z in features.items():
                if not isinstance(z, torch.Tensor) or z.ndim != 2:
                    raise InvalidType(f"{type(self).__name__} takes pooled features (batch, dim), but '{m}' gives "
                                      f"{type(z).__name__}; use fusion 'attention' for token sequences")
        if alone is None:
            return self.fuse(features)
        return self.fuse_alone(features, alone)

    def fuse(self, features):
        raise NotImplementedError

    def fuse_alone(self, features, modality):
        """Unimodal logits: the fusion applied with every other modality's features set to zero."""
        return self.fuse(zero_others(features, modality))

    def contribution(self, features, modality):
        """Modality `modality`'s share of the fused logits `(batch, classes)`, the score OGM-GE compares across
        modalities. Default: its unimodal logits."""
        return self.forward(features, alone=modality)


def zero_others(features, modality):
    """`features` `{m: tensor}` with every modality but `modality` replaced by zeros of the same shape (a new
    dict; `modality`'s tensor is the same object): the input of a fusion's default unimodal pass."""
    return {m: f if m == modality else torch.zeros_like(f) for m, f in features.items()}


class ConcatFusion(Fusion):
    """`W [z_1; ...; z_M] + b`. Alone: `W_m z_m + b`, exactly the authors' `fc_out(cat(x, 0))`."""

    def __init__(self, feature_dims, num_classes):
        super().__init__(feature_dims, num_classes)
        self.fc_out = nn.Linear(sum(self.feature_dims.values()), num_classes)

    def fuse(self, features):
        return self.fc_out(torch.cat([features[m] for m in self.feature_dims], dim=1))

    def contribution(self, features, modality):
        """`W_m z_m + b / M`: the OGM-GE authors' split of the fused logits (`+ bias / 2` for two modalities)."""
        weights = dict(zip(self.feature_dims, self.fc_out.weight.split(list(self.feature_dims.values()), dim=1)))
        weight = weights[modality]  # features in the weight's dtype: float32 under bfloat16 autocast, float64 too
        return features[modality].to(weight.dtype) @ weight.T + self.fc_out.bias / len(self.feature_dims)


class SumFusion(Fusion):
    """`sum_m (W_m z_m + b_m)`. Alone: `W_m z_m + b_m`, dropping the other modalities' biases (as the authors)."""

    def __init__(self, feature_dims, num_classes):
        super().__init__(feature_dims, num_classes)
        self.fc = nn.ModuleDict({m: nn.Linear(d, num_classes) for m, d in self.feature_dims.items()})

    def fuse(self, features):
        return sum(self.fc[m](features[m]) for m in self.feature_dims)

    def fuse_alone(self, features, modality):
        return self.fc[modality](features[modality])


class GatedFusion(Fusion):
    """The gate modality g (named) gates every other modality's projection, summed:
    `fc_out(sigmoid(fc_g(z_g)) * sum_{m != g} fc_m(z_m))`.

    The gated fusion of the balancing papers (OGM-GE's `GatedFusion`, after Kiela et al., "Efficient large-scale
    multi-modal classification", AAAI 2018) is two-modality; since `sigmoid(h_g) * sum_m h_m = sum_m sigmoid(h_g)
    * h_m`, this is that gate applied to each other modality and the gated terms summed, as sum fusion sums.
    With two modalities it is exactly the two-modality form `fc_out(sigmoid(fc_x(x)) * fc_y(y))`.

    Alone (the authors' self-gating, any modality, the gate included): `fc_out(sigmoid(fc_m(z)) * fc_m(z))` with
    the modality's own projection, so it depends on `z_m` only. Unlike the authors' code, which detaches *after*
    `fc_x`/`fc_y` so that both projections never train, minidgl detaches the encoder features *before* the
    fusion, so the projections learn from the fused loss.
    """

    min_modalities = 2

    def __init__(self, feature_dims, num_classes, gate, hidden=64):
        super().__init__(feature_dims, num_classes)
        self.gate, self.gated = _roles(self.modalities, gate, "gate")
        self.fc = nn.ModuleDict({m: nn.Linear(d, hidden) for m, d in self.feature_dims.items()})
        self.fc_out = nn.Linear(hidden, num_classes)

    def fuse(self, features):
        gated = sum(self.fc[m](features[m]) for m in self.gated)
        return self.fc_out(torch.sigmoid(self.fc[self.gate](features[self.gate])) * gated)

    def fuse_alone(self, features, modality):
        h = self.fc[modality](features[modality])
        return self.fc_out(torch.sigmoid(h) * h)


class FiLMFusion(Fusion):
    """Feature-wise linear modulation (Perez et al., AAAI 2018): `fc_out(gamma(y) * x + beta(y))`.

    The modality named `condition`, y, conditions every other one: `x = [z_1; ...; z_k]` is the concatenation of
    the other modalities' features (in the order of `feature_dims`), the "feature map" FiLM modulates feature by
    feature, so one `film` layer `(dim_y -> 2 * dim_x)` predicts every other modality's scale and shift. With two
    modalities it is exactly the two-modality form.

    Alone: zeroing. A conditioned modality alone sees `gamma`, `beta` fall back to their biases (and the other
    conditioned modalities' slots to their constant shift `beta`); the condition alone leaves `fc_out(beta(y))`.
    Either way the logits depend on the modality's own features only.
    """

    min_modalities = 2

    def __init__(self, feature_dims, num_classes, condition):
        super().__init__(feature_dims, num_classes)
        self.condition, self.conditioned = _roles(self.modalities, condition, "condition")
        width = sum(self.feature_dims[m] for m in self.conditioned)
        self.film = nn.Linear(self.feature_dims[self.condition], 2 * width)
        self.fc_out = nn.Linear(width, num_classes)

    def fuse(self, features):
        gamma, beta = self.film(features[self.condition]).chunk(2, dim=1)
        x = torch.cat([features[m] for m in self.conditioned], dim=1)
        return self.fc_out(gamma * x + beta)


class BilinearFusion(Fusion):
    """Outer-product fusion, the DGL authors' "FiLM", over every pair of modalities:
    `fc_out(fc(vec(sum_{i < j} z_i z_j^T)))`.

    Two modalities: exactly the authors' `fc_out(fc(vec(x y^T)))`. The full M-way outer product (Tensor Fusion,
    Zadeh et al., EMNLP 2017) grows as `dim^M`; minidgl keeps its second-order terms, every pair's bilinear
    interaction through one shared bilinear map `fc`, summed over pairs, as factorization machines do for
    pairs of fields (Rendle, ICDM 2010). Pairs follow the order of `feature_dims`; with two modalities swapping
    them permutes the inputs of `fc`, so no role is named.
    Alone (the authors' self-interaction): `fc_out(fc(vec(z z^T)))`, so every modality needs the same width.
    """

    min_modalities = 2

    def __init__(self, feature_dims, num_classes, hidden=64):
        super().__init__(feature_dims, num_classes)
        widths = set(self.feature_dims.values())
        if len(widths) != 1:
            raise InvalidValue(f"bilinear fusion's unimodal path needs equal feature widths, got {self.feature_dims}")
        width = widths.pop()
        self.fc = nn.Linear(width * width, hidden)
        self.fc_out = nn.Linear(hidden, num_classes)

    def _bilinear(self, pairs):
        outer = sum(torch.einsum("bi,bj->bij", a, b) for a, b in pairs)
        return self.fc_out(self.fc(outer.flatten(1)))

    def fuse(self, features):
        return self._bilinear((features[x], features[y]) for x, y in itertools.combinations(self.modalities, 2))

    def fuse_alone(self, features, modality):
        return self._bilinear([(features[modality], features[modality])])


class Tokens(NamedTuple):
    """A modality's token sequence: `values` `(batch, n, dim)`, `mask` `(batch, n)` bool (True: a real token)."""

    values: torch.Tensor
    mask: torch.Tensor

    @classmethod
    def unpadded(cls, values):
        """`Tokens` of `values` `(batch, n, dim)` in which every token is real."""
        return cls(values, torch.ones(values.shape[:2], dtype=torch.bool, device=values.device))

    def detach(self):
        return Tokens(self.values.detach(), self.mask)

    def pooled(self):
        """The mean of the real tokens, `(batch, dim)`."""
        weights = self.mask.to(self.values.dtype).unsqueeze(-1)
        return (self.values * weights).sum(1) / weights.sum(1).clamp_min(1)


def as_tokens(features):
    """`features` as `Tokens`: pooled `(batch, dim)` features become one token each."""
    if isinstance(features, Tokens):
        return features
    if isinstance(features, torch.Tensor) and features.ndim == 2:
        return Tokens.unpadded(features[:, None, :])
    raise InvalidType(f"features must be (batch, dim) or minidgl Tokens, got {type(features).__name__} of shape "
                      f"{tuple(getattr(features, 'shape', ()))}")


class AttentionFusion(Fusion):
    """A small transformer over every modality's tokens (Vaswani et al., 2017; as in multimodal bottleneck and
    token-fusion models): each modality's tokens are projected to `width` and tagged with a learned modality
    embedding, a learned class token is prepended, `layers` pre-norm encoder layers (`heads` heads, no
    dropout) mix them, and a linear head reads the class token.

    Alone: the sequence holds the class token and that modality's tokens only (the others masked out, never
    zeroed). No BatchNorm, so a unimodal pass changes no running statistics.
    """

    accepts_tokens = True

    def __init__(self, feature_dims, num_classes, width=64, heads=4, layers=1):
        super().__init__(feature_dims, num_classes)
        self.proj = nn.ModuleDict({m: nn.Linear(d, width) for m, d in self.feature_dims.items()})
        self.modality_embedding = nn.ParameterDict({m: nn.Parameter(torch.zeros(width)) for m in self.feature_dims})
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        for p in [*self.modality_embedding.values(), self.cls]:
            nn.init.normal_(p, std=0.02)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.fc_out = nn.Linear(width, num_classes)

    def _attend(self, features, present):
        first = as_tokens(features[present[0]])
        batch = first.values.shape[0]
        sequence = [self.cls.expand(batch, -1, -1)]
        keep = [torch.ones(batch, 1, dtype=torch.bool, device=first.mask.device)]
        for m in present:
            tokens = as_tokens(features[m])
            sequence.append(self.proj[m](tokens.values) + self.modality_embedding[m])
            keep.append(tokens.mask)
        hidden = self.encoder(torch.cat(sequence, dim=1), src_key_padding_mask=~torch.cat(keep, dim=1))
        return self.fc_out(self.norm(hidden[:, 0]))

    def fuse(self, features):
        return self._attend(features, self.modalities)

    def fuse_alone(self, features, modality):
        return self._attend(features, [modality])


from .dense import MMTMFusion  # noqa: E402 (dense.py builds on `Fusion`, defined above)

FUSIONS = {"concat": ConcatFusion, "sum": SumFusion, "gated": GatedFusion, "film": FiLMFusion,
           "bilinear": BilinearFusion, "attention": AttentionFusion, "mmtm": MMTMFusion}
ROLES = {"gated": "gate", "film": "condition"}  # fusions whose modalities play different parts: the named one


def _roles(modalities, named, role):
    """`(named, others)`: the modality `named` plays `role`; `others` lists the rest in the order given."""
    if named not in modalities:
        raise InvalidValue(f"the {role} must be one of the modalities {modalities}, got {named!r}")
    return named, [m for m in modalities if m != named]


def build_fusion(name, feature_dims, num_classes):
    """A fusion module by name (see `FUSIONS`) for encoders of widths `feature_dims` `{modality: dim}`.

    Gated and FiLM fusion name the modality with the distinct role: `"gated:<gate>"`, `"film:<condition>"`.
    """
    kind, _, named = name.partition(":")
    if kind not in FUSIONS:
        raise InvalidValue(f"unknown fusion '{name}'; choose one of {sorted(FUSIONS)} "
                           f"(gated and film as 'gated:<modality>', 'film:<modality>')")
    if kind in ROLES:
        if not named:
            raise InvalidValue(f"{kind} fusion needs the modality that plays its {ROLES[kind]}: write "
                               f"'{kind}:<modality>' with one of {list(feature_dims)}")
        return FUSIONS[kind](feature_dims, num_classes, **{ROLES[kind]: named})
    if named:
        raise InvalidValue(f"only {sorted(ROLES)} fusion name a modality, got '{name}'")
    return FUSIONS[kind](feature_dims, num_classes)
