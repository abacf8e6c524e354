"""The emulator survives garbage on the wire: every answer is the gateway's JSON error (or a plain close
when the client is gone), never a traceback in a body or on stderr, and the server keeps serving.

Raw sockets and ``http.client`` against an emulator on a thread of this process. What
``test_server.py`` covers already (bad JSON on create, a body just over 1 MiB, a BREW request, an
unsigned request, sixteen concurrent starts) is not repeated; the garbage here goes further.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_cdm.api import signer
from airflow_provider_cdm.emulator import server as server_module
from airflow_provider_cdm.emulator.server import MAX_BODY_BYTES
from airflow_provider_cdm.emulator.testing import EmulatorThread, emulator_in_thread

from .helpers import RUNNING_1, SignedClient, job_definition

READ_TIMEOUT_S = 10.0  # far above any answer here: reaching it means the server hung


@dataclass
class Answer:
    status: int | None  # None: answered without a status line (the base class's HTTP/0.9 style)
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after the answer

    def json(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.body)
        return document


def connect(emulator: EmulatorThread, timeout: float = READ_TIMEOUT_S) -> socket.socket:
    url = urlsplit(emulator.url)
    return socket.create_connection((url.hostname or "", url.port or 0), timeout=timeout)


def read_answer(stream: Any, *, head: bool = False) -> Answer:
    """One answer from a socket's ``makefile("rb")``: status line, headers and Content-Length body; then,
    if the server says it closes, the close. A socket timeout here fails the test (the server hung)."""
    first = stream.readline()
    if not first.startswith(b"HTTP/"):  # no status line: the rest until the server closes is the body
        return Answer(None, {}, first + stream.read(), closed=True)
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head else int(headers.get("content-length", "0"))
    body = stream.read(length)
    assert len(body) == length, "the server closed the connection in the middle of its answer"
    closed = headers.get("connection", "").lower() == "close"
    if closed:
        assert stream.read(1) == b"", "the server said it would close the connection, then sent more"
    return Answer(int(first.split()[1]), headers, body, closed)


def exchange(emulator: EmulatorThread, data: bytes, *, half_close: bool = False, head: bool = False) -> Answer:
    with connect(emulator) as sock, sock.makefile("rb") as stream:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_answer(stream, head=head)


def request(
    method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b"", version: str = "HTTP/1.1"
) -> bytes:
    lines = [f"{method} {target} {version}", *(f"{name}: {value}" for name, value in (headers or {}).items())]
    if body and not any(name.lower() == "content-length" for name in headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def assert_json_error(answer: Answer, status: int | None, code: str) -> dict[str, Any]:
    """The gateway's (or CDM's) JSON error, and no trace of a Python stack anywhere in it."""
    assert b"Traceback" not in answer.body and b'File "' not in answer.body, answer.body
    assert answer.status == status, answer
    body = answer.json()
    assert body.get("error_code", body.get("errCode")) == code, body
    assert body.get("error_msg", body.get("externalMessage"))
    if answer.status is not None:
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.headers["x-request-id"]
    return body


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    # The gateway's and CDM's answers as the API reference writes them (emulator/dialects.py's reference).
    with emulator_in_thread("--job-duration", "0.3", "--dialect", "reference") as running:
        yield running


@pytest.fixture(scope="module")
def token(emulator: EmulatorThread) -> str:
    """An IAM token (requests with it carry unsigned bodies: garbage reaches the app, past the gateway)."""
    user = {"name": "emulator_user", "password": "emulator-password", "domain": {"name": "emulator_account"}}
    body = {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": {"name": "cn-north-4"}},
        }
    }
    url = urlsplit(emulator.url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=READ_TIMEOUT_S)
    try:
        connection.request("POST", "/v3/auth/tokens", json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 201
        return str(response.headers["X-Subject-Token"])
    finally:
        connection.close()


@pytest.fixture
def project(emulator: EmulatorThread) -> str:
    return f"/v1.1/{emulator.project_id}"


@pytest.fixture(autouse=True)
def survives(emulator: EmulatorThread, capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Before: a clean emulator. After: it still serves a normal signed request, and printed no traceback."""
    emulator.reset()
    emulator.clear_faults()
    yield
    client = SignedClient(emulator)
    response = client.cdm("GET", "/clusters")
    assert response.status_code == 200 and response.json()["clusters"]
    assert "Traceback" not in capfd.readouterr().err


