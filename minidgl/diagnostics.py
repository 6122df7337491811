"""Measurements of under-training: the attenuation argument sample by sample, gradient norms and cosines per loss,
linear probes."""
import math

import torch
import torch.nn.functional as F

from . import cache
from .errors import InvalidType
from .models.fusion import ConcatFusion, SumFusion, Tokens
from .routing import JOINT


def wrong_class_logsumexp(logits, labels):
    """`logsumexp_{k != y} f_k` per sample, `(batch,)` float64, from `logits` `f` `(batch, classes)`."""
    return logits.double().scatter(1, labels[:, None], float("-inf")).logsumexp(dim=1)


def log_true_class_error(logits, labels):
    """`log(1 - p_y)` per sample, `(batch,)` float64, with `p = softmax(logits)` and `logits` `(batch, classes)`.

    Computed as `logsumexp_{k != y} f_k - logsumexp_k f_k`, so it keeps its digits when `p_y` is close to 1.
    """
    return wrong_class_logsumexp(logits, labels) - logits.double().logsumexp(dim=1)


def true_class_error(logits, labels):
    """`1 - p_y` per sample, `(batch,)` float64: the size of the error `|dL/df_y|` that cross-entropy sends back,
    and half of `||p - e_y||_1`."""
    return log_true_class_error(logits, labels).exp()


def true_class_log_odds(logits, labels):
    """`log(p_y / (1 - p_y)) = f_y - logsumexp_{k != y} f_k` per sample, `(batch,)` float64; `p = softmax(f)`."""
    return logits.double().gather(1, labels[:, None]).squeeze(1) - wrong_class_logsumexp(logits, labels)


def fused_at_least_as_sure(fused_logits, unimodal_logits, labels):
    """`p_y >= q_y` per sample, `(batch,)` bool, for `p`, `q` the softmaxes of two `(batch, classes)` logits.

    Compared on the log-odds of the true class (same order as the probabilities), which keep their digits both
    near 0 and near 1.
    """
    return true_class_log_odds(fused_logits, labels) >= true_class_log_odds(unimodal_logits, labels)


def error_signal(logits, labels):
    """`p - e_y`, `(batch, classes)` float64: the gradient of `-log softmax(f)_y` with respect to the logits `f`."""
    errors = logits.double().softmax(dim=1)
    return errors.scatter(1, labels[:, None], -true_class_error(logits, labels)[:, None])


def attenuation_factors(output, labels, modality):
    """Per-sample `(1 - p_y) / (1 - q_y)`, `(batch,)` (`p`: fused softmax, `q`: `modality`'s unimodal one).

    Below 1 the fused loss sends a smaller true-class error than `modality`'s own loss would. It is at most 1
    exactly where `attenuation_condition` holds; elsewhere it can exceed 1.
    """
    fused = log_true_class_error(output.fused_logits, labels)
    alone = log_true_class_error(output.unimodal_logits[modality], labels)
    return (fused - alone).exp()


def other_modality_logits(output, modality):
    """`u = f - f^(modality)`, `(batch, classes)` float64: what the other modalities add to `modality`'s unimodal
    logits (in float64 the difference of two float32 logits is exact, so `f^(modality) + u` gives back `f`).

    Concat fusion `f = W_1 z_1 + W_2 z_2 + b`, `f^(1) = W_1 z_1 + b`: `u = W_2 z_2`, without the bias.
    Sum fusion `f = (W_1 z_1 + b_1) + (W_2 z_2 + b_2)`, `f^(1) = W_1 z_1 + b_1`: `u = W_2 z_2 + b_2`.
    """
    return output.fused_logits.double() - output.unimodal_logits[modality].double()


