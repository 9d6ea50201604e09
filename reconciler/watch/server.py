"""The watch's HTTP side: `GET /` (dashboard), `GET /metrics`, `GET /api/status`, `POST /run`. Nothing else does
anything: another path is 404, another method 405. `POST /run` wants `Authorization: Bearer TOKEN` when a token
is set. It binds 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from reconciler.watch.dashboard import render_dashboard
from reconciler.watch.metrics import WatchMetrics
from reconciler.watch.status import WatchStatus

log = logging.getLogger(__name__)

ROUTES = {"/": "GET", "/metrics": "GET", "/api/status": "GET", "/run": "POST"}
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Service:
    status: WatchStatus
    metrics: WatchMetrics
    wake: threading.Event  # set by POST /run: the loop starts a full run now
    mask: Callable[[str], str]  # the run's redactor
    token: str | None = None


class WatchHandler(BaseHTTPRequestHandler):
    """The watch service's HTTP endpoints (ROUTES): metrics, status, the dashboard, and a POST that wakes
    the loop (with the token, when one is set). Everything else is refused with its status code."""

    service: Service  # set by make_server
    server_version = "reconcile-watch"
    sys_version = ""
    timeout = 10  # a client that sends nothing is dropped, not waited on

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    def _route(self, method: str) -> bool:
        path = self.path.split("?", 1)[0]
        allowed = ROUTES.get(path)
        if allowed is None:
            self._send(404, b"not found\n", "text/plain")
            return False
        if allowed != method:
            self._send(405, b"method not allowed\n", "text/plain", {"Allow": allowed})
            return False
        return True

    def _send(self, code: int, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if not self._route("GET"):
            return
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            from prometheus_client import CONTENT_TYPE_LATEST

            self._send(200, self.service.metrics.text(), CONTENT_TYPE_LATEST)
        elif path == "/api/status":
            body = self.service.mask(json.dumps(self.service.status.snapshot().to_json(), default=str))
            self._send(200, body.encode(), "application/json")
        else:
            page = self.service.mask(render_dashboard(self.service.status.snapshot()))
            self._send(200, page.encode(), "text/html; charset=utf-8",
                       {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})

    def do_POST(self) -> None:  # noqa: N802
        if not self._route("POST"):
            return
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit() or int(length) > MAX_BODY:
            self._send(413, b"body too large\n", "text/plain")
            return
        self.rfile.read(int(length))
        if self.service.token is not None:
            given = self.headers.get("Authorization") or ""
            if not hmac.compare_digest(given.encode(), f"Bearer {self.service.token}".encode()):
                self._send(401, b"a token is required: Authorization: Bearer TOKEN\n", "text/plain",
                           {"WWW-Authenticate": "Bearer"})
                return
        self.service.wake.set()
        self._send(202, b'{"accepted": true}\n', "application/json")

    def _refuse(self) -> None:
        self._route(self.command)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_TRACE = do_CONNECT = _refuse  # noqa: N815


def make_server(service: Service, host: str, port: int) -> ThreadingHTTPServer:
    handler = type("Handler", (WatchHandler,), {"service": service})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
