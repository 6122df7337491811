"""The built book renders offline: math typeset, plotly figures drawn, widgets shown, nothing fetched from a CDN;
and it renders readably: tables as tables, each page's title first, display equations within the content column.

Opens the pages of `_build/html` (built by `make book`) in headless Chromium at a laptop's window size with every
network request sent to a dead proxy, and checks the DOM after the page's JavaScript ran. Without a built book or a
browser the tests skip, unless MINIDGL_REQUIRE_BOOK=1 (set by `make test`), which turns the skip into a failure.
MINIDGL_BOOK_HTML=path checks another build (e.g. a scratch copy).
"""
from __future__ import annotations

import html as html_lib
import json
import os
import re
import subprocess
import tempfile
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

import pytest
from book_toc import ROOT, chromium, toc_files, unavailable

HTML = Path(os.environ.get("MINIDGL_BOOK_HTML", ROOT / "_build" / "html"))
MAX_PAGE_BYTES = 3_000_000  # a page carrying its own copy of plotly.js (4.6 MB) is a renderer mistake
WINDOW = (1280, 900)  # a laptop screen: every display equation must fit the content column at this width


pytestmark = pytest.mark.xdist_group("rendered")  # one worker renders each page once (rendered_dom's cache)

PAGES = toc_files()
CHAPTERS = [p for p in PAGES if p.startswith("notebooks/")]



def built_page(page: str) -> Path:
    if not (HTML / "index.html").is_file():
        unavailable(f"no built book at {HTML}: run `make book`")
    path = HTML / f"{page}.html"
    assert path.is_file(), f"{page} is in _toc.yml but {path} was not built"
    return path



# Once MathJax has typeset the page, measures every display equation and writes the result on <html> as
# data-display-math = {"checked": n, "wide": [{"tex", "scroll", "client"}]}: the equations wider than their box.
MATH_PROBE = """<script>
window.addEventListener("load", () => (window.MathJax ? MathJax.startup.promise : Promise.resolve()).then(() => {
  const shown = window.MathJax ? Array.from(MathJax.startup.document.math).filter(item => item.display) : [];
  const wide = shown.map(item => ({tex: item.math.trim(), scroll: item.typesetRoot.scrollWidth,
                                    client: item.typesetRoot.clientWidth}))
    .filter(box => box.scroll > box.client + 2);
  document.documentElement.dataset.displayMath = JSON.stringify({checked: shown.length, wide: wide});
}));
</script>"""


@lru_cache(maxsize=None)
def rendered_dom(page: str) -> str:
    """The page's DOM after its scripts ran, in headless Chromium at WINDOW with no network, MATH_PROBE included.

    The probe goes into a copy of the page beside it (so that its relative links resolve), removed afterwards.
    """
    path = built_page(page)
    probed = path.with_name(f".probed-{path.name}")
    probed.write_text(path.read_text(encoding="utf-8").replace("</body>", MATH_PROBE + "</body>", 1), encoding="utf-8")
    try:
        return _chromium_dom(probed, page)
    finally:
        probed.unlink()


def _chromium_dom(path: Path, page: str) -> str:
    """Chromium's --dump-dom of `path` (a file of `page`), with every http(s) request sent to a closed port."""
    with tempfile.TemporaryDirectory() as profile:
        cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-default-apps", "--no-first-run", "--mute-audio", f"--user-data-dir={profile}",
               # any http(s) request goes to a closed port: what renders, renders offline
               "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
               "--virtual-time-budget=20000", "--window-size={},{}".format(*WINDOW), "--dump-dom", path.as_uri()]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "</html>" in done.stdout, f"Chromium failed on {page}: {done.stderr[-2000:]}"
    return done.stdout


def display_math_report(page: str) -> dict:
    """MATH_PROBE's measure of the page's display equations: {"checked": n, "wide": [...]}."""
    found = re.search(r'<html[^>]*\bdata-display-math="([^"]*)"', rendered_dom(page))
    assert found, f"{page}: the display-math probe did not report (MathJax never finished typesetting?)"
    return json.loads(html_lib.unescape(found.group(1)))


