"""report.html in a real browser: headless Chromium (Debian's ``chromium``), driven over
the DevTools protocol on a pipe (``--remote-debugging-pipe``: stdlib only, no websocket
client, no browser download). The page of the sampled build (tests/conftest.py) is
loaded from disk, every request it makes is logged, a screenshot is saved, and its DOM
is checked: Table 1's rows and sorting, one image per plot, the sample sections."""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--mute-audio", "--remote-debugging-pipe"]
TIMEOUT_S = 60


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is not installed: these tests render report.html in it "
                    "(`apt-get install -y chromium`, as .ci/run does)", pytrace=False)
    return found


class Browser:
    """One headless Chromium, spoken to in DevTools protocol messages (JSON, NUL-ended)
    on file descriptors 3 (to the browser) and 4 (from it)."""

    def __init__(self, profile: Path) -> None:
        to_browser, self._to = os.pipe()
        self._from, from_browser = os.pipe()

        def fds() -> None:  # in the child: the pipe ends where Chromium looks for them
            os.dup2(to_browser, 3)
            os.dup2(from_browser, 4)

        self.proc = subprocess.Popen([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                      "--window-size=1280,900", "about:blank"],
                                     pass_fds=(3, 4), preexec_fn=fds, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def _message(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._from], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._from, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed its pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict[str, Any] | None = None, page: bool = False) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if page:
            msg["sessionId"] = self.session
        os.write(self._to, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._message()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def load(self, url: str) -> None:
        self.call("Network.enable", page=True)
        self.call("Page.enable", page=True)
        self.call("Page.navigate", {"url": url}, page=True)
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._message())

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, page=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def screenshot(self, path: Path, max_height: int = 12000) -> tuple[int, int]:
        height = min(int(self.call("Page.getLayoutMetrics", page=True)["cssContentSize"]["height"]), max_height)
        self.call("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": height,
                                                          "deviceScaleFactor": 1, "mobile": False}, page=True)
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"}, page=True)["data"]))
        return 1280, height

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (EOFError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to)
        os.close(self._from)


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path / "profile")
    yield b
    b.close()


DOM = """JSON.stringify({
  rows: Array.from(document.querySelectorAll('#table1 tbody tr')).map(r => r.dataset.source),
  columns: Array.from(document.querySelectorAll('#table1 thead th')).map(th => th.textContent),
  total: document.querySelectorAll('#table1 tfoot tr').length,
  plots: Array.from(document.querySelectorAll('figure.plot')).map(f => [f.dataset.plot, f.querySelectorAll('img').length,
         f.querySelector('img').src.slice(0, 22), f.querySelector('img').naturalWidth]),
  images: document.images.length,
  sources: Array.from(document.querySelectorAll('details.source')).map(d => [d.dataset.source,
           d.querySelectorAll('.group.kept .sample').length,
           Array.from(d.querySelectorAll('.group.dropped')).map(g => [g.dataset.group, g.querySelectorAll('.sample').length,
           g.querySelector('.numbers').textContent])]),
  pairs: Array.from(document.querySelectorAll('#duplicates .pair')).map(p => [p.dataset.reason,
         p.querySelectorAll('.side').length, p.querySelectorAll('del, ins').length]),
  pii: Array.from(document.querySelectorAll('#pii mark.pii')).map(m => m.textContent),
  splits: Array.from(document.querySelectorAll('#tokenizers .split')).map(s => [s.closest('.passage').dataset.source,
          s.dataset.tokenizer, s.querySelectorAll('.tok').length, s.querySelector('.name').textContent]),
  scripts: Array.from(document.scripts).filter(s => s.src).length,
  links: document.querySelectorAll('link[href]').length,
})"""


def column(browser: Browser, name: str) -> list[str]:
    return browser.js(f"""(() => {{ const i = Array.from(document.querySelectorAll('#table1 thead th'))
        .findIndex(th => th.textContent.startsWith({json.dumps(name)}));
        return Array.from(document.querySelectorAll('#table1 tbody tr')).map(r => r.cells[i].dataset.value); }})()""")


