"""The course's own code, apart from the core: the chapters' plots, the routing lab widget, the exercises'
checkers and the multi-run studies the chapters report. Imported on demand (it loads matplotlib, plotly and
ipywidgets); `import minidgl` does not load it.

    from minidgl.course import plots, studies, widgets
"""
from . import exercises, plots, studies, widgets

__all__ = ["exercises", "plots", "studies", "widgets"]
