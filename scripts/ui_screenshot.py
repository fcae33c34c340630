"""Screenshot of the Prefect UI's approval form for a paused flow run, with headless chromium.

    python scripts/ui_screenshot.py UI_URL FLOW_RUN_ID OUT.png

Drives Debian's chromium through the DevTools protocol (the ``websockets`` package comes
with Prefect), so no Playwright download is needed: open the run's page, click *Resume*,
wait for the form, capture the page. Used by the slow UI test to refresh
``docs/img/approval-form.png``.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
FIND_RESUME = """[...document.querySelectorAll('button')].find(b => /\\bResume\\b/.test(b.innerText))"""


def find_chromium() -> str | None:
    return next((p for name in CHROMIUM_NAMES if (p := shutil.which(name))), None)


class DevTools:
    """A minimal DevTools-protocol client: numbered requests, events skipped."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(ws_url, max_size=None, open_timeout=30)
        self.ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict:
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                text = self.evaluate("document.body ? document.body.innerText.slice(0, 2000) : ''")
                raise TimeoutError(f"timed out waiting for {what}; page text:\n{text}")
            time.sleep(0.5)

    def close(self) -> None:
        self.ws.close()


@contextmanager
def headless_page(width: int, height: int) -> Iterator[DevTools]:
    """Headless chromium with a fresh profile, its blank page under a :class:`DevTools` client;
    chromium is stopped on the way out."""
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("chromium not found (scripts/install-chromium.sh installs Debian's)")
    with tempfile.TemporaryDirectory(prefix="fdr-chromium-") as profile:
        proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", "--remote-debugging-port=0",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not port_file.exists() or not port_file.read_text().strip():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("chromium did not open its DevTools port")
                time.sleep(0.2)
            port = port_file.read_text().split()[0]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
                page = next(t for t in json.load(resp) if t["type"] == "page")
            tools = DevTools(page["webSocketDebuggerUrl"])
            try:
                yield tools
            finally:
                tools.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def screenshot_approval_form(ui_url: str, flow_run_id: str, out: Path, *, timeout: float = 90) -> Path:
    """Open ``{ui_url}/runs/flow-run/{id}``, click Resume, save a PNG of the approval form."""
    with headless_page(1440, 1000) as tools:
        tools.call("Page.enable")
        tools.call("Page.navigate", url=f"{ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}")
        tools.wait_for(f"!!({FIND_RESUME})", timeout, "the Resume button")
        tools.evaluate(f"({FIND_RESUME}).click()")
        # the form generated from ApprovalInput: its 'approver' field and the description
        tools.wait_for("/approver/i.test(document.body.innerText)", timeout, "the approval form")
        time.sleep(1.5)  # let the modal finish its transition
        shot = tools.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(shot["data"]))
    return out


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    print(screenshot_approval_form(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