@pytest.fixture
def etl(emulator: EmulatorThread) -> str:
    """A job that exists (unsigned garbage aimed at it must not start it)."""
    SignedClient(emulator).cdm("POST", f"/clusters/{RUNNING_1}/cdm/job", {"jobs": [job_definition("etl")]})
    return f"/clusters/{RUNNING_1}/cdm/job/etl"


# --- bodies -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("PUT", "{job}/start", b'{"variables": ', "APIG.0201"),
        ("PUT", "{job}/start", b'{"variables": ["date"]}', "APIG.0201"),
        ("PUT", "{job}/start", b'{"variables": {"date": 20261122}}', "APIG.0201"),
        ("PUT", "{job}", b"\x00\x01garbage", "APIG.0201"),
        ("PUT", "{job}", b'{"jobs": "etl"}', "APIG.0201"),
        ("POST", "/clusters/{cluster}/cdm/job", b"[" * 100_000, "APIG.0201"),  # nested past any parser's depth
        ("POST", "/clusters/{cluster}/cdm/job", b'{"jobs": [null, null]}', "APIG.0201"),
        ("POST", "/clusters/job", b'{"jobs": [{}], "clusters": "c1"}', "APIG.0201"),
        ("POST", "/clusters/job", b"null", "APIG.0201"),
    ],
)
def test_invalid_json_bodies_answer_apig_0201_and_change_nothing(
    emulator: EmulatorThread, token: str, project: str, etl: str, method: str, path: str, body: bytes, code: str
) -> None:
    target = project + path.format(job=etl, cluster=RUNNING_1)
    headers = {"X-Auth-Token": token, "Content-Type": "application/json", "X-Language": "en-us"}
    answer = exchange(emulator, request(method, target, headers, body))
    assert_json_error(answer, 400, code)
    assert not answer.closed  # a refused body is an answer: the keep-alive connection goes on
    assert emulator.stats()["starts"] == {} and emulator.stats()["creates"] == {"etl": 1}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v3/auth/tokens", b'{"auth": '),
        ("/v3/auth/tokens", b"\xff\xfe\xfd\xfc not utf-8"),
        ("/v3/auth/tokens", b"[" * 5000),
        ("/_emulator/faults", b'{"error_rate": '),
        ("/_emulator/faults", b"\xc3\x28"),  # an invalid two-byte UTF-8 sequence
        ("/_emulator/jobs/etl/script", b"[" * 5000),
    ],
)
def test_iam_and_admin_refuse_unreadable_bodies(emulator: EmulatorThread, path: str, body: bytes) -> None:
    answer = exchange(emulator, request("POST", path, {"Content-Type": "application/json"}, body))
    assert_json_error(answer, 400, "APIG.0201")
    assert emulator.state()["faults"]["error_rate"] == 0.0 and emulator.state()["scripts"] == {}


def test_non_utf8_bodies_are_refused_on_every_cdm_write(
    emulator: EmulatorThread, token: str, project: str, etl: str
) -> None:
    latin1 = '{"jobs": [{"name": "caf\xe9"}]}'.encode("latin-1")
    for method, target in [
        ("POST", f"{project}/clusters/{RUNNING_1}/cdm/job"),
        ("PUT", f"{project}{etl}"),
        ("PUT", f"{project}{etl}/start"),
        ("POST", f"{project}/clusters/job"),
    ]:
        answer = exchange(emulator, request(method, target, {"X-Auth-Token": token, "X-Language": "en"}, latin1))
        assert "not valid JSON" in assert_json_error(answer, 400, "APIG.0201")["error_msg"]
    assert emulator.stats()["starts"] == {}


def test_a_body_of_exactly_1_mib_is_read_and_one_byte_more_is_not(
    emulator: EmulatorThread, token: str, project: str
) -> None:
    target = f"{project}/clusters/{RUNNING_1}/cdm/job"
    at_limit = exchange(emulator, request("POST", target, {"X-Auth-Token": token}, b" " * (MAX_BODY_BYTES - 2) + b"{}"))
    assert_json_error(at_limit, 400, "APIG.0201")  # read and parsed: the wrong shape, not too large
    over = exchange(emulator, request("POST", target, {"X-Auth-Token": token}, b" " * (MAX_BODY_BYTES + 1)))
    assert_json_error(over, 413, "APIG.0201")
    assert over.closed


