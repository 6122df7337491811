"""The built book renders offline: math typeset, plotly figures drawn, widgets shown, nothing fetched from a CDN.

Opens the pages of `_build/html` (built by `make book`) in headless Chromium with every network request sent
to a dead proxy, and checks the DOM after the page's JavaScript ran. Without a built book or a browser the
tests skip, unless MINIDGL_REQUIRE_BOOK=1 (set by `make test`), which turns the skip into a failure.
MINIDGL_BOOK_HTML=path checks another build (e.g. a scratch copy).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

import pytest
from book_toc import ROOT, toc_files

HTML = Path(os.environ.get("MINIDGL_BOOK_HTML", ROOT / "_build" / "html"))
REQUIRED = os.environ.get("MINIDGL_REQUIRE_BOOK") == "1"
MAX_PAGE_BYTES = 3_000_000  # a page carrying its own copy of plotly.js (4.6 MB) is a renderer mistake


PAGES = toc_files()
CHAPTERS = [p for p in PAGES if p.startswith("notebooks/")]


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason} (MINIDGL_REQUIRE_BOOK=1: `make test` builds the book and needs Chromium)")
    pytest.skip(reason)


def built_page(page: str) -> Path:
    if not (HTML / "index.html").is_file():
        _unavailable(f"no built book at {HTML}: run `make book`")
    path = HTML / f"{page}.html"
    assert path.is_file(), f"{page} is in _toc.yml but {path} was not built"
    return path


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if exe := shutil.which(name):
            return exe
    _unavailable("Chromium not found: `apt-get install -y chromium`")


@lru_cache(maxsize=None)
def rendered_dom(page: str) -> str:
    """The page's DOM after its scripts ran, in headless Chromium with no network."""
    path = built_page(page)
    with tempfile.TemporaryDirectory() as profile:
        cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-default-apps", "--no-first-run", "--mute-audio", f"--user-data-dir={profile}",
               # any http(s) request goes to a closed port: what renders, renders offline
               "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
               "--virtual-time-budget=20000", "--window-size=1200,1600", "--dump-dom", path.as_uri()]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "</html>" in done.stdout, f"Chromium failed on {page}: {done.stderr[-2000:]}"
    return done.stdout


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


def static_count(html: str, pattern: str) -> int:
    return len(re.findall(pattern, html))


MATH = r'class="math notranslate nohighlight"'
PLOT = r'class="plotly-graph-div"'
WIDGET = r'type="application/vnd\.jupyter\.widget-view\+json"'


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_nothing_from_the_network(page):
    html = built_page(page).read_text(encoding="utf-8")
    parser = _Resources()
    parser.feed(html)
    remote = [u for u in parser.urls if re.match(r"^(https?:)?//", u)]
    assert not remote, f"{page} loads remote resources (vendor them in book/vendor.sh): {remote}"
    assert len(html.encode()) < MAX_PAGE_BYTES, (
        f"{page} is {len(html.encode()) / 1e6:.1f} MB: a notebook probably inlined plotly.js; its first cell "
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


def test_the_course_exercises_each_kind_of_output():
    """Guard against the checks above passing vacuously: the course has math, figures and widgets."""
    pages = [built_page(p).read_text(encoding="utf-8") for p in CHAPTERS]
    assert pages, "no chapter in _toc.yml"
    for name, pattern in (("math", MATH), ("plotly figure", PLOT), ("widget", WIDGET)):
        assert any(static_count(h, pattern) for h in pages), f"no chapter page has a {name}"
