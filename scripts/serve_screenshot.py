"""The picture of ``serve``'s page in docs/: headless Chromium opens the page of a
server started here, types a sentence, presses Extract and photographs what the page
shows (the displaCy view and the JSON).

Chromium is driven through its DevTools protocol over a pipe (``--remote-debugging-
pipe``: no port, no extra package), by :class:`Chromium`, which the tests use too.

    python scripts/serve_screenshot.py training/conll04/model-best docs/serving.png

Needs Chromium (Debian: ``apt-get install chromium``) and spacy-stsn[serve].
"""

import argparse
import base64
import fcntl
import json
import os
import select
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, Optional

from screenshot import CHROMIUM_FLAGS, crop, find_chromium

SENTENCE = (
    "Cafe owner Jose Garcia , who lives in Bogota , met John Smith of Acme Corp. in "
    "Boston on Monday ."
)
# what the page shows after a submission: the counts the tests compare with the answer
PAGE_STATE = """JSON.stringify({
  done: Number(document.body.dataset.done || 0),
  failed: Number(document.body.dataset.failed || 0),
  error: document.getElementById("error").textContent,
  status: document.getElementById("status").textContent,
  span_views: document.querySelectorAll("#view .spans").length,
  entity_labels: Array.from(
    document.querySelectorAll('#view .spans span[style*="z-index: 10"]'),
    e => e.textContent.trim()),
  arcs: document.querySelectorAll("#view svg .displacy-arc").length,
  arc_labels: Array.from(document.querySelectorAll("#view svg textPath"),
    e => e.textContent.trim()),
  json: document.getElementById("json").textContent,
})"""


class Chromium:
    """Headless Chromium with one page, driven over the DevTools protocol's pipe.

    timeout: seconds to wait for any answer of the browser.
    """

    def __init__(self, timeout: float = 60) -> None:
        self.timeout, self._id, self._buffer = timeout, 0, b""
        self._profile = tempfile.TemporaryDirectory()
        commands_read, self._commands = os.pipe()
        self._answers, answers_write = os.pipe()

        def pipes_at_3_and_4() -> None:  # in the child, before exec
            high = [
                fcntl.fcntl(fd, fcntl.F_DUPFD, 100)
                for fd in (commands_read, answers_write)
            ]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.process = subprocess.Popen(
            [
                find_chromium(),
                *CHROMIUM_FLAGS,
                "--remote-debugging-pipe",
                f"--user-data-dir={self._profile.name}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=pipes_at_3_and_4,
        )
        os.close(commands_read)
        os.close(answers_write)
        self._lock = threading.Lock()
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        attached = self.call(
            "Target.attachToTarget", targetId=page["targetId"], flatten=True
        )
        self.session = attached["sessionId"]

    def call(self, method: str, session: Optional[str] = None, **params: Any) -> Any:
        """Send one command and wait for its answer (events meanwhile are dropped)."""
        with self._lock:
            self._id += 1
            message = {"id": self._id, "method": method, "params": params}
            if session is not None:
                message["sessionId"] = session
            os.write(self._commands, json.dumps(message).encode() + b"\0")
            while True:
                answer = self._read()
                if answer.get("id") == self._id:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer.get("result", {})

    def _read(self) -> Dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._answers], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer in {self.timeout} s")
            chunk = os.read(self._answers, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its pipe (it exited)")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call(
            "Runtime.evaluate",
            self.session,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str) -> Any:
        """Evaluate ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"{expression!r} still false after {self.timeout} s")

    def open(self, url: str, width: int = 1280, height: int = 900) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            self.session,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.call("Page.navigate", self.session, url=url)
        self.wait_for(
            "document.readyState === 'complete' && !!document.getElementById('text')"
        )

    def screenshot(self, path: Path) -> None:
        """The whole page (beyond the window too) as a PNG."""
        shot = self.call(
            "Page.captureScreenshot",
            self.session,
            format="png",
            captureBeyondViewport=True,
        )
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._answers)
        self._profile.cleanup()

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def submit(browser: Chromium, url: str, text: str) -> Dict[str, Any]:
    """Open the page at ``url``, type ``text``, press Extract; what the page shows
    (:data:`PAGE_STATE`) once the answer is in."""
    browser.open(url)
    browser.evaluate(
        f"document.getElementById('text').value = {json.dumps(text)}; "
        "document.getElementById('submit').click(); true"
    )
    browser.wait_for("document.body.dataset.done || document.body.dataset.failed")
    return json.loads(browser.evaluate(PAGE_STATE))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="a trained pipeline")
    parser.add_argument("output", type=Path, help="the PNG to write")
    parser.add_argument("--text", default=SENTENCE)
    args = parser.parse_args()
    from spacy_stsn.serve import ServeOptions
    from spacy_stsn.serve.server import LocalServer, listen

    server = LocalServer(ServeOptions(args.model))
    sock = listen("127.0.0.1", 0)
    thread = threading.Thread(target=server.run, args=(sock,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    try:
        with Chromium(timeout=300) as browser:
            browser.open(url)  # the page answers before the model is ready
            browser.wait_for("fetch('ready').then(r => r.ok)")
            state = submit(browser, url, args.text)
            if state["failed"]:
                raise SystemExit(f"the page shows an error: {state['error']}")
            with tempfile.TemporaryDirectory() as work:
                raw = Path(work, "raw.png")
                browser.screenshot(raw)
                args.output.parent.mkdir(parents=True, exist_ok=True)
                crop(raw, args.output)
    finally:
        server.stop()
        thread.join(60)
    print(f"wrote {args.output}: {state['status']}")


if __name__ == "__main__":
    main()
