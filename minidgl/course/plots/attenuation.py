"""Figures and tables for chapter 3: the attenuation argument measured on a joint model, and the margin slider."""
import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter
import numpy as np
import plotly.graph_objects as go

from ...diagnostics import fused_error_vs_margin


def head_label(modality):
    """How the course names `q`: the joint model's own head applied to `modality`'s features alone."""
    return f"the joint model's {modality} head"


def epoch_label(epoch):
    """`"before training"` for epoch 0, else `"after epoch N"`."""
    return "before training" if epoch == 0 else f"after epoch {epoch}"


def factor_histograms(study):
    """One panel per encoder: histograms (log-spaced bins) of the per-sample attenuation factor
    `(1 - p_y) / (1 - q_y)` at each checkpoint of `study`. Returns a matplotlib Figure."""
    checkpoints = study["checkpoints"]
    modalities = list(next(iter(checkpoints.values())))
    fig, axes = plt.subplots(1, len(modalities), figsize=(5 * len(modalities), 3.4), squeeze=False)
    logs = np.concatenate([m["log10_factor"].numpy() for c in checkpoints.values() for m in c.values()])
    bins = np.logspace(np.floor(logs.min()), np.ceil(max(logs.max(), 0.5)), 40)
    for ax, m in zip(axes[0], modalities):
        for epoch, per_modality in checkpoints.items():
            ax.hist(10 ** per_modality[m]["log10_factor"].numpy(), bins=bins, histtype="step", lw=1.5,
                    label=epoch_label(epoch))
        ax.axvline(1, color="k", ls="--", lw=1, label="no attenuation (factor 1)")
        ax.set(xscale="log", xlabel=f"(1 − p_y) / (1 − q_y),  q: {head_label(m)}", ylabel="training samples",
               title=f"encoder '{m}'")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def error_scatter_figure(study, epochs):
    """A grid of panels, one row per encoder and one column per epoch in `epochs` (checkpoints of `study`):
    per training sample, the fused error `1 - p_y` against `1 - q_y`, log-log, coloured by the exact condition
    `e^{u_y} >= sum_j q_j e^{u_j}`. Points under the diagonal are attenuated. Returns a matplotlib Figure."""
    modalities = list(study["checkpoints"][epochs[0]])
    fig, axes = plt.subplots(len(modalities), len(epochs), figsize=(4.2 * len(epochs), 3.8 * len(modalities)),
                             squeeze=False)
    for row, m in enumerate(modalities):
        for col, epoch in enumerate(epochs):
            ax, measured = axes[row, col], study["checkpoints"][epoch][m]
            alone, fused = measured["unimodal_error"].numpy(), measured["fused_error"].numpy()
            holds = measured["exact_condition"].numpy()
            ax.scatter(alone[holds], fused[holds], s=6, alpha=0.5, label="condition holds")
            ax.scatter(alone[~holds], fused[~holds], s=6, alpha=0.5, label="condition fails")
            low = min(alone.min(), fused.min())
            ax.plot([low, 1], [low, 1], "k--", lw=1, label="factor 1")
            ax.set(xscale="log", yscale="log", xlabel=f"1 − q_y: {head_label(m)}",
                   ylabel="1 − p_y: the fused prediction", title=f"encoder '{m}', {epoch_label(epoch)}")
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


SEED_COLUMNS = {"fused right": "fused prediction right", "head right": "its head alone right",
                "p_y >= q_y": "p_y ≥ q_y", "argmax u = y": "argmax u = y",
                "fused feature gradient larger": "fused feature gradient larger"}