def test_huge_bodies_answer_413_without_being_read(emulator: EmulatorThread, token: str, project: str) -> None:
    target = f"{project}/clusters/{RUNNING_1}/cdm/job"
    # Announced (1 GiB) but never sent: answered at once, not waited for.
    began = time.monotonic()
    announced = exchange(emulator, request("POST", target, {"X-Auth-Token": token, "Content-Length": str(1 << 30)}))
    assert_json_error(announced, 413, "APIG.0201")
    assert announced.closed and time.monotonic() - began < 2
    # Sent in full (8 MiB, read and dropped so that the client gets the answer rather than a reset).
    drained = exchange(emulator, request("POST", target, {"X-Auth-Token": token}, b"x" * (8 << 20)))
    assert_json_error(drained, 413, "APIG.0201")
    # Streamed (256 MiB) while the server answers and hangs up: the sender is cut off, nobody hangs.
    with connect(emulator) as sock:
        sock.sendall(request("POST", target, {"X-Auth-Token": token, "Content-Length": str(256 << 20)}))
        chunk, sent = b"x" * (1 << 20), 0
        with pytest.raises((BrokenPipeError, ConnectionResetError)):  # long before the 256 MiB are out
            for _ in range(256):
                sent += sock.send(chunk)
        assert sent < 64 << 20
    assert emulator.stats()["requests"]["create_job"] == {"413": 3}
    assert emulator.state()["clusters"][0]["jobs"] == []


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({"Content-Length": "12abc"}, "invalid Content-Length"),
        ({"Content-Length": "-1"}, "invalid Content-Length"),
        ({"Transfer-Encoding": "chunked"}, "chunked request bodies are not supported"),
    ],
)
def test_unusable_body_framing_answers_400_and_closes(
    emulator: EmulatorThread, project: str, headers: dict[str, str], detail: str
) -> None:
    answer = exchange(emulator, request("POST", f"{project}/clusters/job", headers) + b"5\r\nhello\r\n0\r\n\r\n")
    assert detail in assert_json_error(answer, 400, "APIG.0201")["error_msg"]
    assert answer.closed  # the rest of the stream cannot be framed: the connection ends


# --- methods, request lines, paths --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PATCH", "OPTIONS", "POST", "TRACE", "get", "G@T", "DELETE\x7f", "X" * 4000])
def test_wrong_and_weird_methods_answer_apig_0101(
    emulator: EmulatorThread, token: str, project: str, method: str
) -> None:
    answer = exchange(emulator, request(method, f"{project}/clusters/{RUNNING_1}", {"X-Auth-Token": token}))
    assert_json_error(answer, 404, "APIG.0101")


def test_head_answers_headers_only(emulator: EmulatorThread, token: str, project: str) -> None:
    with connect(emulator) as sock, sock.makefile("rb") as stream:
        sock.sendall(request("HEAD", f"{project}/clusters", {"X-Auth-Token": token}))
        answer = read_answer(stream, head=True)
        assert answer.status == 404 and answer.body == b"" and int(answer.headers["content-length"]) > 0
        sock.sendall(request("GET", "/_emulator/state"))  # the same connection: no stray body in the stream
        assert read_answer(stream).status == 200


