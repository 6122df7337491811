"""Figures of training results: per-epoch curves of `History` objects, mean ± std bars, accuracy vs a knob."""
import matplotlib.pyplot as plt
import plotly.graph_objects as go

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def mean_std_bars(summaries, ylabel="test accuracy", title=None, reference=None):
    """A matplotlib `Figure`: one bar per entry of `summaries` `{label: {"mean", "std", "per_seed"}}`, the
    std as an error bar and each seed as a dot. `reference` (a float) draws a dashed horizontal line."""
    fig, ax = plt.subplots()
    labels = list(summaries)
    for x, label in enumerate(labels):
        s = summaries[label]
        ax.bar(x, s["mean"], yerr=s["std"], capsize=4, color=PALETTE[x % len(PALETTE)], alpha=0.8)
        ax.plot([x] * len(s["per_seed"]), s["per_seed"], "k.", ms=4)
        ax.annotate(f"{s['mean']:.3f}", (x, s["mean"] + s["std"]), ha="center", va="bottom", fontsize=8,
                    xytext=(0, 2), textcoords="offset points")
    if reference is not None:
        ax.axhline(reference, color="k", ls="--", lw=1)
    ax.set_xticks(range(len(labels)), labels, rotation=20)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def fusion_bars(accuracies, reference, reference_label="best single modality"):
    """A plotly `go.Figure`: one bar per fusion in `accuracies` `{fusion: test accuracy}` and a dashed line at
    `reference`, so bars below the line are fusions that lose to the single modality. Two traces."""
    names = list(accuracies)
    colours = ["#d62728" if accuracies[n] < reference else "#2ca02c" for n in names]
    fig = go.Figure(go.Bar(x=names, y=[accuracies[n] for n in names], marker_color=colours, name="joint training",
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=names, y=[reference] * len(names), mode="lines", name=reference_label,
                             line={"color": "black", "dash": "dash"},
                             hovertemplate=f"{reference_label}: {reference:.3f}<extra></extra>"))
    fig.update_layout(yaxis_title="test accuracy", xaxis_title="fusion", height=360, template="plotly_white",
                      title="joint training by fusion (red: below the single modality)")
    return fig


def joint_training_panels(histories, title=None):
    """A matplotlib `Figure` of joint runs `histories` (one `History` per seed), two panels per epoch:
    the fused training loss (log scale) and each unimodal head's accuracy, on the training batches as they
    were trained (solid) and on the validation split (dashed). One colour per modality, one line per seed.

    A head far more accurate on training than on validation samples is memorising its training set."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(9, 3.5))
    modalities = histories[0].modalities
    for history in histories:
        epochs = range(1, len(history.train_loss) + 1)
        loss_ax.plot(epochs, history.train_loss, color="k", lw=1)
        for k, m in enumerate(modalities):
            colour = PALETTE[k % len(PALETTE)]
            acc_ax.plot(epochs, history.train_unimodal_acc[m], color=colour, lw=1.2,
                        label=f"{m} head, training" if history is histories[0] else None)
            acc_ax.plot(epochs, history.val_unimodal_acc[m], color=colour, lw=1.2, ls="--",
                        label=f"{m} head, validation" if history is histories[0] else None)
    loss_ax.set_yscale("log")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("fused training loss")
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("accuracy of the head alone")
    acc_ax.set_ylim(0, 1.02)
    acc_ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def probe_bars(report, ylabel="linear-probe test accuracy", title=None, chance=None):
    """A matplotlib `Figure` of a linear-probe report (`studies.probe_compare` or `studies.probe_runs`): one
    group of bars per modality, one bar per row that probed that encoder (mean, the std as an error bar,
    each seed as a dot), coloured by row. `chance` (a float) draws a dashed line labelled "chance"."""
    modalities, labels = report["config"]["modalities"], list(report["results"])
    colours = {label: PALETTE[k % len(PALETTE)] for k, label in enumerate(labels)}
    fig, ax = plt.subplots()
    drawn = set()
    for g, m in enumerate(modalities):
        rows = [label for label in labels if m in report["results"][label]["probe_acc"]]
        width = 0.8 / max(len(rows), 1)
        for r, label in enumerate(rows):
            s = report["results"][label]["probe_acc"][m]
            x = g + (r - (len(rows) - 1) / 2) * width
            name = "random_init (untrained)" if label == "random_init" else label
            ax.bar(x, s["mean"], 0.9 * width, yerr=s["std"], capsize=3, color=colours[label], alpha=0.8,
                   label=None if label in drawn else name)
            drawn.add(label)
            ax.plot([x] * len(s["per_seed"]), s["per_seed"], "k.", ms=4)
            ax.annotate(f"{s['mean']:.3f}", (x, s["mean"] + s["std"]), ha="center", va="bottom", fontsize=8,
                        xytext=(0, 2), textcoords="offset points")
    if chance is not None:
        ax.axhline(chance, color="k", ls="--", lw=1, label="chance")
    ax.set_xticks(range(len(modalities)), [f"{m} encoder" for m in modalities])
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
