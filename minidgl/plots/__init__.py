"""Figures for the course: matplotlib for static plots, plotly where a reader explores. One module per topic."""
