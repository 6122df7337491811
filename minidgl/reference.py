"""Reference implementations of the authors' training steps: the oracles of the tests, the benchmark and chapter 4.

Written from the authors' code (read, not copied), on minidgl models, with none of minidgl's routing or method
machinery: each step is the authors' sequence of forward and backward passes.

- `authors_two_pass_gradients`, `authors_dgl_step`: shicaiwei123/ICCV2025-GDL `main_dgl.py` (lines 97-154):
  fused logits from detached features, backward of `alpha * sum_m L_m` (retaining the graph), the name-based
  wipe of the fusion's gradients, backward of `L_mm`; the step also clips at 40 and logs with `.item()`.
  The logits come from `logits(model, features, detached)`, by default the model's fusion module; tests pass
  their own tensor algebra so that the fusion modules are checked too. `authors_dgl_step(..., forward=ddp)`
  runs the forward pass through a wrapper instead, as the authors' `model(spec, image)` goes through their
  DataParallel (under DistributedDataParallel this step leaves the ranks' fusion modules apart).
- `authors_mmpareto_grads`, `authors_mmpareto_step`, `authors_min_norm_2`: GeWu-Lab/MMPareto_ICML2024
  `code/MMPareto.py` train_epoch (four backward passes) and `code/min_norm_solvers.py` (Python floats, host
  syncs included), on concat fusion.
- `authors_ogm_coefficients`: GeWu-Lab/OGM-GE_CVPR2022 `main.py`, the scores and Eq. 10 for two modalities.

`method_gradients` is what `minidgl.fit` does, one `train_step` (with a learning rate of 0, so that the
parameters stay where they are), and `routed_gradients` the same for a bare `Routing`;
`gradient_mismatches` compares two sets of gradients.
"""
import torch
import torch.nn.functional as F

from .methods import Method, get_method
from .routing import Routing
from .train import train_step


def module_logits(model, features, detached):
    """`(fused, {m: unimodal})`: the fusion on `detached` features, and on each live feature alone."""
    return model.fusion(detached), {m: model.fusion(features, alone=m) for m in features}


def concat_logits(model, z):
    """`(fused, {m: unimodal})`: `W [z_1; ...] + b` and `W [0; z_m; 0] + b`, the authors' `fc_out(cat(x, 0))`,
    by plain tensor algebra on a concat fusion's parameters."""
    W, b, names = model.fusion.fc_out.weight, model.fusion.fc_out.bias, list(z)
    fused = F.linear(torch.cat([z[m] for m in names], 1), W, b)
    uni = {m: F.linear(torch.cat([z[k] if k == m else torch.zeros_like(z[k]) for k in names], 1), W, b)
           for m in names}
    return fused, uni


AUTHORS_DGL_FORWARD = Routing(mm_to_encoders=False, uni_to_fusion=True)
"""The forward pass of the authors' DGL model as a routing: fused logits on detached features, unimodal logits
through the live fusion (their wipe between the two backward passes keeps the unimodal gradients out of it)."""


def parameter_gradients(model):
    """Every parameter's current gradient, cloned: `{name: tensor or None}`."""
    return {name: None if p.grad is None else p.grad.clone() for name, p in model.named_parameters()}


def _authors_dgl_backward(model, inputs, labels, alpha, logits, forward=None):
    """The authors' two backward passes; leaves the gradients in `.grad`, returns `(L_mm, sum_m L_m)`. The
    logits come from `logits`, or from `forward(inputs, AUTHORS_DGL_FORWARD)` when `forward` is given."""
    if forward is None:
        z = {m: model.encoders[m](inputs[m]) for m in model.modalities}
        fused, uni = logits(model, z, {m: t.detach() for m, t in z.items()})
    else:
        output = forward(inputs, AUTHORS_DGL_FORWARD)
        fused, uni = output.fused_logits, output.unimodal_logits
    loss_fused = F.cross_entropy(fused, labels)
    loss_uni = sum(F.cross_entropy(u, labels) for u in uni.values())
    (alpha * loss_uni).backward(retain_graph=True)
    for name, param in model.named_parameters():
        if "fusion" in name.split(".")[0]:
            param.grad = None
    loss_fused.backward()
    return loss_fused, loss_uni


def authors_two_pass_gradients(model, inputs, labels, alpha, logits=module_logits):
    """Every parameter's gradient `{name: tensor or None}` after the authors' two-backward DGL step.

    `inputs` `{modality: (batch, ...)}`, `labels` `(batch,)`. The model's `.grad` fields are overwritten.
    """
    model.zero_grad(set_to_none=True)
    _authors_dgl_backward(model, inputs, labels, alpha, logits)
    return parameter_gradients(model)