class _Resources(HTMLParser):
    """Collect the URLs a page loads by itself: <script src>, <link href> (stylesheets, preloads, icons)."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href") and set((attrs.get("rel") or "").split()) & {
                "stylesheet", "preload", "modulepreload", "prefetch", "icon"}:
            self.urls.append(attrs["href"])
        if tag in ("img", "iframe") and attrs.get("src"):
            self.urls.append(attrs["src"])


class _Paragraphs(HTMLParser):
    """Collect the text of every <p> of a page."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self._inside = False

    def handle_starttag(self, tag, attrs):
        if tag == "p":
            self.texts.append("")
            self._inside = True

    def handle_endtag(self, tag):
        if tag == "p":
            self._inside = False

    def handle_data(self, data):
        if self._inside:
            self.texts[-1] += data


def raw_pipe_tables(html: str) -> list[str]:
    """The paragraphs that are a markdown pipe table left as text: they start with '|' and have a '|---' rule
    ('|—' once smart quotes made the dashes an em dash) or several '|'-separated cells on their first line."""
    parser = _Paragraphs()
    parser.feed(html)
    texts = [t.strip() for t in parser.texts]
    return [t for t in texts if t.startswith("|")
            and (re.search(r"\|\s*:?(-{3,}|—)", t) or t.splitlines()[0].count("|") >= 3)]


def article_body(html: str, page: str) -> str:
    """The page's main content, from its <article> on (the page header before it repeats the title)."""
    start = html.find('<article class="bd-article"')
    assert start >= 0, f"{page}: no <article class=\"bd-article\"> (did the theme change?)"
    return html[start:]


def static_count(html: str, pattern: str) -> int:
    return len(re.findall(pattern, html))


MATH = r'class="math notranslate nohighlight"'
DISPLAY_MATH = r'<div class="math notranslate nohighlight"'
CODE_CELL = r'<div class="cell[ "]|Show code cell'
PLOT = r'class="plotly-graph-div"'
WIDGET = r'type="application/vnd\.jupyter\.widget-view\+json"'
TABLE_OUTPUT = r'<div class="cell_output docutils container">\s*(<div[^>]*>)?<table'


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_nothing_from_the_network(page):
    html = built_page(page).read_text(encoding="utf-8")
    parser = _Resources()
    parser.feed(html)
    remote = [u for u in parser.urls if re.match(r"^(https?:)?//", u)]
    assert not remote, f"{page} loads remote resources (vendor them in book/vendor.sh): {remote}"
    assert len(html.encode()) < MAX_PAGE_BYTES, (
        f"{page} is {len(html.encode()) / 1e6:.1f} MB: a notebook probably inlined plotly.js; its first code cell "
        "must set plotly.io.renderers.default = 'plotly_mimetype'")


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_renders_math_figures_and_widgets(page):
    html = built_page(page).read_text(encoding="utf-8")
    dom = rendered_dom(page)
    maths, plots, widgets = static_count(html, MATH), static_count(html, PLOT), static_count(html, WIDGET)

    typeset = static_count(dom, r"<mjx-container")
    assert typeset >= maths, f"{page}: MathJax typeset {typeset} of {maths} math elements"
    assert "<mjx-merror" not in dom, f"{page}: MathJax reports a LaTeX error"

    drawn = static_count(dom, r'class="[^"]*\bplot-container\b')
    assert drawn >= plots, f"{page}: plotly drew {drawn} of {plots} figures"
    if plots:
        assert 'class="main-svg"' in dom, f"{page}: plotly figures have no SVG"

    shown = static_count(dom, r'class="[^"]*\bjupyter-widgets\b')
    assert shown >= widgets, f"{page}: {shown} widget views rendered for {widgets} widget outputs"
    assert "Error displaying widget" not in dom, f"{page}: the widget manager failed"


def test_raw_pipe_tables_are_found():
    """raw_pipe_tables flags the CommonMark rendering of a markdown table, not a rendered table or prose."""
    commonmark = "<p>| method | test acc |\n|—|—|\n| dgl | 0.9 |</p>"  # as myst-nb's CommonMark renders it
    one_column = "<p>| method |\n|---|\n| dgl |</p>"
    header_only = "<p>| audio | visual | fused |</p>"
    rendered = "<table><tr><th><p>method</p></th></tr><tr><td><p>| dgl |</p></td></tr></table>"
    prose = "<p>the norm |x| of a vector</p><p>| x | is its norm</p>"
    assert raw_pipe_tables(commonmark) == ["| method | test acc |\n|—|—|\n| dgl | 0.9 |"]
    assert raw_pipe_tables(one_column + header_only) == ["| method |\n|---|\n| dgl |", "| audio | visual | fused |"]
    assert raw_pipe_tables(rendered + prose) == []


