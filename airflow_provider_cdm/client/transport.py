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

Each attempt is logged at DEBUG (method, path, status, elapsed, attempt) with credential headers redacted:
an error answer is the caller's to word (a missing job may be what it expects), a transient one gets its
retry line at INFO, and throttling a line only when it lasts (:func:`retry_kwargs`);
bodies are never logged, and httpcore's DEBUG traces (which list whole header sets, IAM's token
answer included) have the same headers' values cut out. requests and tenacity are imported when the
first request is sent.

The pieces that do not depend on the HTTP library (request preparation, the per-call attempt
bookkeeping that decides about reconciliation, retry logging, the token-answer check and the log
lines) are module-level here and shared with the async transport
(:mod:`airflow_provider_cdm.client.async_transport`): the two differ only in I/O.
"""

from __future__ import annotations

import enum
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast
from urllib.parse import urlsplit

from airflow_provider_cdm import __version__
from airflow_provider_cdm.api.endpoints import JSON_CONTENT_TYPE, PROJECT_HEADER
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
from airflow_provider_cdm.client.models import Page
from airflow_provider_cdm.client.operations import CdmCall, PageWalk
from airflow_provider_cdm.client.reconcile import Probe
from airflow_provider_cdm.client.retry import (
    AttemptFailure,
    RetryPolicy,
    is_throttled,
    is_transient_status,
    parse_retry_after,
)
from airflow_provider_cdm.client.settings import CdmSettings

if TYPE_CHECKING:
    import requests
    from tenacity import RetryCallState

    from airflow_provider_cdm.client.rate_limit import BlockingCallLimiter

T = TypeVar("T")

log = logging.getLogger(__name__)

REDACTED = "***"
# Request headers that carry a credential, and X-Subject-Token: the IAM token in IAM's answer.
SECRET_HEADERS = frozenset({"authorization", "x-auth-token", "x-security-token", "x-subject-token"})
USER_AGENT = f"airflow-provider-cdm/{__version__}"
# The User-Agent comment names the transport, so CDM-side (and emulator) statistics can tell the calls of
# workers (sync) from those of triggerers (async) apart.
SYNC_USER_AGENT = f"{USER_AGENT} (sync)"
ASYNC_USER_AGENT = f"{USER_AGENT} (async)"
REASON_CHARS = 300


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers fit for a log line."""
    return {name: REDACTED if name.lower() in SECRET_HEADERS else value for name, value in headers.items()}


# httpcore's DEBUG trace repeats whole header lists, e.g. ``(b'X-Subject-Token', b'<token>')`` of an IAM
# answer, before any code of ours could mask the token: the values of SECRET_HEADERS are cut out there.
_TRACED_SECRET = re.compile(
    r"(?P<head>\(b(?P<q0>['\"])(?:" + "|".join(sorted(SECRET_HEADERS)) + r")(?P=q0), b)(?P<q>['\"]).*?(?<!\\)(?P=q)\)",
    re.IGNORECASE,
)
_HTTPCORE_LOGGERS = ("httpcore.http11", "httpcore.http2", "httpcore.connection", "httpcore.proxy", "httpcore.socks")


