"""The sync transport: sends :class:`CdmCall` specs over one keep-alive ``requests.Session``.

Every request carries ``Content-Type: application/json;charset=UTF-8`` and ``X-Project-Id``, is
authenticated by the settings' auth strategy, and honours their timeouts, TLS verification and proxies.

Which calls are safe to repeat comes from ``Endpoint.idempotent``:

* safe (list/show clusters, show/list jobs, status, run history, update, stop, delete, IAM token):
  retried on every transient failure (connection error, timeout, unreadable answer, 5xx, 429);
* not safe (create, start, create-and-execute): re-sent freely only when the request certainly did not
  reach CDM (the connection could not be opened, HTTP 429). After an ambiguous failure (read timeout,
  connection dropped after sending, 5xx, unreadable 200 answer) the call's reconciler decides before
  any re-send (rules in :mod:`airflow_provider_cdm.client.reconcile`).

A 401 to a request sent with a refreshable credential (password-fetched IAM token) drops the token and
sends the request once more with a fresh one; the gateway refused the first, so this is safe for every
call. A second 401 raises :class:`CdmAuthError`.

Each attempt is logged (method, path, status, elapsed, attempt) with credential headers redacted;
bodies are never logged. requests and tenacity are imported when the first request is sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

from airflow_provider_cdm import __version__
from airflow_provider_cdm.api.endpoints import PROJECT_HEADER
from airflow_provider_cdm.client.answers import (
    AttemptRecord,
    HttpRequest,
    HttpResponse,
    ServerClock,
    http_failure,
    read_answer,
    transport_failure,
)
from airflow_provider_cdm.client.auth import TOKEN_CACHE, TokenCache, build_auth
from airflow_provider_cdm.client.exceptions import CdmApiError
from airflow_provider_cdm.client.operations import JSON_CONTENT_TYPE, CdmCall
from airflow_provider_cdm.client.reconcile import Probe
from airflow_provider_cdm.client.retry import AttemptFailure, is_transient_status
from airflow_provider_cdm.client.settings import CdmSettings

if TYPE_CHECKING:
    import requests
    from tenacity import RetryCallState

T = TypeVar("T")

log = logging.getLogger(__name__)

REDACTED = "***"
SECRET_HEADERS = frozenset({"authorization", "x-auth-token", "x-security-token"})
_REASON_CHARS = 300


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers fit for a log line."""
    return {name: REDACTED if name.lower() in SECRET_HEADERS else value for name, value in headers.items()}


