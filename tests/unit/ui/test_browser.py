"""The overlay playground in a real JupyterLab, driven by a real (headless) Chromium.

Starts JupyterLab on 127.0.0.1 (free port, random token, isolated settings, workspaces and
runtime dirs) over a temp copy of ``browser_fixtures/playground.ipynb``, runs all cells
through the Run menu, presses the widget's Write button, and checks that the diagram the
browser shows was redrawn with the copy-up and that the log shows it. Skips only when
Chromium or playwright is missing and ``LABKIT_REQUIRE_BROWSER`` is unset (CI sets it).
JupyterLab (with its kernels) and the browser are always stopped.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from requirekit import skip_unless_required
import layout

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
FIXTURES = layout.FIXTURES / "browser"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic"]
NOTEBOOK = os.environ.get("LABKIT_BROWSER_NOTEBOOK", str(FIXTURES / "playground.ipynb"))


@pytest.fixture(scope="module")
def browser_tools():
    missing = []
    if not os.path.exists(CHROMIUM):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright)")
    if missing:
        skip_unless_required("LABKIT_REQUIRE_BROWSER", "the browser test needs " + ", ".join(missing))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(dir_: Path) -> None:
    """JupyterLab user settings: no news fetch (closed network), no lazy cell windowing."""
    for plugin, values in (("@jupyterlab/apputils-extension/notification", {"fetchNews": "false"}),
                           ("@jupyterlab/notebook-extension/tracker", {"windowingMode": "none"})):
        pkg, name = plugin.rsplit("/", 1)
        target = dir_ / pkg / f"{name}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"JupyterLab exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"JupyterLab did not answer in time:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop JupyterLab and its kernels: they share the process group it leads."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)   # anything left in the group (a kernel)
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait(timeout=10)


# every code cell's prompt shows its execution count: "[3]:" (not "[ ]:" or "[*]:")
ALL_CELLS_RAN = """() => {
  const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
  return p.length > 0 && p.every(e => /\\[\\d+\\]:/.test(e.textContent));
}"""


def _diagram(page) -> str:
    return page.locator(".jp-OutputArea-output .labkit-diagram svg").first.inner_html()


def _check_playground(page) -> None:
    """Press Write: the log shows the copy-up and the diagram is redrawn with it."""
    write = page.locator(".jp-OutputArea-output .widget-button", has_text="Write").first
    write.wait_for()
    page.locator(".jp-OutputArea-output .labkit-diagram svg").first.wait_for()
    before = _diagram(page)
    assert "etc/hosts" in before and "(copied up)" not in before
    write.click()
    page.locator(".jp-OutputArea-output", has_text="copied up etc/hosts, 220 bytes").first.wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.labkit-diagram svg')]"
        ".some(s => s.textContent.includes('(copied up)'))")
    after = _diagram(page)
    assert after != before and "(copied up)" in after


def _check_layer_explorer(page) -> None:
    """Step the explorer one layer (up, or down when it is at the top): what it shows changes."""
    out = page.locator(".jp-OutputArea-output", has=page.locator(".widget-button", has_text="higher"))
    out.first.wait_for()
    up = out.first.locator(".widget-button", has_text="higher")
    down = out.first.locator(".widget-button", has_text="lower")
    before = out.first.inner_text()
    assert "layer " in before
    (up if up.is_enabled() else down).click()
    page.wait_for_function("(old) => [...document.querySelectorAll('.jp-OutputArea-output')]"
                           ".some(o => o.innerText.includes('higher') && o.innerText !== old)",
                           arg=before)
    assert out.first.inner_text() != before


def test_playground_write_redraws_the_diagram_in_jupyterlab(browser_tools, tmp_path):
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    root = tmp_path / "root"
    root.mkdir()
    name = Path(NOTEBOOK).name
    source = Path(NOTEBOOK).read_text()
    shutil.copytree(Path(NOTEBOOK).parent, root, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    _settings(tmp_path / "settings")
    (tmp_path / "workspaces").mkdir()
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), IPYTHONDIR=str(tmp_path / "ipython"),
               LABKIT_ENGINE=os.environ.get("LABKIT_ENGINE", "sim"))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:
        cmd.append("--ServerApp.allow_root=True")
    log = tmp_path / "jupyterlab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(f"{base}/api/status?token={token}", proc, log, started + 40)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.set_default_timeout(30_000)
                page.goto(f"{base}/lab/tree/{name}?reset&token={token}")
                page.wait_for_function(
                    "() => (document.querySelector('#jp-main-statusbar') || {}).textContent"
                    "?.includes('| Idle')", timeout=45_000)
                page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
                page.wait_for_function(ALL_CELLS_RAN, timeout=60_000)
                checked = 0
                if "overlay_playground" in source:
                    _check_playground(page)
                    checked += 1
                if "LayerExplorer" in source:
                    _check_layer_explorer(page)
                    checked += 1
                if os.environ.get("LABKIT_BROWSER_SCREENSHOT"):   # to look at it when debugging
                    page.screenshot(path=os.environ["LABKIT_BROWSER_SCREENSHOT"], full_page=True)
                assert checked, "the notebook shows no labkit widget to drive"
                text = page.locator("#jp-main-dock-panel").inner_text()
                assert "Error displaying widget" not in text
                assert "Loading widget..." not in text
                assert "Traceback" not in text
            finally:
                browser.close()
    finally:
        _stop(proc)
    assert time.monotonic() - started < 90, "the browser test must stay under 90 s"