def attenuation_condition(unimodal_logits, other_logits, labels):
    """The exact condition for `p_y >= q_y`: `e^{u_y} >= sum_j q_j e^{u_j}`, per sample, `(batch,)` bool.

    `unimodal_logits` `f^(1)` and `other_logits` `u` are `(batch, classes)`, `q = softmax(f^(1))`. Evaluated in
    float64 and log space in its equivalent form `(1 - q_y) e^{u_y} >= sum_{j != y} q_j e^{u_j}`, i.e.
    `u_y >= logsumexp_{j != y}(f^(1)_j + u_j) - logsumexp_{j != y} f^(1)_j`, which neither overflows nor loses
    the decisive digits when `q_y` is close to 1.
    """
    f1, u = unimodal_logits.double(), other_logits.double()
    u_y = u.gather(1, labels[:, None]).squeeze(1)
    return u_y >= wrong_class_logsumexp(f1 + u, labels) - wrong_class_logsumexp(f1, labels)


def other_modality_right(other_logits, labels):
    """The sufficient condition `argmax_k u_k = y`, per sample, `(batch,)` bool, from `u` `(batch, classes)`."""
    return other_logits.argmax(dim=1) == labels


def head_block(fusion, modality):
    """`W_m` `(classes, dim_m)`: the weight block that multiplies `modality`'s features in a concat or sum head."""
    if isinstance(fusion, ConcatFusion):
        names, dims = list(fusion.feature_dims), list(fusion.feature_dims.values())
        start = sum(dims[:names.index(modality)])
        return fusion.fc_out.weight[:, start:start + fusion.feature_dims[modality]]
    if isinstance(fusion, SumFusion):
        return fusion.fc[modality].weight
    raise InvalidType(f"only concat and sum heads are linear in each modality's features, got {type(fusion).__name__}")


def feature_gradient(logits, labels, block):
    """`(softmax(logits) - e_y) W_m`, `(batch, dim)`: per sample, the gradient of `-log softmax(f)_y` with respect to
    features `z_m` that enter the logits `(batch, classes)` linearly through `block` `W_m` `(classes, dim)`."""
    return error_signal(logits, labels) @ block.double()


def feature_gradient_bound(logits, labels, block):
    """`2 max_k ||W_{m,k}|| (1 - p_y)`, `(batch,)`: an upper bound on the norm of every row of `feature_gradient`."""
    return 2 * block.double().norm(dim=1).max() * true_class_error(logits, labels)


def per_sample_feature_gradients(model, inputs, labels, modality):
    """`dL_mm/dz_m` and `dL_m^uni/dz_m`, each `(batch, dim)`, at the model's current parameters, by autograd.

    Both losses are summed, not averaged, over the batch, so row `i` is sample `i`'s own gradient (its logits
    depend on its features alone). Joint routing; `.grad` fields are left untouched. Returns `(fused, unimodal)`.
    """
    out = model(inputs, JOINT)
    z = out.features[modality]
    fused, = torch.autograd.grad(F.cross_entropy(out.fused_logits, labels, reduction="sum"), z, retain_graph=True)
    unimodal, = torch.autograd.grad(F.cross_entropy(out.unimodal_logits[modality], labels, reduction="sum"), z)
    return fused, unimodal


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


def loss_gradient_norms(model, inputs, labels, modality):
    """`{"fused": ||grad_theta L_mm||, "unimodal": ||grad_theta L_m^uni||}` (floats) for encoder `modality`'s
    parameters `theta`, at the same parameters and on the same batch (both losses batch means)."""
    g_fused, g_uni = loss_gradients(model, inputs, labels, modality)
    return {"fused": g_fused.norm().item(), "unimodal": g_uni.norm().item()}


def encoder_loss_gradient_norms(model, inputs, labels):
    """`{m: loss_gradient_norms(model, inputs, labels, m)}` for every encoder, from one forward pass and two
    backward passes: the unimodal losses are summed first, which is exact because `L_m^uni` depends on
    encoder `m`'s parameters alone. `.grad` fields are left untouched."""
    params = {m: [p for p in model.encoders[m].parameters() if p.requires_grad] for m in model.modalities}
    flat = [p for m in model.modalities for p in params[m]]
    out = model(inputs, JOINT)
    g_fused = torch.autograd.grad(F.cross_entropy(out.fused_logits, labels), flat, retain_graph=True)
    unimodal = sum(F.cross_entropy(out.unimodal_logits[m], labels) for m in model.modalities)
    g_uni = torch.autograd.grad(unimodal, flat)
    norms, start = {}, 0
    for m in model.modalities:
        end = start + len(params[m])
        norms[m] = {"fused": torch.nn.utils.get_total_norm(g_fused[start:end]).item(),
                    "unimodal": torch.nn.utils.get_total_norm(g_uni[start:end]).item()}
        start = end
    return norms


