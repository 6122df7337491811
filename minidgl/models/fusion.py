"""Fusion modules: features `{modality: (batch, dim)}` -> logits `(batch, num_classes)`, fused or unimodal.

The fusion contract, which every fusion keeps and `Routing`, DGL, OGM-GE and MMPareto rely on:
  `fusion(features)`                fused logits from all modalities;
  `fusion(features, alone="audio")` unimodal logits of one modality. What "alone" means is the fusion's to
                                    define: by default the other modalities' features are replaced by zeros
                                    (right for fusions linear in each modality); a fusion may say otherwise,
                                    as the DGL authors' code does for sum, gated and bilinear fusion
                                    (shicaiwei123/ICCV2025-GDL, `models/fusion_modules.py`), and an attention
                                    fusion would mask the other modalities' tokens rather than zero them.
                                    Modality n's unimodal logits must not depend on any other modality's
                                    features (MMPareto's two-pass identity needs it; tests check it for every
                                    fusion);
  `fusion.contribution(features, m)` modality m's share of the fused logits, the score OGM-GE compares.
Modalities with distinct roles (which one gates, which one conditions) are named, never taken from the
order of a dict: `"gated:audio"` (audio gates the other), `"film:visual"` (visual conditions the other).
"""
import torch
from torch import nn
from ..errors import InvalidValue


class Fusion(nn.Module):
    """Base class. Subclasses implement `fuse(features)`; they may override `fuse_alone(features, modality)`."""

    max_modalities = None

    def __init__(self, feature_dims, num_classes):
        super().__init__()
        if self.max_modalities and len(feature_dims) > self.max_modalities:
            raise InvalidValue(f"{type(self).__name__} combines exactly {self.max_modalities} modalities, got "
                             f"{len(feature_dims)} ({', '.join(feature_dims)}); use 'concat' or 'sum' for more")
        self.feature_dims = dict(feature_dims)
        self.num_classes = num_classes

    @property
    def modalities(self):
        return list(self.feature_dims)

    def forward(self, features, alone=None):
        if alone is None:
            return self.fuse(features)
        return self.fuse_alone(features, alone)

    def fuse(self, features):
        raise NotImplementedError

    def fuse_alone(self, features, modality):
        """Unimodal logits: the fusion applied with every other modality's features set to zero."""
        return self.fuse({m: f if m == modality else torch.zeros_like(f) for m, f in features.items()})

    def contribution(self, features, modality):
        """Modality `modality`'s share of the fused logits `(batch, classes)`, the score OGM-GE compares across
        modalities. Default: its unimodal logits."""
        return self.forward(features, alone=modality)


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
        return features[modality].float() @ weights[modality].T + self.fc_out.bias / len(self.feature_dims)


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
    """Two modalities, `gate` (named) and the other, y: `fc_out(sigmoid(fc_gate(gate)) * fc_y(y))`.

    Alone (the authors' self-gating): `fc_out(sigmoid(fc_m(z)) * fc_m(z))` with the modality's own projection.
    Unlike the authors' code, which detaches *after* `fc_x`/`fc_y` so that both projections never train,
    minidgl detaches the encoder features *before* the fusion, so the projections learn from the fused loss.
    """

    max_modalities = 2

    def __init__(self, feature_dims, num_classes, gate, hidden=64):
        super().__init__(feature_dims, num_classes)
        self.gate, self.gated = _roles(self.modalities, gate, "gate")
        self.fc = nn.ModuleDict({m: nn.Linear(d, hidden) for m, d in self.feature_dims.items()})
        self.fc_out = nn.Linear(hidden, num_classes)

    def fuse(self, features):
        x, y = self.gate, self.gated
        return self.fc_out(torch.sigmoid(self.fc[x](features[x])) * self.fc[y](features[y]))

    def fuse_alone(self, features, modality):
        h = self.fc[modality](features[modality])
        return self.fc_out(torch.sigmoid(h) * h)


class FiLMFusion(Fusion):
    """Feature-wise linear modulation (Perez et al., 2018): `fc_out(gamma(y) * x + beta(y))`.

    The modality named `condition`, y, conditions the other, x. Alone: zeroing, so `gamma`, `beta` fall back to
    their biases when `x` is alone and `x = 0` leaves `fc_out(beta(y))` when `y` is alone.
    """

    max_modalities = 2

    def __init__(self, feature_dims, num_classes, condition):
        super().__init__(feature_dims, num_classes)
        self.condition, self.conditioned = _roles(self.modalities, condition, "condition")
        x, y = self.conditioned, self.condition
        self.film = nn.Linear(self.feature_dims[y], 2 * self.feature_dims[x])
        self.fc_out = nn.Linear(self.feature_dims[x], num_classes)

    def fuse(self, features):
        x, y = self.conditioned, self.condition
        gamma, beta = self.film(features[y]).chunk(2, dim=1)
        return self.fc_out(gamma * features[x] + beta)


class BilinearFusion(Fusion):
    """Outer-product fusion, the DGL authors' "FiLM": `fc_out(fc(vec(x y^T)))`.

    Symmetric in its two modalities (swapping them permutes the inputs of `fc`), so no role is named.
    Alone (the authors' self-interaction): `fc_out(fc(vec(z z^T)))`, so both modalities need the same width.
    """

    max_modalities = 2

    def __init__(self, feature_dims, num_classes, hidden=64):
        super().__init__(feature_dims, num_classes)
        dx, dy = self.feature_dims.values()
        if dx != dy:
            raise InvalidValue(f"bilinear fusion's unimodal path needs equal feature widths, got {self.feature_dims}")
        self.fc = nn.Linear(dx * dy, hidden)
        self.fc_out = nn.Linear(hidden, num_classes)

    def _outer(self, a, b):
        return self.fc_out(self.fc(torch.einsum("bi,bj->bij", a, b).flatten(1)))

    def fuse(self, features):
        x, y = self.modalities
        return self._outer(features[x], features[y])

    def fuse_alone(self, features, modality):
        return self._outer(features[modality], features[modality])


FUSIONS = {"concat": ConcatFusion, "sum": SumFusion, "gated": GatedFusion, "film": FiLMFusion,
           "bilinear": BilinearFusion}
ROLES = {"gated": "gate", "film": "condition"}  # fusions whose modalities play different parts: the named one


def _roles(modalities, named, role):
    """`(named, other)` for a two-modality fusion whose `role` is played by the modality `named`."""
    if named not in modalities:
        raise InvalidValue(f"the {role} must be one of the modalities {modalities}, got {named!r}")
    return named, next(m for m in modalities if m != named)


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
