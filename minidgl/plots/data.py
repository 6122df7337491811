"""Figures of the data itself: a grid of digit images and a grid of DTMF log-spectrograms."""
import matplotlib.pyplot as plt
import torch


def digits_grid(images, labels, per_class=6, num_classes=10):
    """A matplotlib `Figure`: `per_class` images `(n, 1, h, w)` (or `(n, h, w)`) of each class, one row per class.

    `labels` `(n,)`. The first `per_class` samples of each class are shown, in dataset order.
    """
    images = images.reshape(len(images), *images.shape[-2:])
    fig, axes = plt.subplots(num_classes, per_class, figsize=(per_class * 0.8, num_classes * 0.8), squeeze=False)
    for k in range(num_classes):
        index = torch.nonzero(labels == k).flatten()[:per_class]
        for j, ax in enumerate(axes[k]):
            if j < len(index):
                ax.imshow(images[index[j]].numpy(), cmap="gray_r")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        axes[k, 0].set_ylabel(str(k), rotation=0, labelpad=10)
    fig.tight_layout(pad=0.2)
    return fig


def spectrogram_grid(spectrograms, row_labels, col_labels, max_hz, duration_s, marks_hz=None):
    """A matplotlib `Figure` of log-spectrograms `(rows, cols, freq_bins, frames)` with frequency in Hz.

    `marks_hz` `{col_label: (f_low, f_high)}` draws the two expected tones of each column as dotted lines.
    """
    rows, cols = spectrograms.shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.0 * rows), squeeze=False, sharex=True, sharey=True)
    for i in range(rows):
        for j in range(cols):
            ax = axes[i, j]
            ax.imshow(spectrograms[i, j].numpy(), origin="lower", aspect="auto", cmap="magma",
                      extent=(0, duration_s, 0, max_hz))
            ax.grid(False)
            for hz in (marks_hz or {}).get(col_labels[j], ()):
                ax.axhline(hz, color="cyan", lw=0.6, ls=":")
            if i == 0:
                ax.set_title(str(col_labels[j]))
            if j == 0:
                ax.set_ylabel(f"{row_labels[i]}\nHz")
            if i == rows - 1:
                ax.set_xlabel("s")
    fig.tight_layout()
    return fig