class _TracedHeadersFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _TRACED_SECRET.sub(lambda found: f"{found['head']}{found['q']}{REDACTED}{found['q']})", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_TRACED_HEADERS_FILTER = _TracedHeadersFilter()
for _name in _HTTPCORE_LOGGERS:  # idempotent: a logger holds a filter once
    logging.getLogger(_name).addFilter(_TRACED_HEADERS_FILTER)


# --- shared by the sync and the async transport -------------------------------------------------


def unsigned_request(settings: CdmSettings, call: CdmCall[Any]) -> tuple[str, HttpRequest]:
    """The escaped path (for logs and errors) and the request of ``call`` before authentication."""
    path = call.path(settings.project_id)
    url = settings.endpoint + call.target(settings.project_id)
    headers = {"Content-Type": JSON_CONTENT_TYPE, PROJECT_HEADER: settings.project_id, **call.headers}
    return path, HttpRequest(call.method, url, headers, call.body_bytes())


class CallAttempts(Generic[T]):
    """The bookkeeping of one send of a call across its attempts; both transports consult it alike.

    Per attempt a transport calls :meth:`start` (and drives the probes it returns: their outcome, if
    any, is the result), sends, and on an :class:`AttemptFailure` drives the probes of
    :meth:`on_failure` (an outcome replaces the failure), then marks the failure with
    :meth:`classify` and re-raises it to the retry loop.
    """

    def __init__(self, call: CdmCall[T], clock: ServerClock) -> None:
        self.call = call
        self.reconciler = call.reconciler() if call.reconciler else None
        self.record = AttemptRecord(clock)
        self.number = 0
        self._ambiguous = False

    def start(self) -> Probe[T] | None:
        """Count one more attempt; the probes to run before sending it (None: just send)."""
        self.number += 1
        if self._ambiguous and self.reconciler is not None:
            return self.reconciler.before_resend(self.record)
        return None

    def on_failure(self, failure: AttemptFailure) -> Probe[T] | None:
        """The probes to run after a failed re-send: whether the refusal is the lost attempt's doing."""
        if self._ambiguous and self.reconciler is not None:
            return self.reconciler.on_error(failure.error, self.record)
        return None

    def classify(self, failure: AttemptFailure) -> None:
        """After an ambiguous failure, a call not safe to repeat is retried only with a reconciler."""
        if failure.ambiguous and not self.call.endpoint.idempotent:
            self._ambiguous = True
            failure.retryable = failure.retryable and self.reconciler is not None


THROTTLED_LOG_INTERVAL_S = 60.0  # while CDM throttles one call, a line at INFO at most this often


def _spent(state: RetryCallState) -> float:
    """Seconds since the call's first attempt (idle_for counts the waits an injected sleep did not spend)."""
    return max(state.seconds_since_start or 0.0, state.idle_for)


def retry_kwargs(policy: RetryPolicy, method: str, path: str) -> dict[str, Any]:
    """``tenacity.Retrying`` / ``AsyncRetrying`` keyword arguments that log each retry.

    Throttling is pacing, not news: under quota pressure every call of every task may be answered 429 a
    few times. Each throttled attempt is logged at DEBUG, and so is the answer that ends it, unless the
    throttling lasted: then a line at INFO about once a minute while it does (with the time it has cost
    so far), and one when CDM answers at last. Any other transient failure gets one INFO line per retry.
    """
    throttled_attempts = 0
    throttled_from: float | None = None  # when this call was first answered 429 (seconds since its start)
    told_at: float | None = None  # when a throttling line last went out at INFO

    def before_sleep(state: RetryCallState) -> None:
        nonlocal throttled_attempts, throttled_from, told_at
        failure = state.outcome.exception() if state.outcome else None
        pause = state.next_action.sleep if state.next_action else 0.0
        spent = _spent(state)
        if is_throttled(failure):
            throttled_attempts += 1
            throttled_from = spent if throttled_from is None else throttled_from
            level = logging.DEBUG
            if spent - (told_at if told_at is not None else throttled_from) >= THROTTLED_LOG_INTERVAL_S:
                level, told_at = logging.INFO, spent
            log.log(
                level,
                "CDM %s %s: throttled by CDM's API quota (attempt %d, %.0f s so far, trying for up to %.0f s); "
                "retrying in %.1f s",
                method,
                path,
                state.attempt_number,
                spent,
                policy.budget_s(throttled=True),
                pause,
            )
            return
        log.info(
            "CDM %s %s failed (attempt %d of at most %d): %s; retrying in %.1f s",
            method,
            path,
            state.attempt_number,
            policy.max_attempts,
            failure,
            pause,
        )

    kwargs = policy.tenacity_kwargs(before_sleep=before_sleep)
    should_retry = kwargs["retry"]

    def retry(state: RetryCallState) -> bool:
        """The policy's decision (tenacity asks after every attempt, the last successful one too)."""
        decision = bool(should_retry(state))
        if not decision and throttled_attempts and state.outcome is not None and not state.outcome.failed:
            summarize(state)
        return decision

    def summarize(state: RetryCallState) -> None:
        """The summary of a throttled call that got its answer: INFO when its throttling was told at INFO."""
        log.log(
            logging.INFO if told_at is not None else logging.DEBUG,
            "CDM %s %s: answered after %d throttled attempt%s (%.0f s)",
            method,
            path,
            throttled_attempts,
            "" if throttled_attempts == 1 else "s",
            _spent(state),
        )

    return {**kwargs, "retry": retry}


def check_token_answer(response: HttpResponse, request: HttpRequest, path: str) -> HttpResponse:
    """An IAM token answer to hand to the auth object; a transient one (5xx, 429) as a retryable failure."""
    if is_transient_status(response.status):
        raise http_failure(response, request.method, path)
    return response


class NoAnswer(enum.Enum):
    """Why an exchange got no HTTP answer; each transport maps its library's exceptions onto these."""

    TLS = "tls"  # certificate or handshake failure: retrying does not help
    NOT_CONNECTED = "not_connected"  # the request certainly did not leave (connect failure or timeout)
    TIMED_OUT = "timed_out"  # sent, no answer within the read timeout: CDM may have acted
    LOST = "lost"  # the connection broke after sending: CDM may have acted
    OTHER = "other"  # anything else (a bug, an unusable URL): not retried


def no_answer_failure(
    kind: NoAnswer, err: BaseException, method: str, path: str, settings: CdmSettings
) -> AttemptFailure:
    """The classified failure of an exchange that got no HTTP answer."""
    reason = str(err)[:REASON_CHARS]
    if kind is NoAnswer.TLS:
        return transport_failure(
            f"TLS failure talking to CDM (check 'verify'): {reason}", method, path, retryable=False
        )
    if kind is NoAnswer.NOT_CONNECTED:
        return transport_failure(f"Could not connect to CDM: {reason}", method, path, retryable=True)
    if kind is NoAnswer.TIMED_OUT:
        message = f"No answer from CDM within {settings.read_timeout_s:g} s"
        return transport_failure(message, method, path, retryable=True, ambiguous=True)
    if kind is NoAnswer.LOST:
        return transport_failure(f"Connection to CDM lost: {reason}", method, path, retryable=True, ambiguous=True)
    return transport_failure(f"Request to CDM failed: {reason}", method, path, retryable=False)


def log_sending(request: HttpRequest, path: str, attempt: int) -> None:
    log.debug("CDM %s %s (attempt %d) headers=%s", request.method, path, attempt, redact_headers(request.headers))


def log_no_answer(method: str, path: str, started: float, attempt: int, err: BaseException) -> None:
    """DEBUG: a retry says so at INFO (retry_kwargs), a call that gives up raises it."""
    elapsed_ms = (time.monotonic() - started) * 1000
    log.debug("CDM %s %s failed after %.0f ms (attempt %d): %s", method, path, elapsed_ms, attempt, type(err).__name__)


def log_answer(method: str, path: str, status: int, started: float, attempt: int) -> None:
    """DEBUG, whatever the status: an error answer is raised to its caller, which knows whether it is news
    (a 404 of a job that a clean-up expects gone is not), and a retry says so at INFO (retry_kwargs)."""
    elapsed_ms = (time.monotonic() - started) * 1000
    log.debug("CDM %s %s -> HTTP %d in %.0f ms (attempt %d)", method, path, status, elapsed_ms, attempt)


class SyncTransport:
    """Sends request specs for one hook; not for use by several threads at once."""

    def __init__(
        self,
        settings: CdmSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        token_cache: TokenCache = TOKEN_CACHE,
        on_token: Callable[[str], None] | None = None,
        limiter: BlockingCallLimiter | None = None,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._limiter = limiter
        self._auth = build_auth(settings, fetch=self._fetch_token, cache=token_cache, on_token=on_token)
        self._session: requests.Session | None = None
        self._server_clock = ServerClock()

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.headers["User-Agent"] = SYNC_USER_AGENT
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def iter_pages(self, page_call: Callable[[int], CdmCall[Page[T]]], page_size: int) -> Iterator[T]:
        """Every item of a listing, page by page as they are consumed (stop rules in PageWalk)."""
        walk = PageWalk(page_call, page_size)
        while (call := walk.next_call()) is not None:
            yield from walk.take(self.execute(call))

    def execute(self, call: CdmCall[T]) -> T:
        """Send ``call`` (with retries and, for calls not safe to repeat, reconciliation); its parsed answer."""
        attempts = CallAttempts(call, self._server_clock)

        def attempt() -> T:
            adopted = self._drive(attempts.start())
            if adopted is not None:
                return adopted
            try:
                return self._send_call(call, attempts.number, attempts.record)
            except AttemptFailure as failure:
                resolved = self._drive(attempts.on_failure(failure))
                if resolved is not None:
                    return resolved
                attempts.classify(failure)
                raise

        return self._retrying(attempt, call.method, call.path(self._settings.project_id))

    def _retrying(self, attempt: Callable[[], T], method: str, path: str) -> T:
        import tenacity

        retrying = tenacity.Retrying(sleep=self._sleep, **retry_kwargs(self._settings.retry, method, path))
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
        path, request = unsigned_request(self._settings, call)
        if self._limiter is not None:  # before signing: a long wait must not make X-Sdk-Date stale
            self._limiter.acquire_blocking(call.endpoint, self._sleep)
        sent = self._sign(request)
        record.mark_sent()
        response = self._exchange(sent, path, attempt)
        if response.status == 401 and self._auth.refresh(sent.headers):
            log.info("CDM %s %s: token refused, fetching a new one", call.method, path)
            sent = self._sign(request)  # not paced again (see the async transport)
            response = self._exchange(sent, path, attempt)
        if response.status == 429 and self._limiter is not None:
            self._limiter.throttled(call.endpoint, parse_retry_after(response.headers.get("retry-after")))
        return read_answer(call, response, path)

    def _sign(self, request: HttpRequest) -> HttpRequest:
        headers = self._auth.apply(request.method, request.url, request.headers, request.body)
        return HttpRequest(request.method, request.url, headers, request.body)

    def _fetch_token(self, request: HttpRequest) -> HttpResponse:
        """Send the IAM token request with retries on transient failures; any final answer is returned."""
        path = urlsplit(request.url).path
        attempts = 0

        def attempt() -> HttpResponse:
            nonlocal attempts
            attempts += 1
            return check_token_answer(self._exchange(request, path, attempts), request, path)

        return self._retrying(attempt, request.method, path)

    def _exchange(self, request: HttpRequest, path: str, attempt: int) -> HttpResponse:
        """One HTTP round trip; transport failures become classified :class:`AttemptFailure`."""
        import requests

        settings = self._settings
        log_sending(request, path, attempt)
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
            log_no_answer(request.method, path, started, attempt, err)
            raise self._transport_failure(err, request.method, path) from err
        self._server_clock.observe(answer.headers.get("Date"))
        log_answer(request.method, path, answer.status_code, started, attempt)
        return HttpResponse(answer.status_code, {name.lower(): value for name, value in answer.headers.items()}, body)

    def _transport_failure(self, err: Exception, method: str, path: str) -> AttemptFailure:
        return no_answer_failure(_no_answer_kind(err), err, method, path, self._settings)


def _no_answer_kind(err: Exception) -> NoAnswer:
    import requests

    if isinstance(err, requests.exceptions.SSLError):
        return NoAnswer.TLS
    if isinstance(err, requests.exceptions.ConnectTimeout) or _never_connected(err):
        return NoAnswer.NOT_CONNECTED
    if isinstance(err, requests.exceptions.ReadTimeout):
        return NoAnswer.TIMED_OUT
    if isinstance(
        err,
        (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ),
    ):
        return NoAnswer.LOST
    return NoAnswer.OTHER


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
