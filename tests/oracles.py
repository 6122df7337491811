"""Independent re-implementations of the authors' training steps, the oracles for tests and the benchmark.

Written from the authors' code (read, not copied), on minidgl models with concat fusion, computing the
logits with plain tensor algebra on the model's parameters rather than through minidgl's fusion classes:

- `authors_mmpareto_grads`: GeWu-Lab/MMPareto_ICML2024 `code/MMPareto.py` train_epoch, four backward passes,
  the min-norm weights as `code/min_norm_solvers.py` computes them (Python floats, host syncs included);
- `authors_ogm_coefficients`: GeWu-Lab/OGM-GE_CVPR2022 `main.py`, the scores and Eq. 10 for two modalities;
- `authors_dgl_step`: shicaiwei123/ICCV2025-GDL `main_dgl.py` L97-154, two backward passes, the name-based
  wipe of the fusion's gradients, clipping at 40 and the per-step `.item()` logging.
"""
import torch
import torch.nn.functional as F


def concat_logits(model, z):
    """`(fused, {m: unimodal})`: `W [z_1; ...] + b` and `W [0; z_m; 0] + b`, the authors' `fc_out(cat(x, 0))`."""
    W, b, names = model.fusion.fc_out.weight, model.fusion.fc_out.bias, list(z)
    fused = F.linear(torch.cat([z[m] for m in names], 1), W, b)
    uni = {m: F.linear(torch.cat([z[k] if k == m else torch.zeros_like(z[k]) for k in names], 1), W, b)
           for m in names}
    return fused, uni


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


def authors_dgl_step(model, inputs, labels, optimizer, alpha, log):
    """One optimizer step of the authors' DGL on a concat model: two backward passes, wipe, clip, `.item()` logs."""
    optimizer.zero_grad()
    z = {m: model.encoders[m](inputs[m]) for m in model.modalities}
    fused, _ = concat_logits(model, {m: t.detach() for m, t in z.items()})
    _, uni = concat_logits(model, z)
    loss_f = F.cross_entropy(fused, labels)
    loss_uni = sum(F.cross_entropy(u, labels) for u in uni.values())
    (loss_uni * alpha).backward(retain_graph=True)
    for name, param in model.named_parameters():
        if "fusion" in name.split(".")[0]:
            param.grad = None
    loss_f.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=40)
    log.append([loss_f.item(), loss_uni.item()]
               + [torch.cat([p.grad.abs().flatten() for p in model.encoders[m].parameters()]).mean().item()
                  for m in model.modalities])
    optimizer.step()
