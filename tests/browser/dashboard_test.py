#!/usr/bin/python3
"""Browser test of usher's dashboard page (`make test-browser`; not part of `make test`).

Drives headless Chromium (Debian: chromium, chromium-driver, python3-selenium) in two parts:
  fake   the page against fake_status.py: live values, rates computed from the totals, every
         endpoint state, a failed reload, a restart of usher (counter reset), the disconnected
         state, and the bearer-token prompt.
  usher  the real build/usher with an admin listener, live backends and dead endpoints, under
         traffic (200s and 502/503s): GET / serves the page byte for byte, the chart draws, the
         requests/s value is positive, the endpoint table shows healthy and unhealthy endpoints,
         a reload shows as the last reload, then a drained (admin API) and an ejected (outlier
         detection) endpoint; then the token
         prompt against a token-protected admin API (GET / served without the token). Saves the screenshots
         docs/images/dashboard.png (light) and docs/images/dashboard-dark.png.

Usage: tests/browser/dashboard_test.py [--usher build/usher] [--only fake|usher] [--no-screenshot]
Every wait is bounded and polls a condition; nothing sleeps to pass.
"""
import argparse
import http.server
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from fake_status import FakeStatus  # noqa: E402

DASHBOARD = os.path.join(ROOT, "src", "admin", "dashboard", "dashboard.html")
WAIT = 20  # seconds: the longest any single condition may take


# ---- a tiny runner: each check prints ok/FAIL; the summary line is "N passed, N failed" ----------
results = {"passed": 0, "failed": 0}


def check(name, fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 (any failure of a check is reported, then the next runs)
        results["failed"] += 1
        print("FAIL - %s: %s" % (name, e if isinstance(e, AssertionError) else traceback.format_exc()),
              flush=True)
        return False
    results["passed"] += 1
    print("ok - %s" % name, flush=True)
    return True


def browser(dark=False):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1440,1000", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")),
                              options=options)
    if dark:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                               {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    return driver


def wait_until(driver, what, cond, timeout=WAIT):
    """Polls cond(driver) until it is truthy; fails naming `what` after `timeout` seconds."""
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: cond(d), "timed out: " + what)


def attr(driver, selector, name):
    els = driver.find_elements(By.CSS_SELECTOR, selector)
    return els[0].get_attribute(name) if els else None


def number(driver, selector):
    v = attr(driver, selector, "data-value")
    return float(v) if v not in (None, "") else None


def chart_points(driver):
    return int(attr(driver, "#rps-chart", "data-points") or 0)


def endpoint_states(driver):
    """{address: state} of every endpoint row, as the page shows them."""
    return {r.get_attribute("data-address"): r.get_attribute("data-state")
            for r in driver.find_elements(By.CSS_SELECTOR, "#clusters tr[data-state]")}


def conn_state(driver):
    return attr(driver, "#conn-status", "data-state")