@pytest.mark.parametrize(
    ("line", "status", "code"),
    [
        # The base class answers these before it knows the version: HTTP/0.9 style, no status line.
        (b"GET / HTTP/9.9\r\n\r\n", None, "APIG.0201"),
        (b"\x00\x01\x02 garbage\r\n\r\n", None, "APIG.0201"),
        (b"GET / HTTP/1.1 trailing words\r\n\r\n", None, "APIG.0201"),
        (b"GET /\r\n\r\n", None, "APIG.0101"),  # an HTTP/0.9 request, for a path that does not exist
        (b"GET / HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 150 + b"\r\n", 431, "APIG.0201"),
        (b"GET / HTTP/1.1\r\nX-Long: " + b"v" * 70_000 + b"\r\n\r\n", 431, "APIG.0201"),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "APIG.0201"),
        (b"GET / HTTP/1.1\r\nno colon in this header line\r\n\r\n", 404, "APIG.0101"),
        (b"GET /\xe8\xae\xa2\xff HTTP/1.1\r\nConnection: close\r\n\r\n", 404, "APIG.0101"),
    ],
)
def test_malformed_request_lines_and_headers_answer_json(
    emulator: EmulatorThread, line: bytes, status: int | None, code: str
) -> None:
    assert_json_error(exchange(emulator, line), status, code)


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/clusters/%", 400, "Cdm.0001"),
        ("/clusters/%zz/cdm/job/%zz/status", 400, "Cdm.0001"),
        ("/clusters/{cluster}/cdm/job/%/status", 400, "Cdm.0100"),
        ("/clusters/{cluster}/cdm/job/%ff%fe%00/start", 400, "Cdm.0100"),
        ("/clusters/{cluster}/cdm/job/%2e%2e", 400, "Cdm.0100"),
        ("/clusters/{cluster}/cdm/job/a%2Fb/stop", 400, "Cdm.0100"),
        ("/clusters/{cluster}/cdm/job/../../../clusters", 404, "APIG.0101"),
        ("/clusters/..", 400, "Cdm.0001"),
        ("/clusters/{cluster}/cdm/job/" + "j" * 20_000 + "/status", 400, "Cdm.0100"),
        ("/clusters//cdm/job//status", 404, "APIG.0101"),
        ("/clusters/{cluster}/cdm/submissions?jname=%zz&page_no=%zz", 400, "APIG.0201"),
        ("/clusters/{cluster}/cdm/job/all?page_size=10&page_no=-1", 400, "APIG.0201"),
        ("/clusters/{cluster}/cdm/job/all?page_size=10&jobType=%zz", 400, "APIG.0201"),
        ("/clusters/{cluster}/cdm/job/all?page_size=10&filter=%ff%00%zz", 200, None),
    ],
)
def test_garbage_path_segments_are_answered_by_cdm_or_the_gateway(
    emulator: EmulatorThread, token: str, project: str, path: str, status: int, code: str | None
) -> None:
    answer = exchange(
        emulator,
        request(
            "GET" if "/start" not in path and "/stop" not in path else "PUT",
            project + path.format(cluster=RUNNING_1),
            {"X-Auth-Token": token},
        ),
    )
    if code is None:
        assert answer.status == status and "jobs" in answer.json()
    else:
        assert_json_error(answer, status, code)
    assert emulator.stats()["starts"] == {}


def test_garbage_paths_are_signed_and_verified_like_any_other(emulator: EmulatorThread, project: str) -> None:
    """The gateway's signature check canonicalises whatever path it gets (never a 500)."""
    ak, sk = emulator.connection["login"], emulator.connection["password"]
    for path in ["/clusters/%zz/cdm/job/%/status", f"/clusters/{RUNNING_1}/cdm/job/%ff%fe/status", "/clusters/%"]:
        target = project + path
        headers = signer.sign("GET", emulator.url + target, {"Content-Type": "application/json"}, b"", ak, sk)
        answer = exchange(emulator, request("GET", target, headers))
        assert answer.status == 400 and answer.json()["errCode"] in ("Cdm.0001", "Cdm.0100")
        tampered = {**headers, "Authorization": headers["Authorization"].replace("Signature=", "Signature=0")}
        assert_json_error(exchange(emulator, request("GET", target, tampered)), 401, "APIG.0301")


# --- missing and malformed headers --------------------------------------------------------------------------


def signed(emulator: EmulatorThread, target: str, body: bytes = b"", method: str = "GET") -> dict[str, str]:
    ak, sk = emulator.connection["login"], emulator.connection["password"]
    return signer.sign(method, emulator.url + target, {"Content-Type": "application/json"}, body, ak, sk)


@pytest.mark.parametrize(
    ("drop", "detail"),
    [
        ("Authorization", "x-auth-token not found"),
        ("X-Sdk-Date", "signed header(s) not sent: x-sdk-date"),
        ("Host", "signed header(s) not sent: host"),
        ("Content-Type", "signed header(s) not sent: content-type"),
    ],
)
def test_a_missing_header_is_an_auth_error(emulator: EmulatorThread, project: str, drop: str, detail: str) -> None:
    target = f"{project}/clusters"
    headers = {name: value for name, value in signed(emulator, target).items() if name.lower() != drop.lower()}
    answer = exchange(emulator, request("GET", target, headers))
    assert detail in assert_json_error(answer, 401, "APIG.0301")["error_msg"]


