"""Figures for chapter 4: the routing lab's curves, a static, explorable comparison of routing presets, and
DGL's accuracy (and its encoders' linear probes) against its unimodal weight alpha."""
import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ...experiments import markdown_table
from .balancing import window_means


STEP_WINDOW = 20  # steps averaged per point of the per-step curves (AV-Digits: about 17 points per epoch)


def step_curves(history, window=STEP_WINDOW):
    """A run's per-step curves averaged over windows of `window` steps, against epochs (step / steps per epoch):
    `{"epoch": [x], "batch_acc": [fused accuracy on the batches], "grad_norm": {modality: [encoder ‖∇‖]}}`."""
    steps_per_epoch = len(history.step_loss) / len(history.val_acc)
    centers, batch_acc = window_means(history.step_acc, window)
    return {"epoch": [c / steps_per_epoch for c in centers], "batch_acc": batch_acc,
            "grad_norm": {m: window_means(history.step_grad_norm[m], window)[1] for m in history.modalities}}


def lab_figure(runs):
    """The routing lab's runs: fused accuracy on the training batches (lines) and on validation at each epoch's
    end (dots), and each encoder's gradient norm, per window of `STEP_WINDOW` steps (log scale; an encoder
    that received no gradient is named so in the legend, since a log axis cannot draw 0).

    `runs`: list of `(label, History)`, oldest first. Returns a matplotlib Figure with two panels.
    """
    fig, (acc_ax, grad_ax) = plt.subplots(1, 2, figsize=(10, 3.4))
    any_gradient = False
    for i, (label, history) in enumerate(runs):
        color = f"C{i % 10}"
        curves = step_curves(history)
        acc_ax.plot(curves["epoch"], curves["batch_acc"], color=color, label=f"{label}: training batches")
        acc_ax.plot(range(1, len(history.val_acc) + 1), history.val_acc, "o", color=color,
                    label=f"{label}: validation")
        for m, style in zip(history.modalities, ["-", "--", ":", "-."]):
            norms = curves["grad_norm"][m]
            trained = any(n > 0 for n in norms)
            any_gradient |= trained
            grad_ax.plot(curves["epoch"], norms, color=color, ls=style,
                         label=f"{label}: {m}" if trained else f"{label}: {m}, no gradient (not trained)")
    acc_ax.set(xlabel="epoch", ylabel="fused accuracy", title="accuracy")
    grad_ax.set(xlabel="epoch", ylabel=f"‖∇θ‖, mean of {STEP_WINDOW} steps",
                yscale="log" if any_gradient else "linear", title="encoder gradient norms")
    for ax in (acc_ax, grad_ax):
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def presets_figure(histories):
    """Plotly figure of precomputed runs with one button per routing preset (and one for all).

    `histories` `{label: History}`. Left: fused accuracy on the training batches (lines, per window of
    `STEP_WINDOW` steps) and on validation at each epoch's end (dots); right: each encoder's gradient norm per
    window of steps (log scale). Works on a static page without a kernel.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("fused accuracy: training batches, validation (dots)",
                                                        "encoder gradient norm"))
    owners = []
    for i, (label, history) in enumerate(histories.items()):
        color = f"hsl({(i * 137) % 360}, 60%, 45%)"
        curves = step_curves(history)
        fig.add_trace(go.Scatter(x=curves["epoch"], y=curves["batch_acc"], name=label, line={"color": color},
                                 legendgroup=label), row=1, col=1)
        fig.add_trace(go.Scatter(x=list(range(1, len(history.val_acc) + 1)), y=history.val_acc, mode="markers",
                                 name=f"{label}: validation", marker={"color": color, "size": 9},
                                 legendgroup=label, showlegend=False), row=1, col=1)
        owners += [label, label]
        for m, dash in zip(history.modalities, ["solid", "dash", "dot", "dashdot"]):
            fig.add_trace(go.Scatter(x=curves["epoch"], y=curves["grad_norm"][m], name=f"{label}: {m}",
                                     legendgroup=label, line={"color": color, "dash": dash}), row=1, col=2)
            owners.append(label)
    buttons = [{"label": "all", "method": "update", "args": [{"visible": [True] * len(owners)}]}]
    buttons += [{"label": label, "method": "update", "args": [{"visible": [o == label for o in owners]}]}
                for label in histories]
    fig.update_layout(updatemenus=[{"type": "buttons", "direction": "right", "buttons": buttons,
                                    "x": 0, "y": 1.25, "xanchor": "left"}],
                      height=420, margin={"t": 100})
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(type="log", row=1, col=2)
    return fig


def presets_table(histories):
    """A markdown table of the runs `presets_figure` draws, `{label: History}`: the validation accuracy per
    epoch, and per encoder its gradient norm at the first and last epoch (with their ratio) and the training
    accuracy of its own logits (the head's block for that modality alone) at the first and last epoch."""
    modalities = next(iter(histories.values())).modalities
    header = ["routing", "validation acc by epoch"]
    header += [f"{m} ‖∇‖, first → last epoch" for m in modalities]
    header += [f"{m} logits alone, train acc" for m in modalities]
    rows = []
    for label, h in histories.items():
        grads = [h.grad_norm[m] for m in modalities]
        accs = [h.train_unimodal_acc[m] for m in modalities]
        rows.append([label, " ".join(f"{a:.3f}" for a in h.val_acc)]
                    + [f"{g[0]:.2f} → {g[-1]:.2f} (×{g[-1] / g[0]:.2f})" for g in grads]
                    + [f"{a[0]:.3f} → {a[-1]:.3f}" for a in accs])
    return markdown_table(header, rows)


def _alpha_axis(ax, alphas):
    """A log x axis ticked at exactly `alphas`, plain labels, no minor labels."""
    ax.set_xscale("log")
    ax.set_xticks(alphas, [f"{a:g}" for a in alphas])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("α")


def alpha_sweep_figure(study, references=None, title="DGL's unimodal weight α"):
    """An `alpha_sweep` study: validation accuracy (mean ± std over seeds) against α, the best and the chosen
    (one-standard-error) α marked, the rule's threshold dashed; and, when the study probed its encoders, each
    encoder's linear-probe accuracy (mean ± std) at the probed α, with `references` `{modality: accuracy}`
    (e.g. the unimodal twins' probes) as dashed lines. Both axes are ticked at exactly the swept values.
    Returns a matplotlib Figure.
    """
    alphas = study["alphas"]
    probes = [(a, p) for a, p in zip(alphas, study.get("probe_acc") or []) if p is not None]
    fig, axes = plt.subplots(1, 2 if probes else 1, figsize=(10, 3.4) if probes else (5, 3.4), squeeze=False)
    ax = axes[0, 0]
    ax.errorbar(alphas, [s["mean"] for s in study["val_acc"]], yerr=[s["std"] for s in study["val_acc"]],
                fmt="o-", capsize=3, label=f"DGL, {len(study['val_acc'][0]['per_seed'])} seeds")
    best, chosen = study["best_alpha"], study["chosen_alpha"]
    ax.axvline(chosen, color="C2", ls=":", label=f"chosen α = {chosen:g} (one-standard-error rule)")
    if best != chosen:
        ax.axvline(best, color="C3", ls=":", label=f"best mean α = {best:g}")
    if "threshold" in study:
        ax.axhline(study["threshold"], color="gray", ls="--", lw=1,
                   label="tied with the best above this line")
    _alpha_axis(ax, alphas)
    ax.set(ylabel="validation accuracy (fused)", title=title)
    ax.legend(fontsize=7)
    if probes:
        ax = axes[0, 1]
        for i, m in enumerate(probes[0][1]):
            color = f"C{i}"
            ax.errorbar([a for a, _ in probes], [p[m]["mean"] for _, p in probes],
                        yerr=[p[m]["std"] for _, p in probes], fmt="o-", capsize=3, color=color,
                        label=f"DGL's {m} encoder")
            if references and m in references:
                ax.axhline(references[m], color=color, ls="--", lw=1, label=f"unimodal {m} encoder")
        _alpha_axis(ax, [a for a, _ in probes])
        ax.set(ylabel="linear-probe accuracy (test)", title="what the encoders learned")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
