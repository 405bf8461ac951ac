"""The fixture report in a real browser: headless Chromium driven over the DevTools protocol.

No browser download and no Python driver package: Debian's ``chromium`` is started with
``--remote-debugging-pipe`` (DevTools protocol messages, NUL-terminated JSON, on file descriptors 3 and 4).
Checks: the page loads with no console errors or exceptions, requests nothing over the network, shows every
claim ID, and lays out every figure ``<img>`` with non-zero size. A screenshot lands in
``reports/screenshots/report.png`` (the top of the page) and ``report-full.png`` (the whole page).

Skips with a reason where no chromium binary is installed (CI installs one: ``apt-get install -y chromium``).
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

fcntl = pytest.importorskip("fcntl", reason="the DevTools pipe needs POSIX file descriptors")

from sslre.report.html import render_report
from sslre.report.load import CATALOGUE_IDS

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "fixtures" / "reproduction-quick.json"
SCREENSHOTS = ROOT / "reports" / "screenshots"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _PipeBrowser:
    """Minimal DevTools-protocol client over ``--remote-debugging-pipe`` (browser reads fd 3, writes fd 4)."""

    def __init__(self, binary: str, user_data_dir: Path, timeout: float = 60.0):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        self.timeout = timeout

        def _fds():  # in the child: put the pipe ends where Chromium expects them (fd 3 in, fd 4 out)
            # Move both ends above 4 first, so that dup2-ing one cannot clobber the other.
            high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-extensions",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe",
                f"--user-data-dir={user_data_dir}", "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, preexec_fn=_fds, close_fds=True, pass_fds=(3, 4))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no DevTools message from chromium before the deadline")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
                raise RuntimeError(f"chromium closed the DevTools pipe (exit {self.proc.poll()}): {err[-2000:]}")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        msg: dict = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"DevTools {method} failed: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, session: str) -> dict:
        for ev in self.events:
            if ev.get("method") == method and ev.get("sessionId") == session:
                return ev
        deadline = time.monotonic() + self.timeout
        while True:
            ev = self._read_message(deadline)
            self.events.append(ev)
            if ev.get("method") == method and ev.get("sessionId") == session:
                return ev

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc.stderr:
            self.proc.stderr.close()


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (install it: apt-get install -y chromium chromium-driver)")
    tmp = tmp_path_factory.mktemp("browser")
    html_path = render_report(FIXTURE, tmp / "reproduction.html")
    browser = _PipeBrowser(binary, tmp / "profile")
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": 1280, "height": 1600, "deviceScaleFactor": 1, "mobile": False}, session=session)
        browser.send("Page.navigate", {"url": html_path.as_uri()}, session=session)
        browser.wait_event("Page.loadEventFired", session)
        yield browser, session, html_path
    finally:
        browser.close()


def _evaluate(browser: _PipeBrowser, session: str, expression: str):
    result = browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                               "awaitPromise": True}, session=session)
    if "exceptionDetails" in result:
        raise AssertionError(f"page script failed: {result['exceptionDetails']}")
    return result["result"]["value"]


def test_loads_without_console_errors_or_network(browser_page):
    browser, session, html_path = browser_page
    errors = []
    urls = []
    for ev in browser.events:
        if ev.get("sessionId") != session:
            continue
        method, params = ev.get("method"), ev.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(params.get("exceptionDetails", {}).get("text"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(params.get("args"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(params["entry"].get("text"))
        elif method == "Network.requestWillBeSent":
            urls.append(params["request"]["url"])
    assert errors == []
    # The only request is the page itself (data: images are not network requests).
    remote = [u for u in urls if not (u.startswith("file://") or u.startswith("data:"))]
    assert remote == []
    assert html_path.as_uri() in urls


def test_every_claim_id_in_dom(browser_page):
    browser, session, _ = browser_page
    ids = _evaluate(browser, session, "Array.from(document.querySelectorAll('section.claim')).map(s => s.id)")
    text = _evaluate(browser, session, "document.body.innerText")
    for cid in CATALOGUE_IDS:
        assert f"claim-{cid}" in ids, cid
        assert cid in text
    # Every table link points at a section that exists.
    broken = _evaluate(browser, session,
                       "Array.from(document.querySelectorAll('#claims-table a[href^=\"#\"]'))"
                       ".filter(a => !document.getElementById(a.getAttribute('href').slice(1))).length")
    assert broken == 0


def test_figures_render_with_nonzero_size(browser_page):
    browser, session, _ = browser_page
    imgs = _evaluate(browser, session, """
        Promise.all(Array.from(document.images).map(img => img.decode().then(() => img, () => img)))
          .then(list => list.map(img => {
             const r = img.getBoundingClientRect();
             return {alt: img.alt, w: r.width, h: r.height, nw: img.naturalWidth, nh: img.naturalHeight,
                     data: img.src.startsWith('data:image/png;base64,')};
          }))""")
    fixture = json.loads(FIXTURE.read_text())
    n_figures = sum(len(c.get("figures") or []) for c in fixture["claims"])
    assert len(imgs) == n_figures
    for img in imgs:
        assert img["data"], img["alt"]
        assert img["w"] > 100 and img["h"] > 50, img
        assert img["nw"] > 0 and img["nh"] > 0, img


def test_screenshot(browser_page):
    browser, session, _ = browser_page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
    top = base64.b64decode(shot["data"])
    assert top[:8] == b"\x89PNG\r\n\x1a\n"
    (SCREENSHOTS / "report.png").write_bytes(top)
    metrics = browser.send("Page.getLayoutMetrics", session=session)
    height = int(metrics["cssContentSize"]["height"])
    assert height > 3000  # 16 claim sections with figures: a long page, not an empty one
    full = browser.send("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": 1280, "height": min(height, 32000), "scale": 0.5}}, session=session)
    (SCREENSHOTS / "report-full.png").write_bytes(base64.b64decode(full["data"]))
    assert (SCREENSHOTS / "report-full.png").stat().st_size > 10_000
