"""A minimal headless-Chromium driver over the DevTools protocol (standard library only).

Chromium is started with ``--remote-debugging-pipe``: it reads protocol
messages (JSON, each ended by a NUL byte) on file descriptor 3 and writes
replies and events on descriptor 4, so no websocket client is needed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
)


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable, or ``None``."""
    env = os.environ.get("FASCIQ_CHROMIUM")
    if env and Path(env).exists():
        return env
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium process driven over a pipe."""

    def __init__(self, executable: str, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self._profile = tempfile.mkdtemp(prefix="fasciq-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire() -> None:  # runs in the child before exec
            a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [
                executable,
                *FLAGS,
                f"--user-data-dir={self._profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=wire,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._next_id = 0
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                data = os.read(self._from_child, 1 << 16)
            except OSError:
                data = b""
            if not data:
                self._inbox.put(None)
                return
            buf += data
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                self._inbox.put(json.loads(msg))

    def _next(self, deadline: float) -> dict[str, Any]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer from Chromium in time")
        msg = self._inbox.get(timeout=left)
        if msg is None:
            raise RuntimeError("Chromium closed the DevTools pipe")
        return msg

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one command and return its result (events seen meanwhile are kept)."""
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout_s
        while True:
            reply = self._next(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, session: str | None = None) -> dict:
        """Wait for an event (already seen or coming)."""
        for ev in self.events:
            if ev.get("method") == method and (session is None or ev.get("sessionId") == session):
                return ev
        deadline = time.monotonic() + self.timeout_s
        while True:
            ev = self._next(deadline)
            self.events.append(ev)
            if ev.get("method") == method and (session is None or ev.get("sessionId") == session):
                return ev

    def close(self) -> None:
        """Close the browser and remove its profile."""
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)


PAGE_PROBE = """
(() => {
  const images = [...document.images].map(img => ({
    figure: img.dataset.figure || img.alt, width: img.naturalWidth,
    height: img.naturalHeight, complete: img.complete, src: img.src.slice(0, 30)}));
  const keys = [...document.querySelectorAll('[data-key]')].map(el => ({
    key: el.dataset.key, value: el.dataset.value ?? null, text: el.textContent.trim()}));
  const external = [...document.querySelectorAll('[src],[href]')]
    .map(el => el.getAttribute('src') || el.getAttribute('href'))
    .filter(u => u && !u.startsWith('data:') && !u.startsWith('#'));
  return {images, keys, external, title: document.title,
          height: document.documentElement.scrollHeight};
})()
"""


def inspect_page(executable: str, html: Path, screenshot: Path | None = None) -> dict[str, Any]:
    """Load ``html`` in headless Chromium; return what the page shows and any errors.

    Returns a dict with ``images`` (natural sizes), ``keys`` (``data-key``
    elements), ``external`` (non-data references), ``errors`` (console
    errors, exceptions, failed loads), ``requests`` (URLs fetched other than
    data: and the page itself) and ``load_s`` (navigation to load event).
    """
    browser = Browser(executable)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        url = html.resolve().as_uri()
        tic = time.monotonic()
        browser.send("Page.navigate", {"url": url}, session=session)
        browser.wait_event("Page.loadEventFired", session)
        load_s = time.monotonic() - tic
        probe = browser.send(
            "Runtime.evaluate",
            {"expression": PAGE_PROBE, "returnByValue": True, "awaitPromise": True},
            session=session,
        )["result"]["value"]
        if screenshot is not None:
            browser.send(
                "Emulation.setDeviceMetricsOverride",
                {
                    "width": 1280,
                    "height": int(probe["height"]),
                    "deviceScaleFactor": 1,
                    "mobile": False,
                },
                session=session,
            )
            shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
            import base64

            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        errors, requests = [], []
        for ev in browser.events:
            method, params = ev.get("method"), ev.get("params", {})
            if method == "Runtime.exceptionThrown":
                errors.append(params["exceptionDetails"].get("text", "exception"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                errors.append(str(params.get("args")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                errors.append(params["entry"].get("text", ""))
            elif method == "Network.loadingFailed":
                errors.append(f"failed to load: {params.get('errorText')}")
            elif method == "Network.requestWillBeSent":
                req_url = params["request"]["url"]
                if not req_url.startswith("data:") and req_url != url:
                    requests.append(req_url)
        probe.update(errors=errors, requests=requests, load_s=load_s)
        return probe
    finally:
        browser.close()
