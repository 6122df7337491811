"""Sphinx extension: draw plotly figures in the book offline, from plotly's JSON output and a local plotly.js.

Notebooks display figures with the ``plotly_mimetype`` renderer, so an output holds only the figure's JSON
(``application/vnd.plotly.v1+json``), never a copy of plotly.js nor a CDN link. This extension teaches
myst-nb to turn that JSON into a ``<div>`` plus a ``Plotly.newPlot`` call, and adds ``_static/plotly.min.js``
(vendored by ``make book`` from the plotly Python package, so it matches the kernel's plotly) to exactly
the pages that have a figure.

myst-nb finds mime renderers through the ``myst_nb.mime_renderers`` entry-point group only; a book cannot
declare one without packaging it, so ``setup`` adds this renderer to the list myst-nb loads.
"""
from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ConfigError

import myst_nb.core.render as nb_render

PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOTLY_JS = "plotly.min.js"  # relative to _static/

_DRAW = """<div id="{div_id}" class="plotly-graph-div" style="height:{height}px; width:100%;"></div>
<script type="text/javascript">
(function () {{
  var fig = {fig};
  function draw() {{
    Plotly.newPlot("{div_id}", fig.data || [], fig.layout || {{}}, Object.assign({{responsive: true}}, fig.config || {{}}));
  }}
  if (window.Plotly) {{ draw(); }} else {{ window.addEventListener("load", draw); }}
}})();
</script>"""


class PlotlyMimeRenderer:
    """myst-nb mime render plugin for plotly's JSON mime type (see myst_nb.core.render.MimeRenderPlugin)."""

    # Prefer the JSON over any text/html a notebook also stored (e.g. the "plotly_mimetype+notebook" default,
    # whose HTML loads MathJax from a CDN); 5 ranks above every default mime type of myst-nb.
    mime_priority_overrides = [("html", PLOTLY_MIME, 5), ("dirhtml", PLOTLY_MIME, 5),
                               ("singlehtml", PLOTLY_MIME, 5)]

    @staticmethod
    def handle_mime(renderer, data, inline):
        if data.mime_type != PLOTLY_MIME:
            return None
        fig = data.content if isinstance(data.content, dict) else json.loads(data.content)
        height = (fig.get("layout") or {}).get("height") or 525
        div_id = f"plotly-{data.cell_index}-{data.output_index}"
        html = _DRAW.format(div_id=div_id, height=int(height),
                            fig=json.dumps(fig).replace("</", "<\\/"))
        renderer.add_js_file("plotly_js", PLOTLY_JS, {"charset": "utf-8"})
        node = nodes.raw(text=html, format="html", classes=["output", "text_html", "plotly-output"])
        return [node]


def _with_plotly(loader):
    def load_mime_renders():
        return [*loader(), PlotlyMimeRenderer]
    return load_mime_renders


def _check_vendored(app: Sphinx) -> None:
    """Fail early, with the fix, when `make book` has not vendored the JavaScript the pages load."""
    static = [Path(app.confdir, p) for p in app.config.html_static_path]
    if not any((p / PLOTLY_JS).is_file() for p in static):
        raise ConfigError(f"{PLOTLY_JS} is missing from html_static_path {app.config.html_static_path}: "
                          "run `make book` (book/vendor.sh) to vendor the offline JavaScript")


def setup(app: Sphinx) -> dict:
    if PlotlyMimeRenderer not in nb_render.load_mime_renders():
        nb_render.load_mime_renders = _with_plotly(nb_render.load_mime_renders)
    app.connect("builder-inited", _check_vendored)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
