"""Shared machinery of the Stadtbus simulators (stdlib only).

Every simulator stands for one real system the city of Itzehoe connects to Stadtbus. They all
offer the same small control interface (see /work/notes/flows.md and simulators/README.md):

* ``POST /control``  JSON ``{"mode": "ok"|"down"|"flaky", "failure-rate": 0.3,
  "timeout-rate": 0.1, "delay-ms": 0}``; ``down`` answers 503 to everything except
  ``/control`` and ``/health``; ``flaky`` answers the given share of requests with 500 and lets
  the ``timeout-rate`` share hang longer than a caller's timeout (``hang-seconds``, default 30).
* ``GET /received``  JSON summary ``{"count", "unique", "duplicates", "ids", "invalid"}`` plus
  simulator-specific fields.
* ``GET /health``    200 ``{"status": "ok"}``.
* One JSON line per event on stdout, prefixed with ``[name]``.

Business endpoints are registered per simulator with :meth:`SimulatorServer.route`.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, NoReturn, Optional

#: The repository root (simulators/ lives directly below it).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: The shared XÖV material: $STADTBUS_SHARED, else ../shared next to the repository.
SHARED = Path(os.environ.get("STADTBUS_SHARED", str(REPO_ROOT.parent / "shared")))
#: Largest request body a simulator accepts (like a real system's upload limit).
MAX_BODY = 20 * 1024 * 1024


# --------------------------------------------------------------------------- logging

_log_lock = threading.Lock()
#: Where event lines go: stdout for servers; commands that print a JSON result (portal submit,
#: neighbour send) switch it to stderr so that their stdout stays machine-readable.
log_stream = sys.stdout


def log(prefix: str, event: str, **fields: object) -> None:
    """Writes one JSON line ``[prefix] {"ts": …, "event": …, …}`` to :data:`log_stream`."""
    record = {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "event": event}
    record.update(fields)
    line = f"[{prefix}] " + json.dumps(record, ensure_ascii=False, default=str)
    with _log_lock:
        print(line, file=log_stream, flush=True)


def utc_now() -> str:
    """The current time as xs:dateTime in UTC without fractional seconds."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- state

@dataclass
class Behaviour:
    """The failure behaviour set through ``POST /control``."""

    mode: str = "ok"
    failure_rate: float = 0.0
    timeout_rate: float = 0.0
    delay_ms: int = 0
    hang_seconds: float = 30.0

    def as_json(self) -> dict:
        return {"mode": self.mode, "failure-rate": self.failure_rate, "timeout-rate": self.timeout_rate,
                "delay-ms": self.delay_ms, "hang-seconds": self.hang_seconds}


@dataclass
class Received:
    """What a simulator has received, keyed by message identity (thread-safe)."""

    ids: list = field(default_factory=list)
    seen: set = field(default_factory=set)
    duplicates: int = 0
    invalid: int = 0
    extra: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, identity: str, shown: Optional[str] = None) -> bool:
        """Records one accepted message; returns True if its identity was seen before.

        ``shown`` is what ``ids`` lists for it (default: the identity itself), for messages whose
        identity is composite, e.g. xdomea's ProzessID + Nachrichtentyp with ``ids`` showing the ProzessID.
        """
        with self.lock:
            duplicate = identity in self.seen
            if duplicate:
                self.duplicates += 1
            else:
                self.seen.add(identity)
            self.ids.append(identity if shown is None else shown)
            return duplicate

    def record_invalid(self) -> None:
        with self.lock:
            self.invalid += 1

    def bump(self, key: str, by: int = 1) -> None:
        """Increments a simulator-specific counter shown in ``/received``."""
        with self.lock:
            self.extra[key] = int(self.extra.get(key, 0)) + by

    def summary(self) -> dict:
        with self.lock:
            result = {"count": len(self.ids), "unique": len(self.seen), "duplicates": self.duplicates,
                      "ids": list(self.ids), "invalid": self.invalid}
            for key, value in self.extra.items():
                result[key] = list(value) if isinstance(value, (list, set)) else value
            return result


@dataclass
class Response:
    """What a route handler answers."""

    status: int
    body: object = None          # dict/list → JSON, str/bytes → as is
    content_type: str = "application/json"


#: A route handler gets the request headers and body and returns a Response.
Handler = Callable[[dict, bytes], Response]