class SyncTransport:
    """Sends request specs for one hook; not for use by several threads at once."""

    def __init__(
        self,
        settings: CdmSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        token_cache: TokenCache = TOKEN_CACHE,
        on_token: Callable[[str], None] | None = None,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._auth = build_auth(settings, fetch=self._fetch_token, cache=token_cache, on_token=on_token)
        self._session: requests.Session | None = None
        self._server_clock = ServerClock()

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.headers["User-Agent"] = f"airflow-provider-cdm/{__version__}"
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def execute(self, call: CdmCall[T]) -> T:
        """Send ``call`` (with retries and, for calls not safe to repeat, reconciliation); its parsed answer."""
        reconciler = call.reconciler() if call.reconciler else None
        record = AttemptRecord(self._server_clock)
        ambiguous = False
        attempts = 0

        def attempt() -> T:
            nonlocal ambiguous, attempts
            attempts += 1
            if ambiguous and reconciler is not None:
                adopted = self._drive(reconciler.before_resend(record))
                if adopted is not None:
                    return adopted
            try:
                return self._send_call(call, attempts, record)
            except AttemptFailure as failure:
                if ambiguous and reconciler is not None:
                    resolved = self._drive(reconciler.on_error(failure.error, record))
                    if resolved is not None:
                        return resolved
                if failure.ambiguous and not call.endpoint.idempotent:
                    ambiguous = True
                    failure.retryable = failure.retryable and reconciler is not None
                raise

        return self._retrying(attempt, call.method, call.path(self._settings.project_id))

    def _retrying(self, attempt: Callable[[], T], method: str, path: str) -> T:
        import tenacity

        policy = self._settings.retry

        def before_sleep(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome else None
            log.info(
                "CDM %s %s failed (attempt %d of at most %d): %s; retrying in %.1f s",
                method,
                path,
                state.attempt_number,
                policy.max_attempts,
                failure,
                state.next_action.sleep if state.next_action else 0.0,
            )

        retrying = tenacity.Retrying(sleep=self._sleep, **policy.tenacity_kwargs(before_sleep=before_sleep))
        try:
            return retrying(attempt)
        except AttemptFailure as failure:
            raise failure.error from failure.__cause__

    def _drive(self, probe: Probe[T] | None) -> T | None:
        """Run a reconciler's probe: send each call it yields, hand back results or errors."""
        if probe is None:
            return None
        try:
            call = next(probe)
            while True:
                try:
                    result = self.execute(call)
                except CdmApiError as error:
                    call = probe.throw(error)
                else:
                    call = probe.send(result)
        except StopIteration as stop:
            return cast("T | None", stop.value)

    def _send_call(self, call: CdmCall[T], attempt: int, record: AttemptRecord) -> T:
        settings = self._settings
        path = call.path(settings.project_id)
        url = settings.endpoint + call.target(settings.project_id)
        body = call.body_bytes()
        headers = {"Content-Type": JSON_CONTENT_TYPE, PROJECT_HEADER: settings.project_id, **call.headers}
        sent = self._auth.apply(call.method, url, headers, body)
        record.mark_sent()
        response = self._exchange(HttpRequest(call.method, url, sent, body), path, attempt)
        if response.status == 401 and self._auth.refresh(sent):
            log.info("CDM %s %s: token refused, fetching a new one", call.method, path)
            sent = self._auth.apply(call.method, url, headers, body)
            response = self._exchange(HttpRequest(call.method, url, sent, body), path, attempt)
        return read_answer(call, response, path)

    def _fetch_token(self, request: HttpRequest) -> HttpResponse:
        """Send the IAM token request with retries on transient failures; any final answer is returned."""
        path = urlsplit(request.url).path
        attempts = 0

        def attempt() -> HttpResponse:
            nonlocal attempts
            attempts += 1
            response = self._exchange(request, path, attempts)
            if is_transient_status(response.status):
                raise http_failure(response, request.method, path)
            return response

        return self._retrying(attempt, request.method, path)

    def _exchange(self, request: HttpRequest, path: str, attempt: int) -> HttpResponse:
        """One HTTP round trip; transport failures become classified :class:`AttemptFailure`."""
        import requests

        settings = self._settings
        log.debug("CDM %s %s (attempt %d) headers=%s", request.method, path, attempt, redact_headers(request.headers))
        started = time.monotonic()
        try:
            answer = self.session.request(
                request.method,
                request.url,
                data=request.body or None,
                headers=dict(request.headers),
                timeout=settings.timeout,
                verify=settings.verify,
                proxies=dict(settings.proxies) or None,
                allow_redirects=False,
            )
            body = answer.content
        except requests.RequestException as err:
            elapsed_ms = (time.monotonic() - started) * 1000
            log.info(
                "CDM %s %s failed after %.0f ms (attempt %d): %s",
                request.method,
                path,
                elapsed_ms,
                attempt,
                type(err).__name__,
            )
            raise self._transport_failure(err, request.method, path) from err
        elapsed_ms = (time.monotonic() - started) * 1000
        self._server_clock.observe(answer.headers.get("Date"))
        level = logging.DEBUG if answer.status_code < 400 else logging.INFO
        log.log(
            level,
            "CDM %s %s -> HTTP %d in %.0f ms (attempt %d)",
            request.method,
            path,
            answer.status_code,
            elapsed_ms,
            attempt,
        )
        return HttpResponse(answer.status_code, {name.lower(): value for name, value in answer.headers.items()}, body)

    def _transport_failure(self, err: Exception, method: str, path: str) -> AttemptFailure:
        import requests

        reason = str(err)[:_REASON_CHARS]
        if isinstance(err, requests.exceptions.SSLError):
            return transport_failure(
                f"TLS failure talking to CDM (check 'verify'): {reason}", method, path, retryable=False
            )
        if isinstance(err, requests.exceptions.ConnectTimeout) or _never_connected(err):
            return transport_failure(f"Could not connect to CDM: {reason}", method, path, retryable=True)
        if isinstance(err, requests.exceptions.ReadTimeout):
            message = f"No answer from CDM within {self._settings.read_timeout_s:g} s"
            return transport_failure(message, method, path, retryable=True, ambiguous=True)
        if isinstance(
            err,
            (
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ),
        ):
            return transport_failure(f"Connection to CDM lost: {reason}", method, path, retryable=True, ambiguous=True)
        return transport_failure(f"Request to CDM failed: {reason}", method, path, retryable=False)


def _never_connected(err: BaseException) -> bool:
    """Whether the failure happened while opening the connection, so the request was never sent."""
    from urllib3.exceptions import ConnectTimeoutError  # NewConnectionError (refused, DNS) derives from it

    seen: set[int] = set()
    pending: list[Any] = [err]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ConnectTimeoutError):
            return True
        pending.extend([*item.args, getattr(item, "reason", None), item.__cause__, item.__context__])
    return False