def screenshot(driver, path):
    """The whole page, not only the viewport: the window is made as tall as the document."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1440, height + 120)
    polls = int(driver.execute_script("return document.documentElement.dataset.polls || 0"))
    # One more poll after the resize, so the charts are drawn at the final size.
    wait_until(driver, "a poll after resizing", lambda d: int(
        d.execute_script("return document.documentElement.dataset.polls || 0")) > polls)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    driver.save_screenshot(path)
    print("   screenshot: %s" % os.path.relpath(path, ROOT), flush=True)


def token_prompt(driver, token):
    """Shared by both parts, once /status wants `token`: a 401 shows the prompt; the token typed
    into it is stored for the tab and makes the page live again."""
    wait_until(driver, "the unauthorized state", lambda d: conn_state(d) == "unauthorized")
    assert driver.find_element(By.ID, "auth").is_displayed(), "the token prompt is not shown"
    field = driver.find_element(By.ID, "token-input")
    field.send_keys(token)
    field.submit()
    wait_until(driver, "live again with the token", lambda d: conn_state(d) == "live")
    assert not driver.find_element(By.ID, "auth").is_displayed(), "the prompt stays after success"
    stored = driver.execute_script("return sessionStorage.getItem('usher.admin.token')")
    assert stored == token, "token in sessionStorage: %r" % stored


# ---- part 1: the page against the fake /status --------------------------------------------------
def fake_part():
    fake = FakeStatus()
    driver = browser()
    try:
        driver.get(fake.url)

        def live_values():
            wait_until(driver, "live", lambda d: conn_state(d) == "live")
            wait_until(driver, "the chart has 2 points", lambda d: chart_points(d) >= 2)
            # The fake grows its counters by 50 requests/s, 10% of them 5xx.
            rps = number(driver, "#rps-value")
            assert 40 <= rps <= 60, "requests/s %s, expected about 50" % rps
            share = number(driver, "#error-value")
            assert 0.07 <= share <= 0.13, "5xx share %s, expected about 0.10" % share
            assert number(driver, "#p99") == 9.9 and number(driver, "#p90") == 3.4
            assert driver.find_element(By.ID, "p99").text == "9.90 ms"
        check("fake: live values, rates from the totals", live_values)

        def states():
            assert endpoint_states(driver) == {
                "127.0.0.1:9000": "healthy", "127.0.0.1:9001": "unhealthy", "127.0.0.1:9002": "slow_start",
                "10.0.0.7:3000": "ejected", "10.0.0.8:3000": "draining"}, endpoint_states(driver)
            colors = {st: driver.find_element(By.CSS_SELECTOR, "#clusters tr[data-state=%s] .state" % st)
                      .value_of_css_property("color")
                      for st in ("healthy", "unhealthy", "slow_start", "ejected", "draining")}
            assert len(set(colors.values())) == 5, "states share colours: %s" % colors
            clusters = [t.get_attribute("data-cluster") for t in driver.find_elements(By.CSS_SELECTOR, "table.endpoints")]
            assert clusters == ["api", "web"], clusters
        check("fake: endpoints coloured by state", states)

        def tables():
            reload_box = driver.find_element(By.ID, "last-reload")
            assert reload_box.get_attribute("data-ok") == "false"
            assert "reload failed" in reload_box.text and "port 99999 is out of range" in reload_box.text
            assert driver.find_element(By.ID, "reload-count").text == "3"
            assert driver.find_element(By.ID, "config-hash").get_attribute("title") == "9f2c4e1ab37d55e0c1f0aa8e6b21d4c7"
            names = [r.get_attribute("data-name") for r in driver.find_elements(By.CSS_SELECTOR, "#listeners tr[data-name]")]
            assert names == ["web", "secure"], names
            routes = [r.get_attribute("data-name") for r in driver.find_elements(By.CSS_SELECTOR, "#routes tr[data-name]")]
            assert routes == ["api", "site"], routes
        check("fake: last reload, listeners, routes", tables)

        def restart():
            fake.restart()  # new pid, counters from zero
            wait_until(driver, "the new pid", lambda d: d.find_element(By.ID, "pid").text == "4243")
            before = chart_points(driver)
            wait_until(driver, "2 points after the restart", lambda d: chart_points(d) >= before + 2)
            history = driver.execute_script("return window.usherDashboard.history")
            rates = [s["rps"] for s in history if not s.get("gap")]
            assert min(rates) >= 0, "a negative rate across the restart: %s" % min(rates)
            assert any(s.get("gap") for s in history), "no break in the line at the restart"
            assert 40 <= number(driver, "#rps-value") <= 60
        check("fake: a restart (counter reset) breaks the line, no negative rate", restart)

        def disconnected():
            fake.fail = True
            wait_until(driver, "the disconnected state", lambda d: conn_state(d) == "disconnected")
            banner = driver.find_element(By.ID, "disconnected")
            assert banner.is_displayed() and "503" in banner.text, banner.text
            fake.fail = False
            wait_until(driver, "live again", lambda d: conn_state(d) == "live")
            assert not banner.is_displayed()
        check("fake: /status failing shows disconnected, then recovers", disconnected)

        def token():
            fake.token = "s3cret-token-123"
            token_prompt(driver, fake.token)
            assert fake.auth_seen[-1] == "Bearer s3cret-token-123", fake.auth_seen[-1]
        check("fake: a 401 asks for the token, which is then sent as a bearer token", token)

        def gone():
            fake.close()
            wait_until(driver, "disconnected when the server is gone", lambda d: conn_state(d) == "disconnected")
        check("fake: the server gone shows disconnected", gone)
        errors = [e for e in driver.get_log("browser")
                  if e["level"] == "SEVERE" and "/status" not in e["message"]]
        check("fake: no JavaScript errors", lambda: _assert(not errors, errors))
    finally:
        driver.quit()
        fake.close()


def _assert(cond, what):
    assert cond, what


# ---- part 2: the real usher -----------------------------------------------------------------------
class Backend:
    """A plain HTTP backend on 127.0.0.1:<any port> answering 200 to everything."""

    def __init__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                body = b"hello from the backend\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def dead_ports(n):
    """n distinct ports nothing listens on (bound together, then closed): connecting is refused."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Usher:
    """build/usher with one listener and an admin listener, both on port 0."""

    def __init__(self, binary, workdir, backends, dead, token=None):
        admin = "{listen: 127.0.0.1:0%s}" % (", token: %s" % token if token else "")
        config = """workers: 2
admin: %s
listeners:
  - name: web
    address: 127.0.0.1:0
routes:
  - name: broken
    match: { path: { prefix: /broken } }
    cluster: legacy
  - name: site
    cluster: api
clusters:
  api:
    endpoints: ["127.0.0.1:%d", "127.0.0.1:%d", "127.0.0.1:%d"]
    health_check: { path: /, interval: 200ms, jitter: 0, timeout: 500ms, unhealthy_threshold: 1, healthy_threshold: 1 }
  legacy:
    endpoints: ["127.0.0.1:%d", "127.0.0.1:%d"]
    outlier_detection: { consecutive_failures: 2, base_ejection_time: 5m, max_ejected_percent: 50 }
""" % (admin, backends[0], backends[1], dead[0], dead[0], dead[1])
        path = os.path.join(workdir, "usher%s.yaml" % ("-token" if token else ""))
        with open(path, "w") as f:
            f.write(config)
        self.log_path = path + ".log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([binary, "-c", path], stdout=self.log, stderr=subprocess.STDOUT)
        self.port = self.admin_port = None
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and (self.port is None or self.admin_port is None):
            if self.proc.poll() is not None:
                break
            text = open(self.log_path).read()
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+) \(listener web", text)
            self.port = int(m.group(1)) if m else None
            m = re.search(r"admin: serving on http://127\.0\.0\.1:(\d+)", text)
            self.admin_port = int(m.group(1)) if m else None
            time.sleep(0.05)  # polling the log for the start-up lines, bounded by the deadline
        if self.port is None or self.admin_port is None:
            self.close()
            raise RuntimeError("usher did not start (or logged no admin address):\n" + open(self.log_path).read())

    @property
    def admin_url(self):
        return "http://127.0.0.1:%d/" % self.admin_port

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Traffic:
    """Requests through usher from a thread until stopped (at most 120 s): mostly GET / (200 from
    the backend, or an error while the dead endpoint is still counted healthy) and every fourth
    GET /broken (the dead-only cluster: 502/503). The rate swings between about 10 and 40 per
    second, so the chart has a shape."""

    def __init__(self, port):
        self.port = port
        self.statuses = {}
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        started = time.monotonic()
        n = 0
        while not self.stop_event.is_set() and time.monotonic() - started < 120:
            path = "/broken" if n % 4 == 3 else "/"
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=3) as r:
                    r.read()
                    code = r.status
            except urllib.error.HTTPError as e:
                code = e.code
            except OSError:
                code = "error"
            self.statuses[code] = self.statuses.get(code, 0) + 1
            n += 1
            phase = (time.monotonic() - started) % 20
            # Pacing of the load itself, not a wait for a result.
            self.stop_event.wait(0.025 if phase < 10 else 0.1)

    def stop(self):
        self.stop_event.set()
        self.thread.join()