class SimulatorServer:
    """A ThreadingHTTPServer with the common control interface and registered routes."""

    def __init__(self, name: str, host: str, port: int) -> None:
        self.name = name
        self.behaviour = Behaviour()
        self.received = Received()
        self.routes: dict[tuple[str, str], Handler] = {}
        self.control_hooks: list[Callable[[dict], Optional[dict]]] = []
        self._behaviour_lock = threading.Lock()
        self._random = random.Random()
        self.httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self.httpd.daemon_threads = True

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def route(self, method: str, path: str, handler: Handler) -> None:
        """Registers a business endpoint (subject to the failure modes)."""
        self.routes[(method.upper(), path)] = handler

    def on_control(self, hook: Callable[[dict], Optional[dict]]) -> None:
        """Registers a hook that sees every ``/control`` body (e.g. payment's ``emit-unknown``)."""
        self.control_hooks.append(hook)

    def serve_forever(self) -> None:
        log(self.name, "listening", address=f"http://{self.httpd.server_address[0]}:{self.port}")
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self.httpd.server_close()

    def start_background(self) -> threading.Thread:
        """Serves in a daemon thread (for tests); returns the thread."""
        thread = threading.Thread(target=self.serve_forever, name=f"{self.name}-http", daemon=True)
        thread.start()
        return thread

    def shutdown(self) -> None:
        self.httpd.shutdown()

    # ---- control

    def apply_control(self, body: dict) -> dict:
        """Applies a ``/control`` body; raises ValueError with a readable reason if it is wrong."""
        with self._behaviour_lock:
            new = Behaviour(**vars(self.behaviour))
            if "mode" in body:
                if body["mode"] not in ("ok", "down", "flaky"):
                    raise ValueError(f"mode must be ok, down or flaky, not {body['mode']!r}")
                new.mode = body["mode"]
            for key, attr in (("failure-rate", "failure_rate"), ("timeout-rate", "timeout_rate")):
                if key in body:
                    value = float(body[key])
                    if not 0.0 <= value <= 1.0:
                        raise ValueError(f"{key} must be between 0 and 1, not {value}")
                    setattr(new, attr, value)
            if "delay-ms" in body:
                new.delay_ms = max(0, int(body["delay-ms"]))
            if "hang-seconds" in body:
                new.hang_seconds = max(0.0, float(body["hang-seconds"]))
            if new.failure_rate + new.timeout_rate > 1.0:
                raise ValueError("failure-rate + timeout-rate must not exceed 1")
            extra: dict = {}
            for hook in self.control_hooks:
                extra.update(hook(body) or {})
            self.behaviour = new
        log(self.name, "control", **new.as_json(), **extra)
        return {**new.as_json(), **extra}

    def _failure(self) -> Optional[str]:
        """Decides, for one business request, whether to fail: None, 'down', 'error' or 'hang'."""
        behaviour = self.behaviour
        if behaviour.mode == "down":
            return "down"
        if behaviour.mode == "flaky":
            draw = self._random.random()
            if draw < behaviour.failure_rate:
                return "error"
            if draw < behaviour.failure_rate + behaviour.timeout_rate:
                return "hang"
        return None

    # ---- HTTP

    def _handler_class(self) -> type:
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            server_version = f"stadtbus-{server.name}-sim/1"
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib name)
                pass  # our own JSON lines instead of the stdlib's access log

            def _send(self, response: Response) -> None:
                body = response.body
                if isinstance(body, (dict, list)):
                    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
                elif isinstance(body, str):
                    payload = body.encode("utf-8")
                else:
                    payload = body or b""
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _body(self) -> Optional[bytes]:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._send(Response(413, {"error": f"body larger than {MAX_BODY} bytes"}))
                    self.close_connection = True
                    return None
                return self.rfile.read(length) if length else b""

            def _dispatch(self, method: str) -> None:
                path = urllib.parse.urlsplit(self.path).path
                body = self._body() if method == "POST" else b""
                if body is None:
                    return
                if path == "/health" and method == "GET":
                    return self._send(Response(200, {"status": "ok", "mode": server.behaviour.mode}))
                if path == "/received" and method == "GET":
                    return self._send(Response(200, server.received.summary()))
                if path == "/control" and method == "POST":
                    try:
                        request = json.loads(body or b"{}")
                        if not isinstance(request, dict):
                            raise ValueError("the control body must be a JSON object")
                        return self._send(Response(200, server.apply_control(request)))
                    except (ValueError, TypeError) as error:
                        return self._send(Response(400, {"error": str(error)}))
                handler = server.routes.get((method, path))
                if handler is None:
                    known = any(route_path == path for _, route_path in server.routes)
                    return self._send(Response(405 if known else 404, {"error": f"no {method} {path}"}))
                failure = server._failure()
                if failure == "down":
                    log(server.name, "refused", reason="mode down", path=path)
                    return self._send(Response(503, {"error": f"{server.name} is down (simulated)"}))
                if failure == "error":
                    log(server.name, "failed", reason="flaky 500", path=path)
                    return self._send(Response(500, {"error": "simulated internal error"}))
                if failure == "hang":
                    # Before the handler: a request that hangs past the caller's timeout was not
                    # accepted and is not recorded, so the caller's retry is no duplicate.
                    log(server.name, "hanging", seconds=server.behaviour.hang_seconds, path=path)
                    time.sleep(server.behaviour.hang_seconds)
                    self.close_connection = True
                    try:
                        return self._send(Response(504, {"error": "simulated hang"}))
                    except OSError:
                        return None  # the caller timed out and closed the connection, as intended
                if server.behaviour.delay_ms:
                    time.sleep(server.behaviour.delay_ms / 1000.0)
                try:
                    response = handler({k.lower(): v for k, v in self.headers.items()}, body)
                except Exception as error:  # a simulator bug must be visible, not kill the thread
                    log(server.name, "handler-error", path=path, error=repr(error))
                    response = Response(500, {"error": f"simulator error: {error}"})
                self._send(response)

            def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
                self._dispatch("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._dispatch("POST")

        return RequestHandler


# --------------------------------------------------------------------------- outgoing HTTP

def read_token(path: Optional[str]) -> Optional[str]:
    """Reads a bearer token from a file (whitespace stripped); None if no file was given."""
    if not path:
        return None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise SystemExit(f"cannot read token file {path}: {error.strerror}") from None
    if not token:
        raise SystemExit(f"token file {path} is empty")
    return token


@dataclass
class PostResult:
    """The outcome of :func:`post_with_retries`."""

    status: int            # HTTP status, 0 if no answer at all
    body: bytes
    attempts: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def post_with_retries(url: str, body: bytes, *, token: Optional[str] = None,
                      content_type: str = "application/xml; charset=utf-8",
                      attempts: int = 8, timeout: float = 10.0, backoff: float = 0.25,
                      headers: Optional[dict] = None) -> PostResult:
    """POSTs ``body``; retries on 503, 502, 504, connection refused/reset and timeouts.

    Other statuses (2xx, 4xx, 500) are final: 4xx means the message is wrong and sending it again
    would not help. The delay doubles from ``backoff`` seconds up to 5 s between attempts.
    """
    request_headers = {"Content-Type": content_type}
    if token:
        request_headers["Authorization"] = f"Bearer {token}"
    request_headers.update(headers or {})
    delay = backoff
    last = PostResult(0, b"", 0, "not attempted")
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=body, headers=request_headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return PostResult(answer.status, answer.read(), attempt)
        except urllib.error.HTTPError as error:
            last = PostResult(error.code, error.read() or b"", attempt, f"HTTP {error.code}")
            if error.code not in (502, 503, 504):
                return last
        except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException,
                OSError) as error:
            reason = getattr(error, "reason", error)
            last = PostResult(0, b"", attempt, str(reason))
        if attempt < attempts:
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    return last