def test_report_html_in_chromium(sampled_build, browser, tmp_path):
    cfg, _result, planted = sampled_build
    out = cfg.out_dir
    page = out / "report.html"
    size = page.stat().st_size
    assert size <= cfg.report.max_html_bytes
    browser.load(page.as_uri())
    shot = tmp_path / "report.png"
    width, height = browser.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and height > 2000

    # Nothing leaves the page: the document itself, and the plots as data: URIs.
    urls = browser.requests()
    assert urls[0] == page.as_uri()
    assert all(u.startswith(("file:", "data:")) for u in urls), [u[:80] for u in urls]
    assert sum(u.startswith("data:image/png") for u in urls) == 4

    dom = json.loads(browser.js(DOM))
    stats = json.loads((out / "stats.json").read_text())
    assert dom["rows"] == ["wiki", "plays"] and dom["total"] == 1
    assert dom["columns"][-2:] == ["tokens gpt2", "tokens mistral"]
    # one image per plot, each drawn (decoded by the browser), nothing else
    assert [p[0] for p in dom["plots"]] == ["tokens", "lengths", "drops", "duplicates"]
    assert all(n == 1 and src == "data:image/png;base64," and w > 300 for _k, n, src, w in dom["plots"])
    assert dom["images"] == 4 and dom["scripts"] == 0 and dom["links"] == 0
    # per source: the kept sample and every drop reason, with the rule's numbers
    shown = {name: (kept, {g: (n, nums) for g, n, nums in groups}) for name, kept, groups in dom["sources"]}
    assert list(shown) == ["wiki", "plays"]
    for name, (kept, groups) in shown.items():
        summary = stats["sources"][name]["summary"]
        assert kept >= 1
        assert set(groups) == set(summary["dropped"])
        assert all(n >= 1 for n, _nums in groups.values())
    assert "chars = 17" in shown["wiki"][1]["length_v1:too_short"][1]
    assert "duplicate_of = plays/" in shown["wiki"][1]["dedup_v1:near_duplicate"][1]
    # near-duplicates side by side, their differences marked; PII placeholders, not values
    assert {r for r, _s, _m in dom["pairs"]} == {"near_duplicate", "exact_duplicate"}
    assert all(sides == 2 for _r, sides, _m in dom["pairs"])
    assert any(marks > 0 for r, _s, marks in dom["pairs"] if r == "near_duplicate")
    assert set(dom["pii"]) == {"<EMAIL>", "<CREDIT_CARD>"}
    text = browser.js("document.body.innerText")
    assert planted["email"] not in text and planted["card"] not in text
    # the same passage split by each vocabulary, token boundaries and bytes per token
    assert {(s, t) for s, t, _n, _name in dom["splits"]} == {(s, t) for s in ("wiki", "plays")
                                                             for t in ("gpt2", "mistral")}
    assert all(n > 5 and "bytes per token" in name for _s, _t, n, name in dom["splits"])

    # Sortable: a click sorts by the column, a second click the other way.
    browser.js("document.querySelectorAll('#table1 thead th')[4].click()")  # docs kept
    kept = [int(v) for v in column(browser, "docs kept")]
    assert kept == sorted(kept)
    browser.js("document.querySelectorAll('#table1 thead th')[4].click()")
    assert [int(v) for v in column(browser, "docs kept")] == sorted(kept, reverse=True)
    browser.js("document.querySelectorAll('#table1 thead th')[0].click()")
    assert column(browser, "source") == ["plays", "wiki"]


def test_the_request_log_sees_a_request_that_leaves_the_page(browser, tmp_path, http_folder):
    """The check above is real: a page that loads an image over the network is caught."""
    served = tmp_path / "served"
    served.mkdir()
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
    (served / "dot.png").write_bytes(png)
    server = http_folder(served)
    page = tmp_path / "leaky.html"
    page.write_text(f'<!doctype html><html><body><img src="{server.url}/dot.png"></body></html>')
    browser.load(page.as_uri())
    leaving = [u for u in browser.requests() if not u.startswith(("file:", "data:"))]
    assert leaving == [f"{server.url}/dot.png"] and server.hits == ["/dot.png"]