def seeds_summary_table(over_seeds):
    """A markdown table of an `attenuation_over_seeds` study: one row per (checkpoint, encoder), each cell the
    mean ± std over seeds of a fraction of training samples (`SEED_COLUMNS`), of the median attenuation factor
    and of the parameter-gradient ratio `‖∇θ L_mm‖ / ‖∇θ L_uni‖`."""
    header = ["epoch", "encoder", *SEED_COLUMNS.values(), "median (1 − p_y)/(1 − q_y)",
              "‖∇θ L_mm‖ / ‖∇θ L_uni‖"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for epoch, per_modality in over_seeds["summary"].items():
        for m, summary in per_modality.items():
            cells = [f"{summary[k]['mean']:.1%} ± {summary[k]['std']:.1%}" for k in SEED_COLUMNS]
            cells += [f"{summary[k]['mean']:.2g} ± {summary[k]['std']:.1g}"
                      for k in ("median factor", "gradient ratio")]
            lines.append(f"| {epoch} | {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def condition_factor_table(over_seeds):
    """A markdown table of an `attenuation_over_seeds` study: per (checkpoint, encoder), mean ± std over seeds
    of the share of samples where the other modality ranks the label first (`argmax u = y`) and of the median
    attenuation factor over those samples and over the others."""
    header = ["epoch", "encoder", "other modality ranks y first (argmax u = y)",
              "median factor where argmax u = y", "median factor where argmax u ≠ y"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for epoch, per_modality in over_seeds["summary"].items():
        for m, summary in per_modality.items():
            share = summary["argmax u = y"]
            cells = [f"{share['mean']:.1%} ± {share['std']:.1%}"]
            cells += [f"{summary[k]['mean']:.2g} ± {summary[k]['std']:.1g}"
                      for k in ("median factor | argmax u = y", "median factor | argmax u != y")]
            lines.append(f"| {epoch} | {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def gradient_norms_over_seeds_figure(over_seeds):
    """One panel per encoder: its parameter-gradient norm from the fused loss and from its own unimodal loss
    at each measured epoch, mean over the seeds of an `attenuation_over_seeds` study with a band from the
    smallest to the largest seed, on the training split. Returns a matplotlib Figure."""
    studies = list(over_seeds["studies"].values())
    epochs = studies[0]["epochs"]
    modalities = list(studies[0]["norms"])
    fig, axes = plt.subplots(1, len(modalities), figsize=(5 * len(modalities), 3.2), squeeze=False)
    labels = {"unimodal": "own unimodal loss L_uni (its head alone)",
              "fused": "fused loss L_mm (what joint training uses)"}
    for ax, m in zip(axes[0], modalities):
        for loss, label in labels.items():
            values = np.array([study["norms"][m][loss] for study in studies])
            ax.plot(epochs, values.mean(0), marker="o", ms=3, label=label)
            ax.fill_between(epochs, values.min(0), values.max(0), alpha=0.25)
        ax.set(yscale="log", xlabel="epoch of joint training (0: untrained)",
               ylabel="‖∇θ L‖ on training samples", title=f"encoder '{m}'", xticks=epochs)
        ax.yaxis.set_minor_formatter(NullFormatter())  # labels at powers of ten only
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def margin_slider_figure(q_y=0.3, margins=np.linspace(-3, 6, 37)):
    """Plotly figure with a slider over the other modality's margin `u_y - max_{k != y} u_k`.

    Shows the fused error `1 - p_y` (curve, and a marker at the slider's margin) against the fixed unimodal
    error `1 - q_y`. Every slider step is precomputed, so it works in a static page without a kernel.
    """
    margins = np.asarray(margins, dtype=float)
    errors = fused_error_vs_margin(q_y, margins).numpy()
    fig = go.Figure([
        go.Scatter(x=margins, y=errors, mode="lines", name="1 − p_y through the fusion"),
        go.Scatter(x=[margins[0], margins[-1]], y=[1 - q_y] * 2, mode="lines", line={"dash": "dash"},
                   name=f"1 − q_y = {1 - q_y:.2f} (this modality alone)"),
        go.Scatter(x=[margins[0]], y=[errors[0]], mode="markers", marker={"size": 14}, name="current margin"),
    ])
    steps = [{"method": "restyle", "label": f"{m:.2f}",
              "args": [{"x": [[m]], "y": [[e]]}, [2]]} for m, e in zip(margins, errors)]
    fig.update_layout(
        sliders=[{"steps": steps, "currentvalue": {"prefix": "other modality's margin u_y − max u_k = "}}],
        xaxis_title="other modality's logit margin on the true class", yaxis_title="error signal |∂L/∂f_y|",
        yaxis_range=[0, 1], title=f"The other modality's confidence shrinks the error (q_y = {q_y:.2f})",
        height=420, legend={"orientation": "h", "y": -0.35})
    return fig