def authors_dgl_step(model, inputs, labels, optimizer, alpha, log, logits=module_logits, forward=None):
    """One optimizer step of the authors' DGL: two backward passes, the wipe, clipping at 40, and the per-step
    `.item()` logs (appended to `log`: fused loss, unimodal loss, each encoder's mean absolute gradient).

    `forward`, if given, runs the forward pass instead of `logits`: `model` wrapped in `DistributedDataParallel`,
    called as `forward(inputs, AUTHORS_DGL_FORWARD)` (the wipe still reads the names of `model`'s parameters).
    """
    optimizer.zero_grad()
    loss_fused, loss_uni = _authors_dgl_backward(model, inputs, labels, alpha, logits, forward)
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=40)
    log.append([loss_fused.item(), loss_uni.item()]
               + [torch.cat([p.grad.abs().flatten() for p in model.encoders[m].parameters()]).mean().item()
                  for m in model.modalities])
    optimizer.step()


def authors_min_norm_2(vecs_1, vecs_2):
    """`[a1, a2]` minimising |a1 v1 + a2 v2| on the simplex; v1, v2 given as lists of tensors (MinNormSolver)."""
    def dot(xs, ys):
        return sum(torch.dot(x.flatten(), y.flatten()).item() for x, y in zip(xs, ys))
    v1v1, v1v2, v2v2 = dot(vecs_1, vecs_1), dot(vecs_1, vecs_2), dot(vecs_2, vecs_2)
    if v1v2 >= v1v1:
        return [0.999, 1 - 0.999]
    if v1v2 >= v2v2:
        return [0.001, 1 - 0.001]
    gamma = -1.0 * ((v1v2 - v2v2) / (v1v1 + v2v2 - 2 * v1v2))
    return [gamma, 1 - gamma]


def authors_mmpareto_grads(model, inputs, labels, gamma=1.5):
    """`(grads, cos)`: every parameter's gradient after the authors' MMPareto step, and each encoder's cosine."""
    modalities = model.modalities
    model.zero_grad(set_to_none=True)
    z = {m: model.encoders[m](inputs[m]) for m in modalities}
    fused, uni = concat_logits(model, z)
    losses = {"both": F.cross_entropy(fused, labels), **{m: F.cross_entropy(uni[m], labels) for m in modalities}}
    records = {m: [(n, p) for n, p in model.named_parameters() if n.startswith(f"encoders.{m}.")]
               for m in modalities}
    grads = {m: {} for m in modalities}
    for loss_type, loss in losses.items():
        loss.backward(retain_graph=True)
        for m in modalities:
            if loss_type in ("both", m):
                grads[m][loss_type] = {n: p.grad.clone() for n, p in records[m]}
                grads[m][loss_type]["concat"] = torch.cat([grads[m][loss_type][n].flatten() for n, _ in records[m]])
        model.zero_grad(set_to_none=True)

    weights, cos = {}, {}
    for m in modalities:
        cos[m] = F.cosine_similarity(grads[m]["both"]["concat"], grads[m][m]["concat"], dim=0)
        if cos[m] > 0:
            weights[m] = [0.5, 0.5]
        else:
            weights[m] = authors_min_norm_2(list(grads[m]["both"].values()), list(grads[m][m].values()))

    sum(losses.values()).backward()
    for m in modalities:
        k = weights[m]
        for name, param in records[m]:
            three_norm = torch.norm(param.grad.data.clone())
            new_grad = 2 * k[0] * grads[m]["both"][name] + 2 * k[1] * grads[m][m][name]
            diff = three_norm / torch.norm(new_grad)
            param.grad = diff * new_grad * gamma if diff > 1 else new_grad * gamma
    return {n: p.grad.clone() for n, p in model.named_parameters()}, {m: float(c) for m, c in cos.items()}


def authors_mmpareto_step(model, inputs, labels, optimizer):
    """One optimizer step of the authors' MMPareto (their host syncs: the `if` on each cosine and ratio)."""
    optimizer.zero_grad()
    authors_mmpareto_grads(model, inputs, labels)
    optimizer.step()


def authors_ogm_coefficients(out_a, out_v, label, alpha):
    """`(coeff_a, coeff_v, ratio_v)` from the two unimodal logits `(batch, classes)`, as the authors' loop does."""
    softmax = torch.nn.Softmax(dim=1)
    score_v = sum([softmax(out_v)[i][label[i]] for i in range(out_v.size(0))])
    score_a = sum([softmax(out_a)[i][label[i]] for i in range(out_a.size(0))])
    ratio_v = score_v / score_a
    ratio_a = 1 / ratio_v
    if ratio_v > 1:
        return 1.0, float(1 - torch.tanh(alpha * torch.relu(ratio_v))), float(ratio_v)
    return float(1 - torch.tanh(alpha * torch.relu(ratio_a))), 1.0, float(ratio_v)


def method_gradients(model, method, inputs, labels, epoch=0):
    """`(gradients, step)` after one `train_step` of `method` (a name, `Routing` or `Method`) on the batch:
    every parameter's gradient `{name: tensor or None}` and the `Step` (its `stats` are the method's). The
    optimizer's learning rate is 0, so the parameters do not move."""
    step = train_step(model, get_method(method), torch.optim.SGD(model.parameters(), lr=0.0), inputs, labels, epoch)
    return parameter_gradients(model), step


def routed_gradients(model, inputs, labels, routing):
    """Every parameter's gradient `{name: tensor or None}` after one backward of the loss `routing` defines."""
    return method_gradients(model, Method(routing), inputs, labels)[0]


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
