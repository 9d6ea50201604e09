"""A fault-injecting HTTP proxy in front of moto, for AWS wire tests.

- throttle: a share of requests is answered 503 RequestLimitExceeded before it reaches the server;
- lose: a share of mutating requests (Create*/Run*/Put*, PUT/POST) reaches the server, which carries it
  out, but the client gets a 500 instead of the answer — the change happened, the client does not know.
  By default that is EC2-style creations and REST writes; with `every_service` also the creations of the
  JSON-protocol services (X-Amz-Target: SQS, DynamoDB, Logs, Events, ACM…) and every REST POST (Lambda).

It forwards with http.client, keeping the request's own headers and Content-Length (urllib would add a
form Content-Type and moto would read an empty body).
"""

from __future__ import annotations

import http.client
import http.server
import random
import re
import threading
import urllib.parse
from dataclasses import dataclass, field

THROTTLED = (b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code>'
             b'<Message>Request limit exceeded.</Message></Error></Errors><RequestID>x</RequestID></Response>')
ACCESS_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
                 b'<Message>Access Denied</Message></Error>')
LOST = (b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>InternalError</Code>'
        b'<Message>We encountered an internal error.</Message></Error></Errors><RequestID>x</RequestID></Response>')
# Query-protocol creations, and the XML bodies of REST creations (Route 53).
MUTATING_ACTIONS = (b"Action=Create", b"Action=Run", b"Action=Allocate", b"Action=Authorize",
                    b"<CreateHostedZoneRequest", b"<ChangeResourceRecordSetsRequest")
# The verbs of every service's creations, by query Action= or by JSON X-Amz-Target (`Service.Operation`).
CREATING = re.compile(r"(?:^|\.)(?:(?:Create|Run|Allocate|Authorize|Request|Add|Put|Register|Attach)[A-Z]|Subscribe$)")


@dataclass
class Faults:
    throttle: float = 0.0
    lose: float = 0.0
    seed: int = 7
    refuse: tuple[int, bytes] | None = None  # answer everything with this (status, body): a store that says no
    every_service: bool = False  # lose the answers of every service's creations (see the module's docstring)
    counts: dict[str, int] = field(default_factory=lambda: {"throttled": 0, "lost": 0, "passed": 0})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def roll(self, share: float) -> bool:
        with self.lock:
            return self.rng.random() < share


class FaultProxy:
    def __init__(self, upstream: str, faults: Faults):
        parsed = urllib.parse.urlparse(upstream)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                mutating = self.command in ("PUT", "POST", "DELETE") and (
                    self.command != "POST" or any(a in body for a in MUTATING_ACTIONS))
                if faults.every_service and self.command == "POST" and not mutating:
                    target = self.headers.get("X-Amz-Target") or ""
                    action = re.search(rb"(?:^|&)Action=(\w+)", body)
                    mutating = bool(CREATING.search(target)) if target else (
                        bool(CREATING.search(action.group(1).decode())) if action else True)
                with faults.lock:
                    faults.counts["requests"] = faults.counts.get("requests", 0) + 1
                if faults.refuse is not None:
                    return self._reply(*faults.refuse)
                if faults.roll(faults.throttle):
                    with faults.lock:
                        faults.counts["throttled"] += 1
                    return self._reply(503, THROTTLED)
                upstream = http.client.HTTPConnection(host, port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                headers["Host"] = f"{host}:{port}"
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                upstream.close()
                if mutating and response.status < 300 and faults.roll(faults.lose):
                    with faults.lock:
                        faults.counts["lost"] += 1
                    return self._reply(500, LOST)
                with faults.lock:
                    faults.counts["passed"] += 1
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", response.getheader("Content-Length", "0")
                                 if self.command == "HEAD" else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.faults = faults
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        proxy.server = self.server

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
