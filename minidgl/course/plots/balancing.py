"""Figures for chapter 5: OGM-GE's k(rho), balancing signals over training (per epoch or per window of steps),
linear probes and accuracy inside each model, step cost."""
import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ...errors import InvalidValue
from ...methods.ogm_ge import coefficient

COLORS = {"audio": "#1f77b4", "visual": "#ff7f0e"}


def k_of_rho_figure(alphas=(0.1, 0.8), rho_max=3.0):
    """OGM-GE's coefficient `k = 1 - tanh(alpha * rho)` for `rho > 1`, else 1, one curve per alpha; the jump
    at `rho = 1` is drawn as a gap with an open and a closed marker. Returns a matplotlib Figure."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    below, above = np.linspace(0, 1, 50), np.linspace(1, rho_max, 200)[1:]
    for alpha in alphas:
        k_above = coefficient(torch.tensor(above), alpha).numpy()
        line, = ax.plot(above, k_above, label=f"α = {alpha}")
        ax.plot(below, np.ones_like(below), color=line.get_color())
        ax.plot([1], [1], "o", color=line.get_color())
        ax.plot([1], [1 - np.tanh(alpha)], "o", mfc="white", color=line.get_color())
    ax.axvline(1, color="gray", ls=":", lw=1)
    ax.set(xlabel="discrepancy ratio ρ", ylabel="gradient coefficient k", ylim=(0, 1.05),
           title="OGM-GE damps only the dominant modality (ρ > 1)")
    ax.legend()
    fig.tight_layout()
    return fig


def window_means(values, window):
    """`(centers, means)`: the mean of `values` over consecutive windows of `window` steps (the last window may
    be shorter) and each window's centre, in steps counted from 1. Lists of floats."""
    if window < 1:
        raise InvalidValue(f"window is a number of steps and must be >= 1, got {window}")
    starts = range(0, len(values), window)
    chunks = [values[s:s + window] for s in starts]
    return ([s + (len(c) + 1) / 2 for s, c in zip(starts, chunks)], [sum(c) / len(c) for c in chunks])


def steps_per_epoch(history, stat, modality):
    """How many values of `history.method_steps[stat][modality]` fall in one epoch (every epoch has as many)."""
    return len(history.method_steps[stat][modality]) // len(history.val_acc)


def span_summary(histories, stat, modality, spans, below=None):
    """For each span `(start, stop)` of steps (0-based, stop excluded): the mean over runs of the mean of
    `history.method_steps[stat][modality][start:stop]`, or, with `below`, of the fraction of those steps whose
    value is below `below` (e.g. `"k", "audio", below=1`: how often OGM-GE damped audio). A list of floats."""
    def one(values):
        return sum((v < below) if below is not None else v for v in values) / len(values)
    return [sum(one(h.method_steps[stat][modality][start:stop]) for h in histories) / len(histories)
            for start, stop in spans]


def span_label(start, stop, per_epoch):
    """`"26–100 (epoch 1)"` for the 0-based span `(25, 100)` of steps, with `per_epoch` steps per epoch."""
    first, last = start // per_epoch + 1, (stop - 1) // per_epoch + 1
    epochs = f"epoch {first}" if first == last else f"epochs {first}–{last}"
    return f"{start + 1}–{stop} ({epochs})"


