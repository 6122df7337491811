"""Chapter 6's figures: the method x fusion grid (fused accuracy and encoder probes) and each encoder's learning
signal under joint training, per fusion."""
import matplotlib.pyplot as plt

from ..interaction import FUSION_NAMES, grid_value

METHOD_COLORS = {"joint": "#7f7f7f", "uniform": "#2ca02c", "dgl": "#d62728"}


def grid_figure(grid, probed, alone=None):
    """A matplotlib `Figure` of a `fusion_grid`: one row per dataset, with the fused test accuracy and the linear
    probe of encoder `probed[name]`, one group of bars per fusion and one bar per method (mean over the seeds,
    error bar one std). `alone` `{name: summary}`: the probe of that encoder trained alone, drawn as a dashed
    line."""
    names = list(grid["reports"])
    fig, axes = plt.subplots(len(names), 2, figsize=(11, 3.3 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        reports = grid["reports"][name]
        fusions = list(reports)
        methods = list(next(iter(reports.values()))["results"])
        width = 0.8 / len(methods)
        for ax, (what, modality, title) in zip(row, [("test_acc", None, f"{name}: fused test accuracy"),
                                                      ("probe_acc", probed[name],
                                                       f"{name}: probe of encoder {probed[name]}")]):
            for j, method in enumerate(methods):
                values = [grid_value(grid, name, f, method, what, modality) for f in fusions]
                ax.bar([i + (j - (len(methods) - 1) / 2) * width for i in range(len(fusions))],
                       [v["mean"] for v in values], width, yerr=[v["std"] for v in values], capsize=3,
                       label=method, color=METHOD_COLORS.get(method))
            if modality is not None and alone is not None:
                ax.axhline(alone[name]["mean"], color="black", ls="--", lw=1, label=f"{modality} trained alone")
            low = min(grid_value(grid, name, f, m, what, modality)["mean"] for f in fusions for m in methods)
            top = max(grid_value(grid, name, f, m, what, modality)["mean"] for f in fusions for m in methods)
            if modality is not None and alone is not None:
                low, top = min(low, alone[name]["mean"]), max(top, alone[name]["mean"])
            ax.set(xticks=range(len(fusions)), xticklabels=[FUSION_NAMES.get(f, f) for f in fusions], title=title,
                   ylim=(max(0.0, low - 0.1), min(1.0, top + 0.06)), ylabel="accuracy")
            ax.legend(fontsize=8, ncol=len(methods) + 1, loc="upper right")
    fig.tight_layout()
    return fig


def signal_figure(signals):
    """A matplotlib `Figure` of `learning_signal` results `{name: {fusion: {m: summary}}}`: per dataset, each
    encoder's ratio `||grad L_mm|| / ||grad L_m^uni||` under joint training, per fusion (log scale, mean over
    the seeds, error bar one std); the dotted line at 1 is "fusion passes as much as the encoder's own loss"."""
    fig, axes = plt.subplots(1, len(signals), figsize=(5.5 * len(signals), 3.4), squeeze=False)
    for ax, (name, signal) in zip(axes[0], signals.items()):
        fusions = list(signal)
        modalities = list(next(iter(signal.values())))
        width = 0.8 / len(modalities)
        for j, m in enumerate(modalities):
            values = [signal[f][m] for f in fusions]
            ax.bar([i + (j - (len(modalities) - 1) / 2) * width for i in range(len(fusions))],
                   [v["mean"] for v in values], width, yerr=[v["std"] for v in values], capsize=3,
                   label=f"encoder {m}")
        ax.axhline(1, color="gray", ls=":", lw=1)
        ax.set(yscale="log", xticks=range(len(fusions)), xticklabels=[FUSION_NAMES.get(f, f) for f in fusions],
               ylabel="‖∇L_mm‖ / ‖∇L_m‖", title=f"{name}: joint training, encoder learning signal")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
