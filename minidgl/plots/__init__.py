"""Figures for the course: matplotlib for static plots, plotly where a reader explores. One module per topic."""
import matplotlib as mpl
import plotly.io as pio


def setup_notebook():
    """Course-wide figure defaults, called once at the top of every chapter.

    matplotlib: a readable size and resolution. plotly: figures carry their JSON for JupyterLab and an HTML
    rendering that uses the page's plotly.js (loaded once by the book, not inlined into every output).
    """
    mpl.rcParams.update({"figure.figsize": (7, 3.5), "figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3,
                         "axes.spines.top": False, "axes.spines.right": False})
    pio.renderers.default = "plotly_mimetype+notebook_connected"
