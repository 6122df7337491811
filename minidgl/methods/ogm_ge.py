"""OGM-GE: on-the-fly gradient modulation with generalization enhancement (Peng, Wei et al., CVPR 2022).

Source: GeWu-Lab/OGM-GE_CVPR2022, `main.py` train_epoch. One backward pass of the fused
loss `L_mm` (joint routing); then, for each batch:

    s_m   = sum_i softmax(u_m(x_i))[y_i]            confidence of modality m alone on the batch
    rho_m = mean_{j != m} s_m / s_j                 (two modalities: rho_v = s_v / s_a, rho_a = s_a / s_v)
    k_m   = 1 - tanh(strength * rho_m) if rho_m > 1 else 1     (strength: the paper's and code's alpha)
    g     <- k_m * g + N(0, std(g) + 1e-8)          on encoder m's modulated tensors (noise: GE only)

`u_m` is modality m's contribution to the fused logits, as the fusion defines it (`Fusion.contribution`): for
concat fusion the authors' `W_m z_m + b / 2` (half the bias, their `fc_out.weight[:, :512]`, `+ bias / 2`);
for any other fusion, the fusion's own unimodal logits.

Under DistributedDataParallel the scores are summed over the ranks before the ratio (one process's ratio on the
global batch), and the noise is drawn from the global generator, which every rank seeds alike and advances alike
(`fit` seeds it), so all ranks add the same noise.
"""
import torch

from .. import distributed
from ..errors import InvalidValue
from ..routing import JOINT
from .base import Method


def coefficient(rho, strength):
    """Eq. 10: `k = 1 - tanh(strength * rho)` where `rho > 1`, else 1 (the paper writes alpha for `strength`);
    elementwise on a tensor `rho` of any shape."""
    return torch.where(rho > 1, 1 - torch.tanh(strength * rho), torch.ones_like(rho))


class OGMGE(Method):
    """Joint training whose dominant encoders' gradients are damped by `k = 1 - tanh(strength * rho)`.

    strength:  the modulation strength, the authors' `--alpha` (named apart from DGL's alpha, which weighs the
               unimodal losses). Authors' README: 0.1 on VGGSound, 0.8 on CREMA-D. Default 0.8: AV-Digits,
               like CREMA-D, is a small two-modality set with a few classes and a clearly dominant modality
               (VGGSound's 309 classes keep scores low and ratios near 1). Not tuned on AV-Digits.
    noise:     add the generalization-enhancement noise `N(0, std(g) + 1e-8)` (elementwise, std of the
               unscaled gradient tensor) after scaling, to every modulated tensor, including those with k = 1.
               `noise=False` is the authors' `OGM` variant.
    start, end: modulate (scale and noise) only for epochs `start <= epoch <= end`; outside, the step is
               plain joint training. Authors' defaults 0 and 50 (`--modulation_starts/_ends`).
    min_ndim:  modulate encoder parameters with at least this many dimensions. The authors modulate only
               4-D convolution weights of their ResNet-18s, i.e. every weight and none of the BatchNorm
               scales/shifts (their convolutions have no bias). The default 2 keeps that set on a ResNet-18
               and extends it to the linear weights of MLP encoders, which would otherwise get no modulation
               at all; biases and norm parameters are left alone as in the authors' code. 4 is their rule.

    With more than two modalities `rho_m` averages modality m's one-to-other ratios `s_m / s_j` over the other
    modalities, as the authors' maintainers suggest (GeWu-Lab/OGM-GE_CVPR2022#16: "calculate the one-to-others
    discrepancy ratios pair-wise, then average the results"), so several modalities may be damped at once. With
    exactly two it is the authors' ratio; at a tie (rho = 1) the authors' `else` branch damps audio, minidgl damps
    neither (Eq. 10 asks for rho > 1).

    Each step reports `{"rho": {m: rho_m}, "k": {m: k_m}}` (outside the epoch window k is still computed and
    reported, but not applied); `fit` keeps them in `History.method_steps` and their epoch means in
    `History.method_stats`.
    """

    name = "ogm-ge"
    accumulates = False  # its rule reads each batch's gradients as a whole

    def __init__(self, strength=0.8, noise=True, start=0, end=50, min_ndim=2):
        super().__init__(JOINT)
        if not strength >= 0:
            raise InvalidValue(f"OGM-GE's strength scales tanh(strength * rho) and must be >= 0, got {strength}")
        if not 0 <= start <= end:
            raise InvalidValue(f"OGM-GE modulates for epochs start <= epoch <= end; need 0 <= start <= end, "
                               f"got start={start}, end={end}")
        if min_ndim < 1:
            raise InvalidValue(f"min_ndim must be >= 1 (4: the authors' conv weights only), got {min_ndim}")
        self.strength, self.noise, self.start, self.end, self.min_ndim = strength, noise, start, end, min_ndim

    @torch.no_grad()
    def unimodal_scores(self, model, output, labels):
        """`{m: s_m}`: summed softmax probability of the true class from modality m's contribution, a 0-d tensor."""
        scores = {}
        for m in model.modalities:
            probs = model.fusion.contribution(output.features, m).float().softmax(dim=1)
            scores[m] = probs.gather(1, labels[:, None]).sum()
        return scores

    @torch.no_grad()
    def coefficients(self, scores):
        """`(rho, k)`, dicts of 0-d tensors: discrepancy ratio and gradient coefficient per modality."""
        if len(scores) == 2:  # s_m / s_other, with the denominator computed as before: runs repeat bit for bit
            total = sum(scores.values())
            rho = {m: s / (total - s) for m, s in scores.items()}
        else:
            others = len(scores) - 1
            rho = {m: sum(s / t for n, t in scores.items() if n != m) / others for m, s in scores.items()}
        k = {m: coefficient(r, self.strength) for m, r in rho.items()}
        return rho, k

    def backward(self, model, output, losses, labels, epoch):
        losses.total.backward()
        scores = self.unimodal_scores(model, output, labels)
        rho, k = self.coefficients(dict(zip(scores, distributed.summed(scores.values()))))
        if self.start <= epoch <= self.end:
            self.modulate(model, k)
        return {"rho": rho, "k": k}

    @torch.no_grad()
    def modulate(self, model, k):
        """Scale encoder m's modulated gradients by `k[m]` and, with `noise`, add `N(0, std(g) + 1e-8)`."""
        for m, encoder in model.encoders.items():
            for p in encoder.parameters():
                if p.grad is None or p.ndim < self.min_ndim:
                    continue
                if self.noise:
                    std = p.grad.std() + 1e-8
                    p.grad.mul_(k[m]).add_(torch.randn_like(p.grad) * std)
                else:
                    p.grad.mul_(k[m])

    def __repr__(self):
        return (f"{type(self).__name__}(strength={self.strength}, noise={self.noise}, start={self.start}, "
                f"end={self.end}, min_ndim={self.min_ndim})")


class OGM(OGMGE):
    """OGM-GE without the noise: gradient scaling only (the authors' `--modulation OGM`)."""

    name = "ogm"

    def __init__(self, strength=0.8, start=0, end=50, min_ndim=2):
        super().__init__(strength=strength, noise=False, start=start, end=end, min_ndim=min_ndim)
