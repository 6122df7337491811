"""MMPareto: Pareto integration of multimodal and unimodal gradients on each encoder (Wei & Hu, ICML 2024).

Source: GeWu-Lab/MMPareto_ICML2024, `code/MMPareto.py` train_epoch and `code/min_norm_solvers.py`.
Losses `L_mm + sum_m L_m` (the uniform routing). For each encoder m, with g_mm its gradient of `L_mm` and
g_m its gradient of `L_m`:

    cos(g_mm, g_m) > 0:  (a1, a2) = (0.5, 0.5)
    otherwise:           (a1, a2) = min-norm point of {g_mm, g_m}   (a1 = <g_m, g_m - g_mm> / |g_mm - g_m|^2)
    per tensor p:        h_p = 2 a1 g_mm_p + 2 a2 g_m_p,  s_p = |g_mm_p + g_m_p|
                         grad_p = gamma * max(1, s_p / |h_p|) * h_p           (gamma = 1.5)

The fusion module keeps the plain gradient of `L_mm + sum_m L_m`.

Differences from the authors' code, by design: they run four backward passes (three retained ones for
g_mm, g_a, g_v, then the sum); minidgl runs two, `autograd.grad` of `L_mm` on the encoders and one backward
of the sum, and takes g_m = grad(sum) - g_mm on encoder m. That identity holds because every other
modality's unimodal logits do not depend on encoder m (they see zeros or themselves in its place). The
authors' unimodal logits come from separate heads `head_audio`, `head_video`; minidgl's from the shared
fusion with the other modalities zeroed, so the head also learns from the unimodal losses.

Cost: with F a forward pass and B a backward pass through all encoders, the authors' step costs about F + 3B
(L_mm's pass and the sum's pass cross every encoder, L_a and L_v one encoder each); this one F + 2B. Two
vector-Jacobian products per encoder are unavoidable (the rule needs g_mm and g_m tensor by tensor), so the
saving is bounded near (F + 2B) / (F + 3B), about 0.7 when B = 2F (benchmarks/step_cost.py).

Under DistributedDataParallel the backward of the sum gives every rank the averaged gradient, but `autograd.grad`
passes no DDP hook: g_mm is averaged over the ranks (`distributed.averaged`) before the rule, so that every rank
combines the gradients of the whole global batch, as one process would.
"""
import torch
import torch.nn.functional as F

from .. import distributed
from ..errors import InvalidValue
from ..routing import UNIFORM
from .base import Method


def pareto_weight(g_mm, g_uni):
    """`(a1, cos)`: the weight of `g_mm` (`a2 = 1 - a1`) and the cosine of two flat gradients `(n,)`, 0-d tensors.

    `a1 = 0.5` when the cosine is positive; else the two-task min-norm solution with the authors' corner cases
    (0.999 when <g_mm, g_uni> >= |g_mm|^2, 0.001 when <g_mm, g_uni> >= |g_uni|^2).
    """
    cos = F.cosine_similarity(g_mm, g_uni, dim=0)
    d11, d12, d22 = g_mm @ g_mm, g_mm @ g_uni, g_uni @ g_uni
    min_norm = (d22 - d12) / (d11 + d22 - 2 * d12).clamp_min(torch.finfo(d11.dtype).tiny)
    min_norm = torch.where(d12 >= d11, 0.999, torch.where(d12 >= d22, 0.001, min_norm))
    return torch.where(cos > 0, 0.5, min_norm), cos


class MMPareto(Method):
    """Uniform multitask losses; each encoder's gradient is MMPareto's conflict-free, rescaled combination.

    gamma: the magnitude boost, 1.5 hard-coded in the authors' `MMPareto.py`.
    Each step reports `{"cos": {m: ...}, "conflict": {m: ...}}`: the cosine between encoder m's multimodal and
    unimodal gradients, and 1.0 where it is <= 0 (the min-norm branch), else 0.0; `fit` keeps them per step
    in `History.method_steps` and their epoch means (the mean cosine, the share of conflicting steps) in
    `History.method_stats`.
    """

    name = "mmpareto"
    accumulates = False  # its rule reads each batch's gradients as a whole

    def __init__(self, gamma=1.5):
        super().__init__(UNIFORM)
        if not gamma > 0:
            raise InvalidValue(f"MMPareto's gamma scales the combined gradient and must be > 0, got {gamma}")
        self.gamma = gamma

    def backward(self, model, output, losses, labels, epoch):
        params = {m: [p for p in encoder.parameters() if p.requires_grad] for m, encoder in model.encoders.items()}
        flat_params = [p for ps in params.values() for p in ps]
        mm_grads = torch.autograd.grad(losses.fused, flat_params, retain_graph=True, allow_unused=True)
        mm_grads = distributed.averaged(mm_grads)  # autograd.grad fires no DistributedDataParallel hook
        losses.total.backward()
        mm_grads, stats = iter(mm_grads), {"cos": {}, "conflict": {}}
        for m, ps in params.items():
            pairs = [(p, g) for p, g in zip(ps, mm_grads) if p.grad is not None]
            if pairs:
                cos = self._combine([p for p, _ in pairs], [torch.zeros_like(p) if g is None else g for p, g in pairs])
                stats["cos"][m], stats["conflict"][m] = cos, (cos <= 0).float()
        return stats

    @torch.no_grad()
    def _combine(self, params, mm_grads):
        """Replace `p.grad` (the summed gradient) of one encoder's `params` by MMPareto's combination; returns
        the cosine of the encoder's multimodal and unimodal gradients (a 0-d tensor)."""
        totals = [p.grad for p in params]
        uni_grads = [t - g for t, g in zip(totals, mm_grads)]
        a1, cos = pareto_weight(torch.cat([g.flatten() for g in mm_grads]), torch.cat([g.flatten() for g in uni_grads]))
        for p, g_mm, g_uni, total in zip(params, mm_grads, uni_grads, totals):
            h = 2 * a1 * g_mm + 2 * (1 - a1) * g_uni
            s, h_norm = total.norm(), h.norm()
            boost = torch.where(s > h_norm, s / h_norm.clamp_min(torch.finfo(s.dtype).tiny), 1.0)
            p.grad = self.gamma * boost * h
        return cos

    def __repr__(self):
        return f"MMPareto(gamma={self.gamma})"
