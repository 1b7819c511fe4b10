"""cdp.py - a small Chrome DevTools Protocol driver for the page tests.

Starts Debian's headless Chromium on 127.0.0.1 with a throw-away profile
(--remote-debugging-port=0: the port is read from DevToolsActivePort), talks
to it over one WebSocket (python3-websocket) with flat sessions, and offers
what the tests need: open a page, evaluate JavaScript, wait for a condition,
click, take a screenshot, let downloads land in a directory.

    with Browser(tmpdir) as b:
        p = b.page()
        p.goto("http://127.0.0.1:8080/admin")
        p.wait("document.querySelector('#export')", 20)
        p.screenshot("out.png")

Browser() raises Missing when chromium or the websocket module is absent, so
a test can exit 77 (skip) - CI installs both (scripts/install-deps.sh).
Only loopback is ever contacted; the browser's own background traffic is
switched off by flags.
"""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time


class Missing(Exception):
    pass


class CDPError(Exception):
    pass


def _chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise Missing("chromium is not installed")


class Browser:
    def __init__(self, tmpdir, width=1100, height=900):
        try:
            import websocket  # python3-websocket
        except ImportError as e:
            raise Missing("python3-websocket is not installed") from e
        self._ws_mod = websocket
        self.tmpdir = tmpdir
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=tmpdir)
        self.downloads = os.path.join(tmpdir, "downloads")
        os.makedirs(self.downloads, exist_ok=True)
        args = [_chromium(), "--headless=new", "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1", "--user-data-dir=" + self.profile,
                "--no-first-run", "--no-default-browser-check", "--disable-gpu",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-default-apps", "--metrics-recording-only",
                "--disable-domain-reliability", "--disable-client-side-phishing-detection",
                "--no-proxy-server", "--password-store=basic", "--use-mock-keychain",
                "--window-size=%d,%d" % (width, height), "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")
        self.log = open(os.path.join(tmpdir, "chromium.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                raise CDPError("chromium exited at start (see chromium.log)")
            if os.path.exists(port_file):
                lines = open(port_file).read().split("\n")
                if len(lines) >= 2 and lines[0].strip() and lines[1].strip():
                    break
            if time.time() > deadline:
                raise CDPError("chromium did not open its DevTools port")
            time.sleep(0.1)
        url = "ws://127.0.0.1:%s%s" % (lines[0].strip(), lines[1].strip())
        self.ws = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self._id = 0
        self.events = []
        self.call("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": self.downloads,
                                                  "eventsEnabled": True})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read(self, timeout):
        self.ws.settimeout(timeout)
        msg = json.loads(self.ws.recv())
        if "method" in msg:
            self.events.append(msg)
        return msg

    def call(self, method, params=None, session=None, timeout=60):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise CDPError("%s: no answer in %ss" % (method, timeout))
            try:
                m = self._read(left)
            except self._ws_mod.WebSocketTimeoutException:
                continue
            if m.get("id") == self._id:
                if "error" in m:
                    raise CDPError("%s: %s" % (method, m["error"]))
                return m.get("result", {})

    def wait_event(self, method, timeout, pred=lambda p: True, session=None):
        """The first event `method` (seen already or to come) whose params
        satisfy pred; it is taken off the list."""
        deadline = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["method"] == method and (session is None or e.get("sessionId") == session) \
                        and pred(e.get("params", {})):
                    return self.events.pop(i)["params"]
            left = deadline - time.time()
            if left <= 0:
                raise CDPError("no %s event in %ss" % (method, timeout))
            try:
                self._read(min(left, 1.0))
            except self._ws_mod.WebSocketTimeoutException:
                pass

    def pump(self, seconds):
        """Reads events for a while (so none are missed while waiting)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                self._read(max(0.05, deadline - time.time()))
            except self._ws_mod.WebSocketTimeoutException:
                pass

    def page(self):
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, session)


class Page:
    def __init__(self, browser, session):
        self.b = browser
        self.s = session
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Network.enable")
        self.call("Log.enable")

    def call(self, method, params=None, timeout=60):
        return self.b.call(method, params, self.s, timeout)

    def goto(self, url, timeout=30):
        """Navigates and waits for the load event; returns the main
        document's HTTP status."""
        self.b.events = [e for e in self.b.events if e.get("sessionId") != self.s]
        r = self.call("Page.navigate", {"url": url})
        if r.get("errorText"):
            raise CDPError("navigate %s: %s" % (url, r["errorText"]))
        frame = r.get("frameId")
        resp = self.b.wait_event("Network.responseReceived", timeout,
                                 lambda p: p.get("type") == "Document" and p.get("frameId") == frame,
                                 session=self.s)
        self.b.wait_event("Page.loadEventFired", timeout, session=self.s)
        return resp["response"]["status"], resp["response"].get("headers", {})

    def eval(self, expr, timeout=30):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True}, timeout)
        if "exceptionDetails" in r:
            raise CDPError("evaluate %r: %s" % (expr, r["exceptionDetails"].get("text")))
        return r["result"].get("value")

    def wait(self, expr, timeout, step=0.2):
        """Evaluates expr until it is truthy; returns its value."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = self.eval(expr)
            except CDPError as e:  # e.g. the context went away in a navigation
                last = str(e)
            else:
                if last:
                    return last
            self.b.pump(step)
        raise CDPError("timed out after %ss waiting for %s (last: %r)" % (timeout, expr, last))

    def click(self, selector):
        """A real mouse click in the middle of the element."""
        box = self.eval("(() => { const e = document.querySelector(%s); if (!e) return null;"
                        " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                        " return [r.x + r.width / 2, r.y + r.height / 2]; })()" % json.dumps(selector))
        if not box:
            raise CDPError("no element %s to click" % selector)
        for t in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": t, "x": box[0], "y": box[1], "button": "left",
                                                   "clickCount": 1})

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def console_errors(self):
        """CSP violations and script errors logged so far."""
        out = []
        for e in self.b.events:
            if e.get("sessionId") != self.s:
                continue
            if e["method"] == "Runtime.exceptionThrown":
                out.append(e["params"]["exceptionDetails"].get("text", "exception"))
            if e["method"] == "Runtime.consoleAPICalled" and e["params"].get("type") == "error":
                out.append(" ".join(str(a.get("value", "")) for a in e["params"].get("args", [])))
            if e["method"] == "Log.entryAdded" and e["params"]["entry"].get("level") == "error":
                out.append(e["params"]["entry"].get("text", ""))
        return out
