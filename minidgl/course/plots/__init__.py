"""Figures for the course: matplotlib for static plots, plotly where a reader explores. One module per topic."""
import sys

import matplotlib as mpl
import plotly.io as pio


def setup_notebook():
    """Course-wide figure defaults, called once at the top of every chapter.

    matplotlib: a readable size and resolution. plotly: figures are emitted as their JSON alone
    (`plotly_mimetype`), which JupyterLab draws and the book draws with its local plotly.js; on Colab,
    Colab's own renderer.
    """
    mpl.rcParams.update({"figure.figsize": (7, 3.5), "figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3,
                         "axes.spines.top": False, "axes.spines.right": False})
    pio.renderers.default = "colab" if "google.colab" in sys.modules else "plotly_mimetype"
