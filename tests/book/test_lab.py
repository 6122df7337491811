"""The routing lab works in a real JupyterLab, as a student uses it: open chapter 4, run all, press train.

JupyterLab serves the student edition of chapter 4 (written to a temporary folder, so that autosave never
touches the source) on 127.0.0.1 with a token; headless Chromium (Debian's, driven by Playwright) opens it,
runs every cell from the Run menu, then clicks the lab's train button. The status line and the plot must
change, and the browser console must show no error. The notebook as JupyterLab holds it must also pass the
student edition's checks (every cell ran, every checker says "not solved yet"): this is chapter 4's
student-edition test. Run after the book build (`make test` does), so that the chapter's trainings come back
from the results cache. Without Playwright or Chromium the test skips, unless MINIDGL_REQUIRE_BOOK=1 (set by
`make test`), which turns the skip into a failure.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest
from book_toc import ROOT, chromium, unavailable

from tests.book.test_student_edition import IN_JUPYTERLAB, assert_student_run, editions
from tests.conftest import CHAPTERS_CACHE

CHAPTER = ROOT / "notebooks" / IN_JUPYTERLAB
WINDOW = {"width": 1024, "height": 768}  # the smallest screen the lab must fit (issue: labels cut at 1024 px)
RUN_ALL_TIMEOUT_S = 600



def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab serving the student edition of chapter 4 from `tmp_path`: yields its URL (token included)."""
    editions.write_editions(tmp_path / "editions")
    shutil.copy(tmp_path / "editions" / "student" / CHAPTER.name, tmp_path / CHAPTER.name)
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "run")}
    if CHAPTERS_CACHE is None:
        env.pop("MINIDGL_CACHE", None)
    else:
        env["MINIDGL_CACHE"] = CHAPTERS_CACHE
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
           f"--LabApp.user_settings_dir={tmp_path / 'settings'}", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.expose_app_in_browser=True"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = (tmp_path / "jupyterlab.log").open("w")
    server = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, \
                    f"JupyterLab did not start:\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}"
                time.sleep(0.5)
        yield f"{base}/lab/tree/{CHAPTER.name}?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()



# The kernel is idle and every code cell has run (an execution count), or a cell failed (Run All stops there).
RUN_ALL_DONE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.sessionContext || !panel.sessionContext.session) return false;
  const cells = Array.from(panel.content.model.cells).filter(cell => cell.type === "code");
  const failed = cells.some(cell => cell.toJSON().outputs.some(output => output.output_type === "error"));
  return panel.sessionContext.session.kernel.status === "idle" && (failed || cells.every(cell => cell.executionCount));
}"""


# JupyterLab renders only the cells near the viewport: select the cell that builds the lab and scroll to it.
SHOW_LAB_CELL = """() => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  const index = Array.from(notebook.model.cells).findIndex(cell => cell.sharedModel.getSource().includes("routing_lab("));
  notebook.activeCellIndex = index;
  return notebook.scrollToItem(index, "start");
}"""


def test_the_routing_lab_trains_in_jupyterlab(jupyterlab):
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        unavailable("Playwright not installed: `pip install -e '.[dev]'`")
    errors = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport=WINDOW)
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(jupyterlab)
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                               " && window.jupyterapp.shell.currentWidget.sessionContext.isReady", timeout=60_000)

        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        page.wait_for_function(RUN_ALL_DONE, timeout=RUN_ALL_TIMEOUT_S * 1000, polling=1000)
        ran = nbformat.reads(page.evaluate("() => JSON.stringify(window.jupyterapp.shell.currentWidget"
                                           ".context.model.toJSON())"), as_version=4)
        assert_student_run(CHAPTER.name, ran)

        page.evaluate(SHOW_LAB_CELL)
        lab = page.locator(".jp-OutputArea-output", has_text="presets:").first
        lab.scroll_into_view_if_needed()
        status = lab.locator(".widget-html-content").first
        expect(status).to_contain_text("set: joint")
        assert lab.locator("img").count() == 0, "the lab shows a plot before anything was trained"
        for label in ("fused loss → encoders: on", "unimodal losses → fusion: on"):
            toggle = lab.locator("button", has_text=label)
            assert toggle.evaluate("b => b.scrollWidth <= b.clientWidth"), \
                f"the toggle '{label}' is cut at {WINDOW['width']} px"

        train = lab.locator("button", has_text="train")
        train.click()
        expect(status).to_contain_text("best validation accuracy", timeout=120_000)
        expect(lab.locator("img")).to_have_count(1, timeout=30_000)
        expect(train).to_be_enabled()
        browser.close()
    assert not errors, f"the browser console shows errors: {errors}"