def test_requests_without_content_type_or_length_still_get_answers(
    emulator: EmulatorThread, token: str, project: str
) -> None:
    create = f"{project}/clusters/{RUNNING_1}/cdm/job"
    body = json.dumps({"jobs": [job_definition("typeless")]}).encode()
    typeless = exchange(emulator, request("POST", create, {"X-Auth-Token": token}, body))
    assert typeless.status == 200 and typeless.json() == {"name": "typeless", "validation-result": []}
    # No Content-Length: the body is not read as one; its bytes then fail as the next request line.
    with connect(emulator) as sock, sock.makefile("rb") as stream:
        sock.sendall(request("POST", create, {"X-Auth-Token": token}) + b'{"jobs": []}\r\n\r\n')
        assert "a JSON body is required" in assert_json_error(read_answer(stream), 400, "APIG.0201")["error_msg"]
        assert_json_error(read_answer(stream), None, "APIG.0201")
    assert emulator.stats()["creates"] == {"typeless": 1}


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "SDK-HMAC-SHA256",
        "SDK-HMAC-SHA256 Access=, SignedHeaders=, Signature=",
        "SDK-HMAC-SHA256 Access=EMULATORACCESSKEY000",
        "SDK-HMAC-SHA256 Access=EMULATORACCESSKEY000, SignedHeaders=host;x-sdk-date, Signature=zz-not-hex",
        "SDK-HMAC-SHA256 Access=EMULATORACCESSKEY000, SignedHeaders=HOST ; X-SDK-DATE, Signature=00",
        "SDK-HMAC-SHA256 Access=EMULATORACCESSKEY000, SignedHeaders=host;x-sdk-date;x-not-sent, Signature=00",
        "SDK-HMAC-SHA256 Access=EMULATORACCESSKEY000, SignedHeaders=, Signature=00",
        "Basic ZW11bGF0b3I6c2VjcmV0",
        "Bearer " + "t" * 8000,
        "SDK-HMAC-SHA256 Access=\xe9\xff, SignedHeaders=host, Signature=00",
        "SDK-HMAC-SHA256 Access=A,,,,,===,SignedHeaders===;;;,Signature",
    ],
)
def test_malformed_authorization_headers_are_refused(
    emulator: EmulatorThread, project: str, authorization: str
) -> None:
    target = f"{project}/clusters"
    headers = {**signed(emulator, target), "Authorization": authorization}
    assert_json_error(exchange(emulator, request("GET", target, headers)), 401, "APIG.0301")


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Sdk-Date", "yesterday"),
        ("X-Sdk-Date", "19700101T000000Z"),
        ("X-Sdk-Date", "99991231T235959Z"),
        ("X-Sdk-Date", "20261322T256161Z"),
    ],
)
def test_bad_dates_are_refused(emulator: EmulatorThread, project: str, header: str, value: str) -> None:
    target = f"{project}/clusters"
    headers = {**signed(emulator, target), header: value}
    assert_json_error(exchange(emulator, request("GET", target, headers)), 401, "APIG.0301")


@pytest.mark.parametrize("token_value", ["", "x", "\xff\xfe", "MII" + "A" * 20_000])
def test_garbage_tokens_answer_apig_1002(emulator: EmulatorThread, project: str, token_value: str) -> None:
    answer = exchange(emulator, request("GET", f"{project}/clusters", {"X-Auth-Token": token_value}))
    assert_json_error(answer, 401, "APIG.1002")


# --- half requests, HTTP/1.0, slow clients --------------------------------------------------------------------


def test_a_request_cut_short_is_never_acted_on(emulator: EmulatorThread, token: str, project: str, etl: str) -> None:
    start = f"{project}{etl}/start"
    # The body stops short of its Content-Length and the client half-closes: 400, nothing started.
    short_body = exchange(
        emulator, request("PUT", start, {"X-Auth-Token": token, "Content-Length": "50"}) + b'{"var', half_close=True
    )
    assert "ended after 5 of its 50 bytes" in assert_json_error(short_body, 400, "APIG.0201")["error_msg"]
    # The headers never end (no blank line): not a request at all.
    cut_headers = exchange(emulator, f"PUT {start} HTTP/1.1\r\nX-Auth-Token: {token}\r\n".encode(), half_close=True)
    assert "before the blank line" in assert_json_error(cut_headers, 400, "APIG.0201")["error_msg"]
    # The admin API alike: a cut request to reset resets nothing.
    SignedClient(emulator).cdm("PUT", f"{etl}/stop")  # (no run: refused, but counted)
    exchange(emulator, request("POST", "/_emulator/reset", {"Content-Length": "10"}) + b"{}", half_close=True)
    exchange(emulator, b"POST /_emulator/reset HTTP/1.1\r\nContent-Length: 0\r\n", half_close=True)
    assert emulator.state()["clusters"][0]["jobs"][0]["name"] == "etl"
    assert emulator.stats()["starts"] == {} and emulator.stats()["requests"]["stop_job"] == {"400": 1}


