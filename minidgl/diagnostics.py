"""Measurements of under-training: encoder gradient norms, attenuation factors, gradient cosines, linear probes."""
import torch
import torch.nn.functional as F

from .routing import JOINT


def encoder_grad_norms(model):
    """L2 norm of each encoder's whole current `.grad`, as `{modality: 0-dim tensor}` (0 where there is none)."""
    norms = {}
    for m, encoder in model.encoders.items():
        grads = [p.grad for p in encoder.parameters() if p.grad is not None]
        norms[m] = torch.nn.utils.get_total_norm(grads) if grads else \
            torch.zeros((), device=next(encoder.parameters()).device)
    return norms


def true_class_errors(output, labels):
    """`1 - p_y` per sample for the fused and each unimodal softmax: `{"fused": (batch,), modality: (batch,)}`.

    `1 - p_y` is the size of the error signal `|dL/df_y|` that cross-entropy sends back (ALGORITHMS.md 1.3).
    """
    def error(logits):
        return 1 - logits.float().softmax(dim=1).gather(1, labels[:, None]).squeeze(1)
    errors = {"fused": error(output.fused_logits)}
    errors.update({m: error(z) for m, z in output.unimodal_logits.items()})
    return errors


def attenuation_factors(output, labels, modality):
    """Per-sample `(1 - p_y) / (1 - q_y)`, `(batch,)`: how much of its own unimodal error signal encoder
    `modality` still receives through the fused loss (`p`: fused softmax, `q`: that modality's unimodal one).
    Below 1 means fusion attenuates the gradient; the theory says it is <= 1 whenever the other
    modalities alone already rank the true class first.
    """
    errors = true_class_errors(output, labels)
    return errors["fused"] / errors[modality].clamp_min(1e-12)


def loss_gradients(model, inputs, labels, modality):
    """Flat gradients `(num_params,)` of encoder `modality` from the fused loss and from its unimodal loss.

    Computed with `torch.autograd.grad` under joint routing; `.grad` fields are left untouched.
    Returns `(g_fused, g_unimodal)`.
    """
    params = [p for p in model.encoders[modality].parameters() if p.requires_grad]
    out = model(inputs, JOINT)
    g_fused = torch.autograd.grad(F.cross_entropy(out.fused_logits, labels), params, retain_graph=True)
    g_uni = torch.autograd.grad(F.cross_entropy(out.unimodal_logits[modality], labels), params)
    return torch.cat([g.flatten() for g in g_fused]), torch.cat([g.flatten() for g in g_uni])


def gradient_cosine(model, inputs, labels, modality):
    """Cosine between encoder `modality`'s gradients from the fused and from its unimodal loss (0-dim tensor).

    Negative values are the gradient conflict that motivates MMPareto.
    """
    g_fused, g_uni = loss_gradients(model, inputs, labels, modality)
    return F.cosine_similarity(g_fused, g_uni, dim=0)


@torch.no_grad()
def encode(model, dataset, modality, batch_size=512):
    """Features `(n, dim)` of `dataset` through the (frozen, eval-mode) encoder of `modality`."""
    encoder = model.encoders[modality]
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    features = torch.cat([encoder(x[modality].to(device)) for x, _ in dataset.batches(batch_size)])
    encoder.train(was_training)
    return features


def standardize(z_train, z_test):
    """Features `(n_train, dim)`, `(n_test, dim)` scaled per feature with the training split's mean and std."""
    mean, std = z_train.mean(0), z_train.std(0) + 1e-6
    return (z_train - mean) / std, (z_test - mean) / std


PROBE_STEPS, PROBE_LR, PROBE_SEED = 300, 0.01, 0


def linear_probe(model, modality, train, test, steps=PROBE_STEPS, lr=PROBE_LR, seed=PROBE_SEED):
    """Accuracy on `test` of a linear classifier trained (Adam, full batch, `steps` steps) on frozen `modality`
    features of `train`, both standardized with `train`'s statistics: how much class information the encoder
    holds, whatever head it was trained with. The settings are fixed, so nothing is tuned on `test`.
    """
    generator = torch.Generator().manual_seed(seed)
    z_train, z_test = standardize(encode(model, train, modality), encode(model, test, modality))
    y_train, y_test = train.labels.to(z_train.device), test.labels.to(z_test.device)
    probe = torch.nn.Linear(z_train.shape[1], train.num_classes).to(z_train.device)
    with torch.no_grad():
        probe.weight.copy_(0.01 * torch.randn(probe.weight.shape, generator=generator))
        probe.bias.zero_()
    optimizer = torch.optim.Adam(probe.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(probe(z_train), y_train).backward()
        optimizer.step()
    with torch.no_grad():
        return (probe(z_test).argmax(1) == y_test).float().mean().item()


def softmax_inequality_check(num_classes=4, draws=100_000, scale=3.0, seed=0):
    """Numerically check the attenuation inequality of ALGORITHMS.md 1.3 on random logits.

    Draws unimodal logits `f1` and the other modality's logits `u` (normal, std `scale`), label `y = argmax u`;
    `q = softmax(f1)`, `p = softmax(f1 + u)`. Returns `{"draws", "violations"}` where a violation is `p_y < q_y`
    (beyond float round-off). The theory says there are none.
    """
    g = torch.Generator().manual_seed(seed)
    f1 = scale * torch.randn(draws, num_classes, generator=g, dtype=torch.float64)
    u = scale * torch.randn(draws, num_classes, generator=g, dtype=torch.float64)
    y = u.argmax(1, keepdim=True)
    q_y = f1.softmax(1).gather(1, y)
    p_y = (f1 + u).softmax(1).gather(1, y)
    return {"draws": draws, "violations": int((p_y < q_y - 1e-12).sum())}


def other_modality_logits(output, modality):
    """`u = f - f^(modality)`, `(batch, classes)`: what the other modalities add to the fused logits.

    For concat fusion `f = W_1 z_1 + W_2 z_2 + b` and `f^(1) = W_1 z_1 + b`, so `u = W_2 z_2` exactly
    (ALGORITHMS.md 1.3); the attenuation inequality holds on every sample where `argmax u` is the label.
    """
    return output.fused_logits - output.unimodal_logits[modality]


def fused_error_vs_margin(q_y, margins):
    """`1 - p_y` when the other modality adds logit margin `m = u_y - u_k` (all `u_k`, k != y, equal), `margins` `(n,)`.

    From `p_y = q_y e^{u_y} / sum_j q_j e^{u_j}` with `u_k = 0` for k != y: `p_y = q_y e^m / (q_y e^m + 1 - q_y)`.
    Returns `(n,)`; at `m = 0` it equals `1 - q_y`, for `m > 0` it is smaller.
    """
    margins = torch.as_tensor(margins, dtype=torch.float64)
    odds = q_y * margins.exp()
    return 1 - odds / (odds + 1 - q_y)
