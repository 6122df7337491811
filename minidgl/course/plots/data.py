"""Figures of the data itself: a grid of digit images and a grid of DTMF log-spectrograms."""
import matplotlib.pyplot as plt
import torch

from ...errors import InvalidValue


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


def copies_grid(images, labels, copies, shown=6, num_classes=10, mean_column=True, value_range=(-0.5, 1.5)):
    """A matplotlib `Figure`: for each class, one image `(n, 1, h, w)` seen in `shown` of its `copies` noisy
    copies, one row per class (the first image of that class in the split); with `mean_column`, a last
    column with the mean of all `copies` copies, in which the noise averages out. The copies share one grey
    scale, `value_range` (values outside are clipped); the mean column uses [0, 1], the clean images' range.

    The split must be laid out as `make_av_digits` lays it out: `n / copies` images, sample `i + j * n_images`
    being copy `j` of image `i`. A split that is not (sizes or labels do not line up) raises `ValueError`.
    """
    if len(images) % copies or not 1 <= shown <= copies:
        raise InvalidValue(f"{len(images)} samples are not whole images of {copies} copies, or shown={shown} "
                           f"is not in 1..{copies}")
    n_images = len(images) // copies
    if not torch.equal(labels.reshape(copies, n_images), labels[:n_images].expand(copies, n_images)):
        raise InvalidValue("labels differ between copies: this split is not laid out as make_av_digits does")
    images = images.reshape(copies, n_images, *images.shape[-2:])   # (copy, image, h, w)
    columns = shown + bool(mean_column)
    fig, axes = plt.subplots(num_classes, columns, figsize=(columns * 0.8, num_classes * 0.8), squeeze=False)
    vmin, vmax = value_range
    for k in range(num_classes):
        first = torch.nonzero(labels[:n_images] == k).flatten()[:1]
        for j, ax in enumerate(axes[k]):
            if len(first):
                if j < shown:
                    ax.imshow(images[j, first[0]].numpy(), cmap="gray_r", vmin=vmin, vmax=vmax)
                else:
                    ax.imshow(images[:, first[0]].mean(0).numpy(), cmap="gray_r", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        axes[k, 0].set_ylabel(str(k), rotation=0, labelpad=10)
    for j in range(columns):
        axes[0, j].set_title(f"copy {j + 1}" if j < shown else f"mean of {copies}", fontsize=8)
    fig.tight_layout(pad=0.2)
    return fig
