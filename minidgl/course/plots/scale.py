"""Chapter 7's figures: a prepared clip as the model receives it, and how far data-parallel copies drift apart."""
import matplotlib.pyplot as plt
import torch

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def clip_figure(sample, title=""):
    """A matplotlib `Figure` of one clip sample `({"audio": (1, F, T), "visual": (3, frames, H, W)}, label)`:
    each frame (ImageNet normalisation undone) and the audio feature as an image, frequency bins upwards."""
    inputs, _ = sample
    frames = inputs["visual"].transpose(0, 1)  # (frames, 3, H, W)
    fig, axes = plt.subplots(1, len(frames) + 1, figsize=(3 * (len(frames) + 1.6), 3),
                             gridspec_kw={"width_ratios": [1] * len(frames) + [1.6]})
    for k, (ax, frame) in enumerate(zip(axes, frames)):
        ax.imshow((frame * IMAGENET_STD + IMAGENET_MEAN).clamp(0, 1).permute(1, 2, 0).numpy())
        ax.set_title(f"frame {k + 1} (visual)")
        ax.axis("off")
    audio = inputs["audio"][0]
    axes[-1].imshow(audio.numpy(), origin="lower", aspect="auto", cmap="magma")
    axes[-1].set(title=f"audio feature {tuple(audio.shape)}", xlabel="frame", ylabel="bin")
    axes[-1].grid(False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def drift_figure(drift):
    """A matplotlib `Figure` of `minidgl.course.scale.replica_drift` output: for each procedure, the largest gap
    between the two processes' fusion and encoder parameters, and to one process on the whole batches (log
    scale; an exact 0 is drawn at the bottom and labelled)."""
    procedures = list(drift)
    parts = [("fusion", "fusion: process 0 vs 1"), ("encoders", "encoders: process 0 vs 1"),
             ("vs_one_process", "process 0 vs one process")]
    floor = 1e-12
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    width = 0.8 / len(parts)
    for j, (key, label) in enumerate(parts):
        values = [drift[p][key] for p in procedures]
        bars = ax.bar([i + (j - 1) * width for i in range(len(procedures))], [max(v, floor) for v in values],
                      width, label=label)
        for bar, value in zip(bars, values):
            ax.annotate("0" if value == 0 else f"{value:.1e}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8)
    ax.set(yscale="log", ylim=(floor / 2, 10), ylabel="max |difference|", xticks=range(len(procedures)),
           xticklabels=procedures, title="DGL under DistributedDataParallel, two CPU processes")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