def _span_table(first_column, columns):
    header = ["steps"] + list(columns)
    rows = [[label] + [values[i] for values in columns.values()] for i, label in enumerate(first_column)]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def dynamics_table(ogm_histories, mmpareto_histories, spans):
    """Two markdown tables, one row per span of steps. OGM-GE: the mean ρ of each modality and the share of
    steps on which it damped each one (k < 1). MMPareto: the mean cosine between the multimodal and unimodal
    gradient on each encoder, and its conflicting steps (cosine <= 0) counted over all runs. Means over runs."""
    modalities = ogm_histories[0].modalities
    labels = [span_label(start, stop, steps_per_epoch(ogm_histories[0], "rho", modalities[0]))
              for start, stop in spans]
    ogm = {}
    for m in modalities:
        ogm[f"ρ {m}"] = [f"{v:.2f}" for v in span_summary(ogm_histories, "rho", m, spans)]
    for m in modalities:
        ogm[f"{m} damped (k < 1)"] = [f"{v:.0%}" for v in span_summary(ogm_histories, "k", m, spans, below=1)]
    mmp, runs = {}, len(mmpareto_histories)
    for m in modalities:
        mmp[f"cos {m}"] = [f"{v:.2f}" for v in span_summary(mmpareto_histories, "cos", m, spans)]
    for m in modalities:
        shares = span_summary(mmpareto_histories, "conflict", m, spans)
        mmp[f"conflicting steps, {m}"] = [f"{round(share * (stop - start) * runs)} of {(stop - start) * runs}"
                                          for share, (start, stop) in zip(shares, spans)]
    return (f"**OGM-GE** (means over {len(ogm_histories)} runs)\n\n" + _span_table(labels, ogm) +
            f"\n\n**MMPareto** (cosines: means over {runs} runs; conflicts: all runs together)\n\n" +
            _span_table(labels, mmp))


def _step_traces(fig, histories, key, row, col, window, showlegend):
    """One line per (modality, seed): `history.method_steps[key][m]` averaged over windows of `window` steps,
    against the epoch (fractional: step / steps per epoch)."""
    for seed, history in enumerate(histories):
        for m in history.modalities:
            centers, means = window_means(history.method_steps[key][m], window)
            per_epoch = steps_per_epoch(history, key, m)
            fig.add_trace(go.Scatter(
                x=[c / per_epoch for c in centers], y=means, mode="lines", line={"color": COLORS.get(m)},
                opacity=1.0 if seed == 0 else 0.4, name=m, legendgroup=m, showlegend=showlegend and seed == 0,
                hovertemplate=f"{key} ({m}, run {seed})<br>epoch %{{x:.2f}}: %{{y:.3f}}<extra></extra>"),
                row=row, col=col)


def step_dynamics_figure(ogm_histories, mmpareto_histories, window=20):
    """Plotly 2x2 grid of the balancing signals recorded at every step (`History.method_steps`), averaged over
    windows of `window` steps, one line per modality and run: OGM-GE's `rho` and `k` (top), MMPareto's
    gradient cosine and fraction of conflicting steps (bottom). x: epochs (fractional)."""
    fig = make_subplots(rows=2, cols=2, horizontal_spacing=0.12, vertical_spacing=0.16, subplot_titles=(
        "OGM-GE: discrepancy ratio ρ", "OGM-GE: gradient coefficient k",
        "MMPareto: cos(g_mm, g_uni) on the encoder", "MMPareto: fraction of conflicting steps"))
    for (histories, key, row, col) in ((ogm_histories, "rho", 1, 1), (ogm_histories, "k", 1, 2),
                                       (mmpareto_histories, "cos", 2, 1), (mmpareto_histories, "conflict", 2, 2)):
        _step_traces(fig, histories, key, row, col, window, showlegend=(row, col) == (1, 1))
    fig.add_hline(y=1, line_dash="dash", line_color="gray", row=1, col=1)
    fig.add_hline(y=0, line_dash="dash", line_color="gray", row=2, col=1)
    fig.update_xaxes(title_text="epoch", row=2)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_layout(height=560, title=f"Balancing signals, means over {window} steps (faint lines: other seeds)",
                      legend={"orientation": "h", "y": -0.12}, margin={"t": 80})
    return fig


def _multimodal_labels(results):
    """The rows of a report that train a multimodal model: not `unimodal:<m>`, not `random_init`."""
    return [label for label in results if not label.startswith("unimodal:") and label != "random_init"]


def twin_gaps(report):
    """How far each multimodal model's encoders are from the separately trained unimodal models, in a
    `studies.probe_compare` report: `{label: {"probe": {m: gap}, "inside": {m: gap}}}`, mean accuracies, gap =
    model minus twin. "probe": linear probe minus the twin's probe; "inside": the model's unimodal logits minus
    the twin's test accuracy. Only modalities with a `unimodal:<m>` row."""
    results, modalities = report["results"], report["config"]["modalities"]
    twins = [m for m in modalities if f"unimodal:{m}" in results]
    return {label: {"probe": {m: results[label]["probe_acc"][m]["mean"]
                              - results[f"unimodal:{m}"]["probe_acc"][m]["mean"] for m in twins},
                    "inside": {m: results[label]["unimodal_test_acc"][m]["mean"]
                               - results[f"unimodal:{m}"]["test_acc"]["mean"] for m in twins}}
            for label in _multimodal_labels(results)}


