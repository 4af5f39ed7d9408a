#!/usr/bin/python3
"""A stand-in for usher's admin listener, for testing the dashboard page on its own.

Serves GET / (src/admin/dashboard/dashboard.html, read from disk on every request, so edits show
on reload) and GET /status (the JSON the real admin API answers, with counters that grow with time:
50 requests/s of which 10% are 5xx). The test steers it through attributes: `fail` (answer 503),
`token` (require `Authorization: Bearer <token>`), `restart()` (new pid, counters back to zero).

Standalone, for working on the page in a browser:
    tests/browser/fake_status.py [--port 8099] [--token SECRET]
"""
import argparse
import http.server
import json
import os
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DASHBOARD = os.path.join(HERE, "..", "..", "src", "admin", "dashboard", "dashboard.html")

RPS = 50.0          # requests per second the fake reports
SHARE_5XX = 0.10    # of which this share are 5xx


class FakeStatus:
    """Runs the fake admin API on 127.0.0.1:<port> (0 = any free port) in a daemon thread."""

    def __init__(self, port=0, token=None):
        self.fail = False
        self.token = token
        self.auth_seen = []          # Authorization headers of /status requests, in order
        self.status_requests = 0
        self._pid = 4242
        self._started = time.monotonic()
        self._lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/":
                    with open(DASHBOARD, "rb") as f:
                        self._send(200, "text/html; charset=utf-8", f.read())
                elif self.path == "/status":
                    fake._answer_status(self)
                else:
                    self._send(404, "application/json", b'{"error": "not found"}')

            def _send(self, code, ctype, body):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/" % self.port

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def restart(self):
        """As if usher restarted: another pid, uptime and every counter from zero."""
        with self._lock:
            self._pid += 1
            self._started = time.monotonic()

    def _answer_status(self, handler):
        with self._lock:
            self.status_requests += 1
            auth = handler.headers.get("Authorization")
            self.auth_seen.append(auth)
            if self.token is not None and auth != "Bearer " + self.token:
                handler._send(401, "application/json", b'{"error": "bearer token required"}')
                return
            if self.fail:
                handler._send(503, "application/json", b'{"error": "failing on purpose"}')
                return
            body = json.dumps(self.status(time.monotonic() - self._started)).encode()
        handler._send(200, "application/json", body)

    def status(self, up):
        """The /status document after `up` seconds of uptime."""
        req = int(RPS * up)
        s5 = int(RPS * SHARE_5XX * up)
        s4 = int(0.02 * RPS * up)
        active = 5 + int(up) % 4
        return {
            "version": "0.1.0", "pid": self._pid, "uptime_s": round(up, 3), "workers": 2,
            "ready": True, "draining": False,
            "config": {
                "path": "/etc/usher/usher.yaml", "hash": "9f2c4e1ab37d55e0c1f0aa8e6b21d4c7", "reloads": 3,
                "last_reload": {"ok": False, "at": "2026-11-29T16:00:00Z",
                                "errors": ["usher.yaml:14:7: clusters.api.endpoints[1]: port 99999 is out "
                                           "of range (1-65535)"]},
            },
            "totals": {
                "requests": req, "status_1xx": 0, "status_2xx": req - s5 - s4, "status_3xx": 0,
                "status_4xx": s4, "status_5xx": s5, "bytes_in": 310 * req, "bytes_out": 2900 * req,
                "connections_active": active, "connections_total": 10 + req // 20,
            },
            "latency_ms": {"p50": 1.2 + (int(up) % 3) * 0.1, "p90": 3.4, "p99": 9.9},
            "listeners": [
                {"name": "web", "address": "127.0.0.1:8080", "tls": False, "connections_active": active - 2},
                {"name": "secure", "address": "0.0.0.0:8443", "tls": True, "connections_active": 2},
            ],
            "routes": [
                {"name": "api", "cluster": "api", "requests": req * 7 // 10},
                {"name": "site", "cluster": "web", "requests": req - req * 7 // 10},
            ],
            "clusters": [
                {"name": "api", "balancer": "round_robin", "endpoints": [
                    {"address": "127.0.0.1:9000", "label": "backend1:9000", "state": "healthy",
                     "requests": req * 4 // 10, "failures": 0, "active": 1},
                    {"address": "127.0.0.1:9001", "label": "backend2:9001", "state": "unhealthy",
                     "requests": 12, "failures": s5, "active": 0},
                    {"address": "127.0.0.1:9002", "label": "backend3:9002", "state": "slow_start",
                     "requests": req * 3 // 10, "failures": 0, "active": 1},
                ]},
                {"name": "web", "balancer": "least_request", "endpoints": [
                    {"address": "10.0.0.7:3000", "label": "web-a:3000", "state": "ejected",
                     "requests": 40, "failures": 9, "active": 0},
                    {"address": "10.0.0.8:3000", "label": "web-b:3000", "state": "draining",
                     "requests": req * 3 // 10, "failures": 0, "active": 2},
                ]},
            ],
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--token")
    args = parser.parse_args()
    fake = FakeStatus(args.port, args.token)
    print("fake admin API on", fake.url, flush=True)
    try:
        fake.thread.join()
    except KeyboardInterrupt:
        fake.close()


if __name__ == "__main__":
    main()