def gradient_cosine(model, inputs, labels, modality):
    """Cosine between encoder `modality`'s gradients from the fused and from its unimodal loss (0-dim tensor).

    Negative values are the gradient conflict that motivates MMPareto.
    """
    g_fused, g_uni = loss_gradients(model, inputs, labels, modality)
    return F.cosine_similarity(g_fused, g_uni, dim=0)


def attenuation_measurements(model, inputs, labels, modality):
    """Per-sample quantities of the attenuation argument for encoder `modality` of a concat or sum model, at its
    current parameters, each `(batch,)` (float64 or bool):

    `fused_error`, `unimodal_error`   `1 - p_y` and `1 - q_y` (`q`: the model's own head on `modality` alone);
    `log10_factor`                    `log10((1 - p_y) / (1 - q_y))`;
    `fused_at_least_as_sure`          `p_y >= q_y`;
    `exact_condition`, `sufficient_condition`   `attenuation_condition` and `other_modality_right`;
    `fused_gradient`, `unimodal_gradient`       `||W_m^T (p - e_y)||` and `||W_m^T (q - e_y)||`, the per-sample
                                                feature-gradient norms of the two losses;
    `bound`                                     `feature_gradient_bound` of the fused one;
    `fused_correct`, `unimodal_correct`         `argmax p = y` and `argmax q = y`.
    """
    with torch.no_grad():
        out = model(inputs, JOINT)
    return _attenuation_measurements(out, head_block(model.fusion, modality), labels, modality)


def attenuation_measurements_per_encoder(model, inputs, labels):
    """`{modality: attenuation_measurements(model, inputs, labels, modality)}` for every encoder, from one
    forward pass."""
    with torch.no_grad():
        out = model(inputs, JOINT)
    return {m: _attenuation_measurements(out, head_block(model.fusion, m), labels, m) for m in model.modalities}


@torch.no_grad()
def _attenuation_measurements(out, block, labels, modality):
    fused, alone = out.fused_logits, out.unimodal_logits[modality]
    u = other_modality_logits(out, modality)
    log_fused, log_alone = log_true_class_error(fused, labels), log_true_class_error(alone, labels)
    return {
        "fused_error": log_fused.exp(), "unimodal_error": log_alone.exp(),
        "log10_factor": (log_fused - log_alone) / math.log(10),
        "fused_at_least_as_sure": fused_at_least_as_sure(fused, alone, labels),
        "exact_condition": attenuation_condition(alone, u, labels),
        "sufficient_condition": other_modality_right(u, labels),
        "fused_gradient": feature_gradient(fused, labels, block).norm(dim=1),
        "unimodal_gradient": feature_gradient(alone, labels, block).norm(dim=1),
        "bound": feature_gradient_bound(fused, labels, block),
        "fused_correct": fused.argmax(dim=1) == labels,
        "unimodal_correct": alone.argmax(dim=1) == labels,
    }