def test_clients_that_vanish_mid_request_do_not_disturb_the_server(
    emulator: EmulatorThread, token: str, project: str, etl: str
) -> None:
    start = f"{project}{etl}/start"
    pieces = [
        b"PU",
        f"PUT {start} HTTP/1.1\r\nX-Auth".encode(),
        request("PUT", start, {"X-Auth-Token": token, "Content-Length": "100"}) + b"{",
    ]
    for piece in pieces:
        with connect(emulator) as sock:  # sent, then reset (zero linger): no FIN, no answer read
            sock.sendall(piece)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    for piece in pieces:
        with connect(emulator) as sock:  # sent, then closed while the answer is on its way
            sock.sendall(piece)
    time.sleep(0.2)  # let the handler threads see the resets
    assert emulator.stats()["starts"] == {}


def test_http_1_0_without_keep_alive_is_answered_and_closed(emulator: EmulatorThread, token: str, project: str) -> None:
    with connect(emulator) as sock, sock.makefile("rb") as stream:
        sock.sendall(request("GET", f"{project}/clusters", {"X-Auth-Token": token}, version="HTTP/1.0"))
        answer = read_answer(stream)
        assert answer.status == 200 and answer.json()["clusters"]
        assert stream.read(1) == b""  # the server closed it: no keep-alive was asked for
    refused = exchange(emulator, request("GET", f"{project}/clusters", version="HTTP/1.0"))
    assert_json_error(refused, 401, "APIG.0301")


def test_the_server_has_a_socket_timeout() -> None:
    timeout = server_module._Handler.timeout
    assert isinstance(timeout, (int, float)) and 0 < timeout <= 300


def test_slow_clients_are_dropped_after_the_socket_timeout_and_block_nobody(
    emulator: EmulatorThread, token: str, project: str, etl: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module._Handler, "timeout", 0.5)  # the stdlib handler's socket timeout
    start = f"{project}{etl}/start"
    stalls = [
        f"PUT {start} HTTP/1.1\r\nX-Auth-Token: {token}\r\nX-Slow: ".encode(),  # headers never finished
        request("PUT", start, {"X-Auth-Token": token, "Content-Length": "40"}) + b'{"variables"',  # body stalls
        b"",  # connects, sends nothing
    ]
    sockets = [connect(emulator) for _ in stalls]
    try:
        for sock, data in zip(sockets, stalls, strict=True):
            sock.sendall(data)
        began = time.monotonic()
        # Meanwhile the server answers everyone else, at once.
        assert SignedClient(emulator).cdm("GET", "/clusters").status_code == 200
        assert time.monotonic() - began < 0.4
        for sock in sockets:  # each stalled connection is closed by the server, without an answer
            sock.settimeout(5)
            assert sock.recv(65536) == b""
        assert 0.3 <= time.monotonic() - began < 5  # dropped by the 0.5 s timeout, not at once
    finally:
        for sock in sockets:
            sock.close()
    assert emulator.stats()["starts"] == {}


# --- concurrency --------------------------------------------------------------------------------------------


def test_concurrent_starts_amid_garbage_make_exactly_one_run(
    emulator: EmulatorThread, token: str, project: str, etl: str
) -> None:
    emulator.script_job("etl", "STUCK")
    start = f"{project}{etl}/start"
    good = request("PUT", start, {"X-Auth-Token": token}, b'{"variables": {}}')
    garbage = [
        request("PUT", start, {"X-Auth-Token": token}, b'{"variables": '),
        request("PUT", start, {"X-Auth-Token": "made-up"}, b"{}"),
        request("PUT", start, {"X-Auth-Token": token, "Content-Length": "30"}) + b"{",
        request("BREW", start, {"X-Auth-Token": token}),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n",  # a TLS hello
    ]
    barrier = threading.Barrier(12 + len(garbage))
    outcomes: list[tuple[str, int | None, str | None]] = []
    lock = threading.Lock()

    def send(kind: str, data: bytes) -> None:
        barrier.wait()
        answer = exchange(emulator, data, half_close=kind == "garbage")
        body = answer.json()
        with lock:
            outcomes.append((kind, answer.status, body.get("errCode") or body.get("error_code")))

    threads = [threading.Thread(target=send, args=("start", good)) for _ in range(12)]
    threads += [threading.Thread(target=send, args=("garbage", data)) for data in garbage]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(READ_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads)
    starts = sorted((status, code) for kind, status, code in outcomes if kind == "start")
    assert starts == [(200, None)] + [(400, "Cdm.0052")] * 11
    assert all(status != 200 and code for kind, status, code in outcomes if kind == "garbage")
    assert len(outcomes) == 12 + len(garbage)
    assert emulator.stats()["starts"] == {"etl": 1}