def usher_part(binary, shots):
    """Cluster api: two live backends (the second drained through the admin API) and a dead
    endpoint that the health check marks unhealthy. Cluster legacy (routed /broken): two dead
    endpoints, no health check, outlier detection ejects one (at most 50% of the cluster)."""
    workdir = tempfile.mkdtemp(prefix="usher-browser-")
    backends = [Backend(), Backend()]
    dead = dead_ports(2)
    usher = Usher(binary, workdir, [b.port for b in backends], dead)
    traffic = Traffic(usher.port)
    live_ep, drained_ep = ["127.0.0.1:%d" % b.port for b in backends]
    dead_ep = "127.0.0.1:%d" % dead[0]
    legacy_eps = ["127.0.0.1:%d" % p for p in dead]
    drivers = []
    try:
        def serves_page():
            with urllib.request.urlopen(usher.admin_url, timeout=5) as r:
                body = r.read()
                ctype = r.headers.get("Content-Type", "")
            with open(DASHBOARD, "rb") as f:
                assert body == f.read(), "GET / is not dashboard.html byte for byte (%d bytes)" % len(body)
            assert ctype.startswith("text/html"), ctype
        check("usher: GET / on the admin listener serves dashboard.html", serves_page)

        driver = browser()
        drivers.append(driver)
        driver.get(usher.admin_url)

        def live():
            wait_until(driver, "live", lambda d: conn_state(d) == "live")
            wait_until(driver, "the chart has 2 points", lambda d: chart_points(d) >= 2)
            wait_until(driver, "requests/s > 0", lambda d: (number(d, "#rps-value") or 0) > 0)
            wait_until(driver, "a 5xx share > 0", lambda d: (number(d, "#error-value") or 0) > 0)
        check("usher: the chart draws and requests/s is above 0", live)

        def states():
            wait_until(driver, "healthy and unhealthy endpoints",
                       lambda d: d.find_elements(By.CSS_SELECTOR, 'table[data-cluster=api] tr[data-address="%s"][data-state=healthy]' % live_ep)
                       and d.find_elements(By.CSS_SELECTOR, 'table[data-cluster=api] tr[data-address="%s"][data-state=unhealthy]' % dead_ep))
            names = [r.get_attribute("data-name") for r in driver.find_elements(By.CSS_SELECTOR, "#listeners tr[data-name]")]
            assert names == ["web"], names
            assert driver.find_element(By.ID, "last-reload").get_attribute("data-ok") in ("none", "true")
            assert driver.find_element(By.ID, "pid").text == str(usher.proc.pid)
        check("usher: the endpoint table shows the live states", states)

        def reloaded():
            req = urllib.request.Request(usher.admin_url + "config/reload", method="POST")
            urllib.request.urlopen(req, timeout=10).read()
            wait_until(driver, "the reload shown as succeeded",
                       lambda d: attr(d, "#last-reload", "data-ok") == "true")
            assert driver.find_element(By.ID, "reload-count").text == "1"
            assert "reload succeeded" in driver.find_element(By.ID, "last-reload").text
        check("usher: a reload through the admin API shows as the last reload", reloaded)

        def drained_and_ejected():
            req = urllib.request.Request("%sclusters/api/endpoints/%s/drain" % (usher.admin_url, drained_ep),
                                         method="POST")
            urllib.request.urlopen(req, timeout=5).read()
            wait_until(driver, "the drained endpoint", lambda d: d.find_elements(
                By.CSS_SELECTOR, 'table[data-cluster=api] tr[data-address="%s"][data-state=draining]' % drained_ep))
            wait_until(driver, "an ejected endpoint in legacy", lambda d: sorted(
                r.get_attribute("data-state") for r in d.find_elements(
                    By.CSS_SELECTOR, "table[data-cluster=legacy] tr[data-state]")) == ["ejected", "healthy"])
            addresses = [r.get_attribute("data-address") for r in driver.find_elements(
                By.CSS_SELECTOR, "table[data-cluster=legacy] tr[data-state]")]
            assert addresses == legacy_eps, addresses
        check("usher: a drained and an ejected endpoint show their states", drained_and_ejected)

        if shots:
            def shoot():
                # A fuller chart for the picture: wait (bounded) for 20 samples.
                wait_until(driver, "20 chart points", lambda d: chart_points(d) >= 20, timeout=40)
                screenshot(driver, os.path.join(ROOT, "docs", "images", "dashboard.png"))
                dark = browser(dark=True)
                drivers.append(dark)
                dark.get(usher.admin_url)
                wait_until(dark, "10 chart points (dark)", lambda d: chart_points(d) >= 10, timeout=30)
                screenshot(dark, os.path.join(ROOT, "docs", "images", "dashboard-dark.png"))
            check("usher: screenshots", shoot)

        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        check("usher: no JavaScript errors", lambda: _assert(not errors, errors))
    finally:
        traffic.stop()
        for d in drivers:
            d.quit()
        usher.close()
    print("   traffic: %s" % traffic.statuses, flush=True)

    # The same page against an admin API that wants a bearer token: GET / is served without it.
    token = "dashboard-test-token-42"
    usher = Usher(binary, workdir, [b.port for b in backends], dead, token=token)
    driver = browser()
    try:
        def token_check():
            try:
                urllib.request.urlopen(usher.admin_url, timeout=5).read()
            except urllib.error.HTTPError as e:
                raise AssertionError("GET / answered %d without the token: a browser cannot even "
                                     "load the page that asks for it" % e.code)
            try:
                urllib.request.urlopen(usher.admin_url + "status", timeout=5)
                raise AssertionError("/status answered without the token")
            except urllib.error.HTTPError as e:
                assert e.code == 401, e.code
            driver.get(usher.admin_url)
            # Live after the prompt means usher accepted the bearer token the page sent.
            token_prompt(driver, token)
        check("usher: with an admin token, a 401 prompts for it and the page goes live", token_check)
    finally:
        driver.quit()
        usher.close()
        for b in backends:
            b.close()


def main():
    parser = argparse.ArgumentParser(description="browser test of the dashboard page")
    parser.add_argument("--usher", default=os.path.join(ROOT, "build", "usher"))
    parser.add_argument("--only", choices=["fake", "usher"])
    parser.add_argument("--no-screenshot", action="store_true")
    args = parser.parse_args()
    if args.only in (None, "fake"):
        fake_part()
    if args.only in (None, "usher"):
        if not os.access(args.usher, os.X_OK):
            print("FAIL - %s is missing: build it first (make build)" % args.usher)
            results["failed"] += 1
        else:
            usher_part(args.usher, not args.no_screenshot)
    print("%d passed, %d failed" % (results["passed"], results["failed"]), flush=True)
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