def format_twin_gaps(report):
    """A markdown table of `twin_gaps` in accuracy points (signed, one decimal)."""
    gaps = twin_gaps(report)
    modalities = list(next(iter(gaps.values()))["probe"])
    header = (["method"] + [f"{m} probe" for m in modalities]
              + [f"{m} logits inside" for m in modalities])
    rows = [[label] + [f"{100 * g['probe'][m]:+.1f}" for m in modalities]
            + [f"{100 * g['inside'][m]:+.1f}" for m in modalities] for label, g in gaps.items()]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    note = ("Gaps to the modality trained alone, in accuracy points (model minus twin): probe minus the twin's "
            "probe; unimodal logits inside the model minus the twin's test accuracy.")
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n\n" + note


def probe_figure(report):
    """Two panels over the multimodal methods of a `studies.probe_compare` report, one bar per modality
    (mean ± std, dots: seeds): left, the linear probe of each encoder, with dashed lines at the unimodal
    models' probes; right, the accuracy of each modality's unimodal logits inside the model, with dashed lines
    at the unimodal models' test accuracy. The y axes are zoomed to the bars. Returns a matplotlib Figure."""
    results, modalities = report["results"], report["config"]["modalities"]
    labels = _multimodal_labels(results)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    panels = ((axes[0], "probe_acc", "probe_acc", "linear probe of the encoder (test)"),
              (axes[1], "unimodal_test_acc", "test_acc", "unimodal logits inside the model (test)"))
    width = 0.8 / len(modalities)
    for ax, key, twin_key, title in panels:
        lows, highs = [], []
        for i, m in enumerate(modalities):
            summaries = [results[label][key][m] for label in labels]
            x = np.arange(len(labels)) + (i - (len(modalities) - 1) / 2) * width
            means, stds = [s["mean"] for s in summaries], [s["std"] for s in summaries]
            ax.bar(x, means, width, yerr=stds, capsize=3, color=COLORS.get(m), alpha=0.8, label=m)
            for xi, s in zip(x, summaries):
                ax.plot([xi] * len(s["per_seed"]), s["per_seed"], "k.", ms=3)
            lows += [min(s["per_seed"]) for s in summaries]
            highs += [max(s["per_seed"]) for s in summaries]
            twin = results.get(f"unimodal:{m}")
            if twin is not None:
                level = (twin["probe_acc"][m] if twin_key == "probe_acc" else twin["test_acc"])["mean"]
                ax.axhline(level, color=COLORS.get(m), ls="--", lw=1.2, label=f"{m} trained alone")
                lows.append(level)
                highs.append(level)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylim(max(0.0, min(lows) - 0.04), min(1.0, max(highs) + 0.03))
        ax.set(ylabel="test accuracy", title=title)
        ax.title.set_fontsize(10)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, fontsize=8, ncol=4, loc="lower center")
    fig.suptitle("How good is each encoder? (mean ± std over seeds, dots: seeds; y axes zoomed)", fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def step_cost_figure(costs):
    """Bars of each method's step time relative to joint training; `costs` is `minidgl.timing.step_cost`
    output `{name: {"ratio_to_joint", ...}}`. Returns a matplotlib Figure."""
    names = list(costs)
    ratios = [costs[name]["ratio_to_joint"] for name in names]
    fig, ax = plt.subplots(figsize=(5, 3))
    bars = ax.bar(names, ratios, color="#7f7f7f")
    ax.bar_label(bars, [f"{r:.2f}×" for r in ratios], fontsize=8)
    ax.axhline(1, color="k", lw=1)
    ax.set(ylabel="step time / joint", title="Cost of one training step")
    fig.tight_layout()
    return fig