def attenuation_summary(measured):
    """Fractions of samples (floats) from one `attenuation_measurements` dict:

    `p_y >= q_y`                     the fused prediction is at least as sure of the label as `modality` alone;
    `exact condition agrees`         `attenuation_condition` says the same as `p_y >= q_y`;
    `argmax u = y`                   the sufficient condition holds;
    `argmax u = y but p_y < q_y`     the proposition is broken (it rules this out);
    `fused feature gradient larger`  `||W^T (p - e_y)|| > ||W^T (q - e_y)||`;
    `bound holds`                    `||W^T (p - e_y)|| <= 2 max_k ||W_k|| (1 - p_y)`;
    `fused right`, `head right`      `argmax p = y` and `argmax q = y` (only if `measured` has them);
    and the medians: `median factor` of `(1 - p_y) / (1 - q_y)`, the same over the samples with
    `argmax u = y` (`median factor | argmax u = y`) and over the others (`... != y`; NaN if there are none),
    `median 1 - p_y` and `median 1 - q_y`.
    """
    fractions = {
        "p_y >= q_y": measured["fused_at_least_as_sure"],
        "exact condition agrees": measured["exact_condition"] == measured["fused_at_least_as_sure"],
        "argmax u = y": measured["sufficient_condition"],
        "argmax u = y but p_y < q_y": measured["sufficient_condition"] & ~measured["fused_at_least_as_sure"],
        "fused feature gradient larger": measured["fused_gradient"] > measured["unimodal_gradient"],
        "bound holds": measured["fused_gradient"] <= measured["bound"] * (1 + 1e-9),
    }
    summary = {name: mask.double().mean().item() for name, mask in fractions.items()}
    summary["median factor"] = 10 ** measured["log10_factor"].median().item()
    if "fused_correct" in measured:
        summary["fused right"] = measured["fused_correct"].double().mean().item()
        summary["head right"] = measured["unimodal_correct"].double().mean().item()
    right = measured["sufficient_condition"]
    for name, where in (("median factor | argmax u = y", right), ("median factor | argmax u != y", ~right)):
        summary[name] = 10 ** measured["log10_factor"][where].median().item() if where.any() else math.nan
    summary["median 1 - p_y"] = measured["fused_error"].median().item()
    summary["median 1 - q_y"] = measured["unimodal_error"].median().item()
    return summary


def softmax_inequality_check(num_classes=10, feature_dim=8, draws=100_000, scale=3.0, seed=0):
    """The attenuation argument on random draws where the other modality ranks the label first.

    Draws unimodal logits `f1` and other-modality logits `u` `(draws, classes)` (normal, std `scale`), a head
    block `W_1` `(draws, classes, feature_dim)` (standard normal), and sets `y = argmax u`; `q = softmax(f1)`,
    `p = softmax(f1 + u)`. Returns `{"draws", "violations"}` (`p_y < q_y`, which the proposition rules out),
    `"bound_violations"` (`||W_1^T (p - e_y)|| > 2 max_k ||W_1k|| (1 - p_y)`, ruled out too) and
    `"fused_gradient_larger"`, the fraction of draws with `||W_1^T (p - e_y)|| > ||W_1^T (q - e_y)||`, which
    nothing rules out.
    """
    g = torch.Generator().manual_seed(seed)
    f1 = scale * torch.randn(draws, num_classes, generator=g, dtype=torch.float64)
    u = scale * torch.randn(draws, num_classes, generator=g, dtype=torch.float64)
    W1 = torch.randn(draws, num_classes, feature_dim, generator=g, dtype=torch.float64)
    y = u.argmax(dim=1)
    fused, alone = f1 + u, f1
    fused_gradient = torch.einsum("nk,nkd->nd", error_signal(fused, y), W1).norm(dim=1)
    unimodal_gradient = torch.einsum("nk,nkd->nd", error_signal(alone, y), W1).norm(dim=1)
    bound = 2 * W1.norm(dim=2).amax(dim=1) * true_class_error(fused, y)
    return {"draws": draws,
            "violations": int((~fused_at_least_as_sure(fused, alone, y)).sum()),
            "bound_violations": int((fused_gradient > bound * (1 + 1e-9)).sum()),
            "fused_gradient_larger": (fused_gradient > unimodal_gradient).double().mean().item()}


def fused_error_vs_margin(q_y, margins):
    """`1 - p_y` when the other modality adds logit margin `m = u_y - u_k` (all `u_k`, k != y, equal), `margins` `(n,)`.

    From `p_y = q_y e^{u_y} / sum_j q_j e^{u_j}` with `u_k = 0` for k != y: `p_y = q_y e^m / (q_y e^m + 1 - q_y)`.
    Returns `(n,)`; at `m = 0` it equals `1 - q_y`, for `m > 0` it is smaller.
    """
    margins = torch.as_tensor(margins, dtype=torch.float64)
    odds = q_y * margins.exp()
    return 1 - odds / (odds + 1 - q_y)


