"""Figures for chapter 4: the routing lab's curves, a static, explorable comparison of routing presets, and
DGL's accuracy against its unimodal weight alpha."""
import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def lab_figure(runs):
    """Validation accuracy and per-encoder gradient norm per epoch for the routing lab's runs.

    `runs`: list of `(label, History)`, oldest first. Returns a matplotlib Figure with two panels.
    """
    fig, (acc_ax, grad_ax) = plt.subplots(1, 2, figsize=(10, 3.4))
    for i, (label, history) in enumerate(runs):
        color = f"C{i % 10}"
        epochs = range(1, len(history.val_acc) + 1)
        acc_ax.plot(epochs, history.val_acc, color=color, label=label)
        for m, style in zip(history.modalities, ["-", "--", ":", "-."]):
            grad_ax.plot(epochs, history.grad_norm[m], color=color, ls=style, label=f"{label}: {m}")
    acc_ax.set(xlabel="epoch", ylabel="validation accuracy (fused)", title="accuracy")
    grad_ax.set(xlabel="epoch", ylabel="mean ‖∇θ‖ per step", yscale="log", title="encoder gradient norms")
    for ax in (acc_ax, grad_ax):
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def presets_figure(histories):
    """Plotly figure of precomputed runs with one button per routing preset (and one for all).

    `histories` `{label: History}`. Left: validation accuracy per epoch; right: each encoder's gradient norm
    per epoch (log scale). Works on a static page without a kernel.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("validation accuracy (fused)", "encoder gradient norm"))
    owners = []
    for i, (label, history) in enumerate(histories.items()):
        color = f"hsl({(i * 137) % 360}, 60%, 45%)"
        epochs = list(range(1, len(history.val_acc) + 1))
        fig.add_trace(go.Scatter(x=epochs, y=history.val_acc, name=label, line={"color": color},
                                 legendgroup=label), row=1, col=1)
        owners.append(label)
        for m, dash in zip(history.modalities, ["solid", "dash", "dot", "dashdot"]):
            fig.add_trace(go.Scatter(x=epochs, y=history.grad_norm[m], name=f"{label}: {m}", legendgroup=label,
                                     line={"color": color, "dash": dash}), row=1, col=2)
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


def alpha_sweep_figure(accuracies, joint_acc, title="DGL's unimodal weight α"):
    """DGL's test accuracy per unimodal weight, `accuracies` `{alpha: accuracy}`, on a log axis ticked at exactly
    the swept alphas (plain labels, no minor labels), with joint training's `joint_acc` as a dashed line.

    Returns a matplotlib Figure.
    """
    alphas = sorted(accuracies)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(alphas, [accuracies[a] for a in alphas], "o-", label="DGL")
    ax.axhline(joint_acc, color="gray", ls="--", label="joint")
    ax.set(xscale="log", xlabel="α", ylabel="test accuracy", title=title)
    ax.set_xticks(alphas, [f"{a:g}" for a in alphas])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend()
    fig.tight_layout()
    return fig
