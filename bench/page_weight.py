"""Page weight and time to interactive of the contact form on a slow phone.

Starts its own server (temporary SQLite database with the demo data, responses gzipped as a
production reverse proxy would), signs in as the demo field worker in the system Chromium,
and measures:

* the weight of the contact form page with everything it loads on a first visit, raw and
  compressed, and the JavaScript alone (budgets: 60 KB and 20 KB compressed);
* the time to interactive (DOMContentLoaded, deferred scripts run) and to load, cold (empty
  cache) and warm (service worker and cache in place), throttled like "Slow 4G": 400 kbps
  down, 400 ms latency, CPU slowed 4×.

Writes its section of docs/benchmarks.md. Usage: python bench/page_weight.py [--runs 5]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import threading
from datetime import datetime
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from report import write_section  # noqa: E402  (bench/ is the script's folder)

from app import create_app, crypto  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SLOW_4G = {"offline": False, "latency": 400, "downloadThroughput": 400 * 1000 / 8,
           "uploadThroughput": 400 * 1000 / 8}
CPU_SLOWDOWN = 4
START, END = "<!-- page-weight:start -->", "<!-- page-weight:end -->"


class Gzip:
    """WSGI middleware: gzip text responses, as nginx in front of the app would."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if "gzip" not in environ.get("HTTP_ACCEPT_ENCODING", ""):
            return self.app(environ, start_response)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        kind = dict((k.lower(), v) for k, v in headers).get("content-type", "")
        if body and any(t in kind for t in ("text", "javascript", "json", "svg")):
            body = gzip.compress(body, 6)
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers)
        return [body]


def serve():
    folder = Path(tempfile.mkdtemp(prefix="relais-weight-"))
    keys = folder / "keys.json"
    crypto.write_key_file(keys, crypto.new_key_ring())
    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI":
                      f"sqlite:///{folder / 'bench.db'}", "DATA_KEYS_FILE": str(keys),
                      "SESSION_COOKIE_SECURE": False, "LOGIN_RATE_LIMIT": "10000 per minute"})
    with app.app_context():
        from flask_migrate import upgrade

        from app.demo import load_demo

        upgrade()
        load_demo()
    server = make_server("127.0.0.1", 0, Gzip(app.wsgi_app), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


def sign_in(page, base):
    page.goto(f"{base}/login")
    page.fill("input[name=email]", "terrain@relais.demo")
    page.fill("input[name=password]", "relais-demo-2026")
    page.click("button[type=submit]")
    page.wait_for_url("**/today")


def weigh(browser, base) -> dict:
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    sign_in(page, base)
    # A first visit of the form: a new context with only the session cookie.
    cookies = context.cookies()
    context.close()
    context = browser.new_context(viewport={"width": 360, "height": 740},
                                  service_workers="block")
    context.add_cookies(cookies)
    page = context.new_page()
    sizes = []

    def on_response(response):
        body = response.body()
        encoded = gzip.compress(body, 6)
        sizes.append((response.url.replace(base, ""), len(body), len(encoded),
                      response.headers.get("content-type", "")))

    page.on("response", on_response)
    page.goto(f"{base}/contacts/new", wait_until="load")
    page.wait_for_timeout(500)
    context.close()
    compressible = ("text", "javascript", "json", "svg")
    total_raw = sum(raw for _, raw, _, _ in sizes)
    total_gz = sum(gz if any(t in kind for t in compressible) else raw
                   for _, raw, gz, kind in sizes)
    js_gz = sum(gz for url, _, gz, kind in sizes if "javascript" in kind or url.endswith(".js"))
    return {"files": sizes, "raw": total_raw, "compressed": total_gz, "js": js_gz}


def timed_load(page, url) -> tuple[float, float]:
    page.goto(url, wait_until="load")
    timing = page.evaluate("""() => {
      const n = performance.getEntriesByType('navigation')[0];
      return [n.domContentLoadedEventEnd, n.loadEventEnd];
    }""")
    return timing[0], timing[1]


def throttled(browser, base, runs: int) -> dict:
    results = {"cold": [], "warm": []}
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 360, "height": 740})
        page = context.new_page()
        sign_in(page, base)
        cookies = context.cookies()
        context.close()
        context = browser.new_context(viewport={"width": 360, "height": 740})
        context.add_cookies(cookies)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", SLOW_4G)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
        results["cold"].append(timed_load(page, f"{base}/contacts/new"))
        page.wait_for_timeout(1500)  # let the service worker settle
        results["warm"].append(timed_load(page, f"{base}/contacts/new"))
        context.close()
    return results


def markdown(weight: dict, timings: dict, runs: int) -> str:
    def ms(values, index):
        picked = [v[index] for v in values]
        return f"{statistics.median(picked):.0f} ms (max {max(picked):.0f})"

    rows = "\n".join(f"| `{url.split('?')[0]}` | {raw / 1024:.1f} KB | {gz / 1024:.1f} KB |"
                     for url, raw, gz, _ in weight["files"])
    ok = "within" if weight["compressed"] < 60 * 1024 and weight["js"] < 20 * 1024 \
        else "OVER"
    return f"""{START}
## Contact form on a slow phone

Measured by `bench/page_weight.py` on {datetime.now():%Y-%m-%d} (2 cores, headless Chromium
of the system, responses gzipped like a reverse proxy would).

**Weight of a first visit** of `/contacts/new`, everything it loads: {weight['raw'] / 1024:.1f}
KB raw, **{weight['compressed'] / 1024:.1f} KB compressed**; JavaScript
**{weight['js'] / 1024:.1f} KB compressed** — {ok} the budgets (60 KB page, 20 KB JS).

| file | raw | compressed |
|---|---|---|
{rows}

**Throttled** ("Slow 4G": 400 kbps down, 400 ms latency, CPU 4× slower), median of {runs}
runs: time to interactive (DOMContentLoaded, deferred scripts run) and to load.

| visit | interactive | load |
|---|---|---|
| cold (empty cache) | {ms(timings['cold'], 0)} | {ms(timings['cold'], 1)} |
| warm (service worker, cache) | {ms(timings['warm'], 0)} | {ms(timings['warm'], 1)} |
{END}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    base = serve()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        weight = weigh(browser, base)
        timings = throttled(browser, base, args.runs)
        browser.close()
    section = markdown(weight, timings, args.runs)
    write_section(section, START, END, Path(args.output))
    print(section)


if __name__ == "__main__":
    main()