@torch.no_grad()
def encode(model, dataset, modality, batch_size=512):
    """Features `(n, dim)` of `dataset` through the (frozen, eval-mode) encoder of `modality`. An encoder that
    gives `Tokens` is read as the mean of its real tokens, one that gives feature maps `(n, dim, height, width)`
    as their mean over positions: the same pooled features for every output of a conv encoder."""
    encoder = model.encoders[modality]
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    pooled = lambda z: z.pooled() if isinstance(z, Tokens) else z.mean(dim=(2, 3)) if z.ndim == 4 else z
    features = torch.cat([pooled(encoder(x[modality].to(device))) for x, _ in dataset.batches(batch_size)])
    encoder.train(was_training)
    return features


def standardize(z_train, z_test):
    """Features `(n_train, dim)`, `(n_test, dim)` scaled per feature with the training split's mean and std."""
    mean, std = z_train.mean(0), z_train.std(0) + 1e-6
    return (z_train - mean) / std, (z_test - mean) / std


PROBE_STEPS, PROBE_LR, PROBE_SEED = 300, 0.01, 0


def cross_entropy_grads(weight, bias, features_t, targets_t):
    """Gradients `(d weight, d bias)` of the mean cross-entropy of a linear classifier, in closed form:
    `E = (softmax(W z + b) - onehot(y)) / n`, `dW = E z`, `db = E 1`.

    `weight` `(classes, dim)`, `bias` `(classes,)`, `features_t` `(dim, n)` and one-hot `targets_t`
    `(classes, n)`, both transposed so that the softmax runs over the first dimension (on CPU several times
    faster, for ten classes, than autograd through `F.cross_entropy` over the last one; same values up to
    rounding).
    """
    error = (torch.softmax(torch.addmm(bias[:, None], weight, features_t), dim=0) - targets_t) / targets_t.shape[1]
    return error @ features_t.T, error.sum(1)


def linear_probe(model, modality, train, test, steps=PROBE_STEPS, lr=PROBE_LR, seed=PROBE_SEED):
    """Accuracy on `test` of a linear classifier trained (Adam, full batch, `steps` steps) on frozen `modality`
    features of `train`, both standardized with `train`'s statistics: how much class information the encoder
    holds, whatever head it was trained with. The settings are fixed, so nothing is tuned on `test`.
    The gradient of the cross-entropy is computed in closed form (`cross_entropy_grads`). A probe
    `minidgl.cache` holds (same encoder weights, data and settings) is read back instead of fit again.
    """
    encoder = model.encoders[modality]
    device = next(encoder.parameters()).device
    key = cache.key("probe", device, encoder=[type(encoder).__qualname__, encoder.state_dict()], train=train,
                    test=test, modality=modality, steps=steps, lr=lr, seed=seed)
    return cache.computed(key, lambda: _fit_linear_probe(model, modality, train, test, steps, lr, seed),
                          enabled=cache.cacheable(encoder))


def _fit_linear_probe(model, modality, train, test, steps, lr, seed):
    """`linear_probe` computed; touches no global random generator."""
    generator = torch.Generator().manual_seed(seed)
    z_train, z_test = standardize(encode(model, train, modality), encode(model, test, modality))
    y_train, y_test = train.labels.to(z_train.device), test.labels.to(z_test.device)
    shape = (train.num_classes, z_train.shape[1])
    weight = torch.nn.Parameter((0.01 * torch.randn(shape, generator=generator)).to(z_train.device))
    bias = torch.nn.Parameter(torch.zeros(train.num_classes, device=z_train.device))
    optimizer = torch.optim.Adam([weight, bias], lr=lr)
    features_t = z_train.T.contiguous()
    targets_t = F.one_hot(y_train, train.num_classes).T.to(z_train.dtype)
    with torch.no_grad():
        for _ in range(steps):
            weight.grad, bias.grad = cross_entropy_grads(weight, bias, features_t, targets_t)
            optimizer.step()
        return (torch.addmm(bias, z_test, weight.T).argmax(1) == y_test).float().mean().item()