def post_json(url: str, payload: dict, timeout: float = 5.0) -> tuple[int, dict]:
    """POSTs JSON once (for the control interface and tests); returns (status, JSON body)."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text or b"{}")
        except ValueError:
            return error.code, {"raw": text.decode("utf-8", "replace")}


# --------------------------------------------------------------------------- XML tools

def xmllint_validate(document: bytes, schema: Path) -> tuple[bool, str]:
    """Validates with ``xmllint --noout --nonet --schema``; returns (valid, reason).

    The document is passed on stdin, so no file name appears in the reason; ``--nonet`` keeps
    xmllint from fetching anything (external entities and remote schemas stay unresolved).
    """
    try:
        result = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", str(schema), "-"],
                                input=document, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise SystemExit("xmllint not found (install libxml2-utils)") from None
    reason = result.stderr.decode("utf-8", "replace").strip()
    lines = [line for line in reason.splitlines() if not line.endswith(" validates")]
    return result.returncode == 0, "\n".join(lines)


def has_doctype(document: bytes) -> bool:
    """True if the document declares a DOCTYPE (refused: entity expansion attacks)."""
    return b"<!DOCTYPE" in document[:4096].upper() or b"<!ENTITY" in document.upper()


def callback_url(body: dict, key: str) -> Optional[str]:
    """The callback URL ``body[key]`` of a ``/control`` request (``ack-url``, ``confirm-url``).

    None if the key is absent; ValueError (→ 400) unless it is an http(s) URL with a host. Lets a
    caller start a simulator before the receiver of its callbacks knows its own address (tests
    that let Stadtbus's http-in bind port 0), like an administrator setting the endpoint later.
    """
    if key not in body:
        return None
    value = body[key]
    parts = urllib.parse.urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{key} must be an http(s) URL, not {value!r}")
    return value


def fail(message: str) -> NoReturn:
    """Exits with a clear message on stderr (for command-line errors)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)
