"""Figures for chapter 3: encoder gradient norms, per-sample error signals, and the softmax attenuation slider."""
import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go

from ..diagnostics import fused_error_vs_margin


def grad_norm_figure(histories, modalities):
    """One panel per modality: mean encoder gradient norm per epoch for each run.

    `histories` `{label: History}`; runs without a gradient for a modality (unimodal training of another one)
    are skipped in that panel. Returns a matplotlib Figure.
    """
    fig, axes = plt.subplots(1, len(modalities), figsize=(4 * len(modalities), 3.2), squeeze=False)
    for ax, m in zip(axes[0], modalities):
        for label, h in histories.items():
            if any(h.grad_norm[m]):
                ax.plot(range(1, len(h.grad_norm[m]) + 1), h.grad_norm[m], label=label)
        ax.set(title=f"encoder '{m}'", xlabel="epoch", ylabel="mean ‖∇θ‖ per step", yscale="log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def error_scatter_figure(errors, modality, other_right):
    """Per-sample fused error `1 - p_y` against the unimodal error `1 - q_y` of `modality`.

    `errors`: `true_class_errors` output (`{"fused": (n,), modality: (n,)}`); `other_right` `(n,)` bool marks
    samples whose other-modality logits `u` rank the true class first. Points under the diagonal are
    attenuated. Returns a matplotlib Figure.
    """
    fused, alone, right = (np.asarray(errors["fused"]), np.asarray(errors[modality]), np.asarray(other_right))
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.scatter(alone[~right], fused[~right], s=8, alpha=0.6, label="argmax u ≠ y")
    ax.scatter(alone[right], fused[right], s=8, alpha=0.6, label="argmax u = y")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="no attenuation")
    ax.set(xlabel=f"1 − q_y ({modality} alone)", ylabel="1 − p_y (fused)", xlim=(0, 1), ylim=(0, 1),
           title=f"error signal reaching encoder '{modality}'")
    ax.legend(fontsize=8)
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
        yaxis_range=[0, 1], title=f"The other modality's confidence shrinks the gradient (q_y = {q_y:.2f})",
        height=420, legend={"orientation": "h", "y": -0.35})
    return fig