@pytest.mark.parametrize("page", PAGES)
def test_tables_render_as_tables(page):
    raw = raw_pipe_tables(built_page(page).read_text(encoding="utf-8"))
    assert not raw, (
        f"{page}: {len(raw)} markdown table(s) rendered as a paragraph of '|' text, not a <table> (a Markdown "
        f"output needs nb_render_markdown_format: myst in _config.yml); the first: {raw[0][:300]!r}")


@pytest.mark.parametrize("page", PAGES)
def test_page_opens_with_its_title(page):
    body = article_body(built_page(page).read_text(encoding="utf-8"), page)
    title = body.find("<h1")
    assert title >= 0, f"{page}: no <h1> title in the article"
    cell = re.search(CODE_CELL, body)
    assert cell is None or title < cell.start(), (
        f"{page}: a code cell (or its 'Show code cell' toggle) comes before the title: make the title markdown "
        "cell the notebook's first cell")


@pytest.mark.parametrize("page", PAGES)
def test_display_equations_fit_the_content_column(page):
    report = display_math_report(page)
    displays = static_count(built_page(page).read_text(encoding="utf-8"), DISPLAY_MATH)
    assert report["checked"] >= displays, f"{page}: the probe measured {report['checked']} of {displays} equations"
    wide = "\n".join(f"  {w['scroll']} px in a {w['client']} px column: {w['tex'][:120]!r}" for w in report["wide"])
    assert not report["wide"], (
        f"{page}: display equations overflow the content column at a {WINDOW[0]} px wide window (break them over "
        f"lines with \\begin{{aligned}} ... \\end{{aligned}}):\n{wide}")


def test_the_course_exercises_each_kind_of_output():
    """Guard against the checks above passing vacuously: the course has math, figures, widgets and a table that a
    cell printed (a Markdown output)."""
    pages = [built_page(p).read_text(encoding="utf-8") for p in CHAPTERS]
    assert pages, "no chapter in _toc.yml"
    for name, pattern in (("math", MATH), ("plotly figure", PLOT), ("widget", WIDGET),
                          ("table in a cell output", TABLE_OUTPUT)):
        assert any(static_count(h, pattern) for h in pages), f"no chapter page has a {name}"


# Links the course must not carry while it has no public repository (book/setup.md): the old placeholder, a
# launch service pointed at it, or Jupyter Book's default repository (its value when repository.url is unset).
DEAD_LINKS = re.compile(r"""(?:href|src)="([^"]*(?:github\.com/minidgl/minidgl|colab\.research\.google\.com|"""
                        r"""mybinder\.org|github\.com/executablebooks/jupyter-book)[^"]*)\"""")


def test_dead_links_are_found():
    page = '<a href="https://colab.research.google.com/github/minidgl/minidgl/blob/main/x.ipynb">colab</a>'
    assert DEAD_LINKS.findall(page) and not DEAD_LINKS.findall('<a href="_sources/x.ipynb">download</a>')


@pytest.mark.parametrize("page", PAGES)
def test_no_link_to_a_placeholder_or_a_launch_service(page):
    links = DEAD_LINKS.findall(built_page(page).read_text(encoding="utf-8"))
    assert not links, f"{page} links to {sorted(set(links))}: the course has no public repository (book/setup.md)"


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_has_its_reader_aids(page):
    """Each chapter states its time, ends with a Think! prompt whose answer is folded, a misconception box and
    a 'you can now' checklist."""
    html = built_page(page).read_text(encoding="utf-8")
    assert "<strong>Time:</strong>" in html, f"{page}: no time estimate"
    assert "<strong>Think!</strong>" in html and "<details>" in html, f"{page}: no Think! prompt with a folded answer"
    assert re.search(r'class="warning admonition"[^>]*>\s*<p class="admonition-title">Common misconception',
                     html), f"{page}: no misconception box"
    assert re.search(r'class="[^"]*task-list-item[^"]*"', html), f"{page}: the 'You can now' list is no checklist"
