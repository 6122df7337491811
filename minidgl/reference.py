"""Reference gradients: the DGL authors' two-backward step, and one backward of a routed loss, side by side.

`authors_two_pass_gradients` follows shicaiwei123/ICCV2025-GDL main_dgl.py (lines 97-154) step by step,
using the model's modules with live parameters: fused logits from detached features, backward of
`alpha * sum_m L_m` (retaining the graph), wipe the fusion's gradients, backward of `L_mm`.
`routed_gradients` is what `minidgl.fit` does: one forward under a `Routing`, one backward.
"""
import torch.nn.functional as F

from .routing import routed_loss


def parameter_gradients(model):
    """Every parameter's current gradient, cloned: `{name: tensor or None}`."""
    return {name: None if p.grad is None else p.grad.clone() for name, p in model.named_parameters()}


def authors_two_pass_gradients(model, inputs, labels, alpha):
    """Every parameter's gradient `{name: tensor or None}` after the authors' two-backward DGL step.

    `inputs` `{modality: (batch, ...)}`, `labels` `(batch,)`. The model's `.grad` fields are overwritten.
    """
    model.zero_grad(set_to_none=True)
    features = {m: encoder(inputs[m]) for m, encoder in model.encoders.items()}
    fused_logits = model.fusion({m: z.detach() for m, z in features.items()})
    unimodal_losses = [F.cross_entropy(model.fusion(features, alone=m), labels) for m in features]
    (alpha * sum(unimodal_losses)).backward(retain_graph=True)
    for p in model.fusion.parameters():
        p.grad = None
    F.cross_entropy(fused_logits, labels).backward()
    return parameter_gradients(model)


def routed_gradients(model, inputs, labels, routing):
    """Every parameter's gradient `{name: tensor or None}` after one backward of the loss `routing` defines."""
    model.zero_grad(set_to_none=True)
    routed_loss(model(inputs, routing), labels, routing).total.backward()
    return parameter_gradients(model)


def gradient_mismatches(actual, expected, atol=1e-6, rtol=1e-5):
    """Names of parameters whose gradients differ, as readable strings (empty when all match).

    `actual`, `expected`: `{name: tensor or None}` over the same parameters.
    """
    problems = [f"parameter '{n}' is missing" for n in expected if n not in actual]
    for name, e in expected.items():
        a = actual.get(name)
        if name not in actual:
            continue
        if (a is None) != (e is None):
            problems.append(f"parameter '{name}' has {'no' if a is None else 'a'} gradient, expected "
                            f"{'none' if e is None else 'one'}")
        elif e is not None and a.shape != e.shape:
            problems.append(f"parameter '{name}': expected gradient shape {tuple(e.shape)}, got {tuple(a.shape)}")
        elif e is not None and not (a - e).abs().le(atol + rtol * e.abs()).all():
            problems.append(f"parameter '{name}' gradient differs (max gap {(a - e).abs().max().item():.3g})")
    return problems
