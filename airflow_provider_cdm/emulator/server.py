"""The HTTP side: a threading HTTP/1.1 keep-alive server that frames requests for the app.

It owns what needs the socket: Content-Length framing, the 1 MiB body limit, ``X-Request-Id`` on every
answer, JSON errors instead of tracebacks (those go to stderr only), and carrying out injected faults
(latency, 5xx, dropped connections, broken bodies). ``/_emulator/`` goes to the admin API, which
faults never touch.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from airflow_provider_cdm.api import errors
from airflow_provider_cdm.api.endpoints import Endpoint, route
from airflow_provider_cdm.emulator.admin import ADMIN_PREFIX, handle_admin
from airflow_provider_cdm.emulator.app import EmulatorApp, Request, Response
from airflow_provider_cdm.emulator.config import EmulatorConfig
from airflow_provider_cdm.emulator.errors import ApiError
from airflow_provider_cdm.emulator.faults import injected_error, malformed_body
from airflow_provider_cdm.emulator.stats import NO_RESPONSE, client_of

MAX_BODY_BYTES = 1024 * 1024
# Bodies up to this size are read and discarded before a 413, so the client sees the answer rather
# than a reset; beyond it the connection is just closed after the answer.
_DRAIN_LIMIT_BYTES = 16 * MAX_BODY_BYTES
_UNROUTED = "unknown"


class _Handler(BaseHTTPRequestHandler):
    server: EmulatorServer
    protocol_version = "HTTP/1.1"
    server_version = "api-gateway"
    sys_version = ""
    disable_nagle_algorithm = True
    wbufsize = -1  # buffered: headers and body leave in one write (flushed per request by the base class)
    timeout = 120  # socket timeout: an idle keep-alive connection, or a client stalling mid-request, is dropped

    def setup(self) -> None:
        super().setup()
        self.rfile = _LineReader(self.rfile)  # type: ignore[assignment]

    def parse_request(self) -> bool:
        """The base class's parsing; a header block cut short by the client closing is no request."""
        if not super().parse_request():
            return False
        if not self.rfile.last_line.endswith(b"\n"):  # type: ignore[attr-defined]
            self.send_error(HTTPStatus.BAD_REQUEST, "the request ended before the blank line after its headers")
            return False
        return True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no line per request."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET  # noqa: N815 - http.server's names

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The base class's errors (bad request line, unknown method, ...) as JSON, never HTML."""
        if code in (HTTPStatus.NOT_FOUND, HTTPStatus.NOT_IMPLEMENTED):
            error = ApiError(errors.APIG_NO_API)
        else:
            error = ApiError(errors.APIG_REQUEST_ERROR, http_status=code, detail=message or HTTPStatus(code).phrase)
        request_id = uuid.uuid4().hex
        self._send(self.server.app.error_response(error, request_id), request_id, close=True)

    def _dispatch(self) -> None:
        app = self.server.app
        request_id = uuid.uuid4().hex
        path, _, query = self.path.partition("?")
        found = None if path.startswith(ADMIN_PREFIX) else route(self.command, path)
        operation = found[0].name if found else _UNROUTED
        client = client_of(self.headers.get("User-Agent"))
        body = self._read_body(request_id)
        if isinstance(body, Response):
            app.stats.record_request(operation, body.status, client)
            self._send(body, request_id, close=True)
            return
        request = Request(self.command, path, query, dict(self.headers.items()), body, request_id)
        try:
            if path.startswith(ADMIN_PREFIX):
                self._send(handle_admin(app, request, str(self.client_address[0])), request_id)
                return
            if found is None:
                response: Response | None = app.error_response(ApiError(errors.APIG_NO_API), request_id)
            else:
                response = self._answer_with_faults(request, *found)
        except Exception:  # never a traceback in an answer: it goes to the server's stderr
            traceback.print_exc(file=sys.stderr)
            error = ApiError(errors.CDM_SYSTEM_ERROR, detail="unexpected emulator error (see its stderr)")
            response = app.error_response(error, request_id, self.command)
        app.stats.record_request(operation, response.status if response else NO_RESPONSE, client)
        if response is not None:
            self._send(response, request_id)

    def _read_body(self, request_id: str) -> bytes | Response:
        """The request body, or the 400/413 answer for one that cannot be taken (the connection then closes)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            detail = "chunked request bodies are not supported; send Content-Length"
            return self.server.app.error_response(ApiError(errors.APIG_REQUEST_ERROR, detail=detail), request_id)
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            return self.server.app.error_response(
                ApiError(errors.APIG_REQUEST_ERROR, detail="invalid Content-Length"), request_id
            )
        if length > MAX_BODY_BYTES:
            while 0 < length <= _DRAIN_LIMIT_BYTES:
                chunk = self.rfile.read(min(length, 65536))
                if not chunk:
                    break
                length -= len(chunk)
            return self.server.app.error_response(ApiError(errors.APIG_ENTITY_TOO_LARGE), request_id)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client stopped sending (half-closed): never act on part of a request
            detail = f"the body ended after {len(body)} of its {length} bytes (Content-Length)"
            return self.server.app.error_response(ApiError(errors.APIG_REQUEST_ERROR, detail=detail), request_id)
        return body

    def _answer_with_faults(self, request: Request, endpoint: Endpoint, params: Mapping[str, str]) -> Response | None:
        """Answer through the app, injecting the faults drawn for this request; None: dropped unanswered."""
        app = self.server.app
        plan = app.faults.plan()
        if plan.latency_s:
            app.stats.record_fault("latency")
            time.sleep(plan.latency_s)
        if plan.reset == "before":
            app.stats.record_fault("reset_before")
            self._drop_connection()
            return None
        if plan.error_status is not None:
            app.stats.record_fault("error")
            return app.error_response(injected_error(plan.error_status), request.request_id, request.method)
        response = app.handle(request, endpoint, params)
        if plan.reset == "after":
            app.stats.record_fault("reset_after")
            self._drop_connection()
            return None
        if plan.malformed is not None:
            app.stats.record_fault("malformed")
            headers = dict(response.headers)
            if plan.malformed == "html":
                headers["Content-Type"] = "text/html"
            return Response(200, malformed_body(response.body, plan.malformed), headers)
        return response

    def _drop_connection(self) -> None:
        """Close without an answer; a zero linger makes the close a TCP reset, as a failing proxy does."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _send(self, response: Response, request_id: str, *, close: bool = False) -> None:
        self.send_response(response.status)
        headers = {"X-Request-Id": request_id, **response.headers, "Content-Length": str(len(response.body))}
        if close:
            headers["Connection"] = "close"  # send_header also ends the keep-alive loop
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


class _LineReader:
    """The request stream, remembering the last line read: a header block that ends without its blank
    line (the client closed mid-request) is told apart from a complete one."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.last_line = b"\n"

    def readline(self, limit: int = -1) -> bytes:
        self.last_line = self._stream.readline(limit)
        return self.last_line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class EmulatorServer(ThreadingHTTPServer):
    """One emulator: the app and its HTTP listener. ``serve_in_thread`` or ``serve_forever`` runs it."""

    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up shutdown
    request_queue_size = 128

    def __init__(self, config: EmulatorConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.app = EmulatorApp(config, clock=clock)
        if ":" in config.host:
            self.address_family = socket.AF_INET6
        super().__init__((config.host, config.port), _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the host (slow or hanging offline)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    @property
    def url(self) -> str:
        host = self.app.config.host
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 - maps it away
        port = self.server_address[1]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def connection(self) -> dict[str, Any]:
        return self.app.connection(self.url)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up is no error; anything else is printed to stderr."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def serve_in_thread(server: EmulatorServer) -> threading.Thread:
    """Serve on a daemon thread; stop with ``server.shutdown()`` then ``server.server_close()``."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="cdm-emulator", daemon=True
    )
    thread.start()
    return thread
