"""The async transport: sends the same :class:`CdmCall` specs as the sync one, over ``httpx.AsyncClient``.

Everything but the I/O is shared with :mod:`airflow_provider_cdm.client.transport`: the request
preparation, the auth objects (AK/SK signing is CPU-only; an IAM password token is fetched through this
transport and kept in the process-wide token cache), the retry policy (``tenacity.AsyncRetrying`` with
the same keyword arguments, so a 503 or a 429 is retried and ``Retry-After`` honoured), the answer
reading (:mod:`airflow_provider_cdm.client.answers`) and the reconcilers (their probes are driven with
``await``). One keep-alive client per transport; close it with :meth:`AsyncTransport.aclose`.

Nothing here blocks the event loop: httpx is imported and the client (whose TLS context loads CA
files) is built in a worker thread; sleeping is ``asyncio.sleep``. :func:`aload_settings` reads the
Airflow connection without blocking either, on Airflow 2.11 and 3.x.

httpx, tenacity and Airflow's compat module are imported when first needed.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

from airflow_provider_cdm.client.answers import (
    AttemptRecord,
    HttpRequest,
    HttpResponse,
    ServerClock,
    read_answer,
)
from airflow_provider_cdm.client.auth import TOKEN_CACHE, TokenCache, build_auth
from airflow_provider_cdm.client.exceptions import CdmApiError
from airflow_provider_cdm.client.models import Page
from airflow_provider_cdm.client.operations import CdmCall, PageWalk
from airflow_provider_cdm.client.reconcile import Probe
from airflow_provider_cdm.client.retry import AttemptFailure, parse_retry_after
from airflow_provider_cdm.client.settings import CdmSettings, settings_keywords
from airflow_provider_cdm.client.transport import (
    ASYNC_USER_AGENT,
    CallAttempts,
    NoAnswer,
    check_token_answer,
    log_answer,
    log_no_answer,
    log_sending,
    no_answer_failure,
    retry_kwargs,
    unsigned_request,
)

if TYPE_CHECKING:
    import httpx
    from typing_extensions import Self

    from airflow_provider_cdm.client.rate_limit import CallLimiter

T = TypeVar("T")

log = logging.getLogger(__name__)

TokenCallback = Callable[[str], object]  # may return an awaitable, which is awaited


class AsyncTransport:
    """Sends request specs from coroutines of one event loop; the twin of ``SyncTransport``.

    ``sleep`` replaces ``asyncio.sleep`` between retries (tests); ``on_token`` is called (and awaited
    when it returns an awaitable) with each IAM token this transport fetches, e.g. to mask it in logs.
    ``limiter`` (:mod:`airflow_provider_cdm.client.rate_limit`) paces every attempt of a call to an
    endpoint with a quota, retries included, and hears about each 429.
    """

    def __init__(
        self,
        settings: CdmSettings,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        token_cache: TokenCache = TOKEN_CACHE,
        on_token: TokenCallback | None = None,
        limiter: CallLimiter | None = None,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._on_token = on_token
        self._limiter = limiter
        self._new_tokens: list[str] = []
        self._auth = build_auth(settings, afetch=self._fetch_token, cache=token_cache, on_token=self._new_tokens.append)
        self._client: httpx.AsyncClient | None = None
        self._client_lock = asyncio.Lock()
        self._server_clock = ServerClock()

    @property
    def settings(self) -> CdmSettings:
        return self._settings

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def client(self) -> httpx.AsyncClient:
        """The keep-alive client, built on first use in a worker thread (loading CA files blocks)."""
        async with self._client_lock:  # concurrent first calls build one client
            if self._client is None:
                self._client = await asyncio.to_thread(_build_client, self._settings)
            return self._client

    async def aclose(self) -> None:
        """Close the client (a later call opens a new one)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def execute(self, call: CdmCall[T]) -> T:
        """Send ``call`` (with retries and, for calls not safe to repeat, reconciliation); its parsed answer."""
        attempts = CallAttempts(call, self._server_clock)

        async def attempt() -> T:
            adopted = await self._drive(attempts.start())
            if adopted is not None:
                return adopted
            try:
                return await self._send_call(call, attempts.number, attempts.record)
            except AttemptFailure as failure:
                resolved = await self._drive(attempts.on_failure(failure))
                if resolved is not None:
                    return resolved
                attempts.classify(failure)
                raise

        return await self._retrying(attempt, call.method, call.path(self._settings.project_id))

    async def iter_pages(self, page_call: Callable[[int], CdmCall[Page[T]]], page_size: int) -> AsyncGenerator[T, None]:
        """Every item of a listing, page by page as they are consumed (the same stop rules as the hook)."""
        walk = PageWalk(page_call, page_size)
        while (call := walk.next_call()) is not None:
            for item in walk.take(await self.execute(call)):
                yield item

    async def _retrying(self, attempt: Callable[[], Awaitable[T]], method: str, path: str) -> T:
        import tenacity

        retrying = tenacity.AsyncRetrying(
            sleep=self._sleep or asyncio.sleep, **retry_kwargs(self._settings.retry, method, path)
        )
        try:
            return cast("T", await retrying(attempt))
        except AttemptFailure as failure:
            raise failure.error from failure.__cause__

    async def _drive(self, probe: Probe[T] | None) -> T | None:
        """Run a reconciler's probe: send each call it yields, hand back results or errors."""
        if probe is None:
            return None
        try:
            call = next(probe)
            while True:
                try:
                    result = await self.execute(call)
                except CdmApiError as error:
                    call = probe.throw(error)
                else:
                    call = probe.send(result)
        except StopIteration as stop:
            return cast("T | None", stop.value)

    async def _send_call(self, call: CdmCall[T], attempt: int, record: AttemptRecord) -> T:
        path, request = unsigned_request(self._settings, call)
        await self._pace(call)  # before signing: a long wait must not make X-Sdk-Date stale
        sent = await self._sign(request)
        record.mark_sent()
        response = await self._exchange(sent, path, attempt)
        if response.status == 401 and self._auth.refresh(sent.headers):
            log.info("CDM %s %s: token refused, fetching a new one", call.method, path)
            # Not paced again: the gateway refused the request before counting it against the quota,
            # and a wait here would let the fresh token go stale (revoked) before it is used.
            sent = await self._sign(request)
            response = await self._exchange(sent, path, attempt)
        if response.status == 429 and self._limiter is not None:
            self._limiter.throttled(call.endpoint, parse_retry_after(response.headers.get("retry-after")))
        return read_answer(call, response, path)

    async def _pace(self, call: CdmCall[Any]) -> None:
        if self._limiter is not None:
            await self._limiter.acquire(call.endpoint)

    async def _sign(self, request: HttpRequest) -> HttpRequest:
        headers = await self._auth.aapply(request.method, request.url, request.headers, request.body)
        while self._new_tokens:
            token = self._new_tokens.pop(0)
            if self._on_token is not None:
                outcome = self._on_token(token)
                if inspect.isawaitable(outcome):
                    await outcome
        return HttpRequest(request.method, request.url, headers, request.body)

    async def _fetch_token(self, request: HttpRequest) -> HttpResponse:
        """Send the IAM token request with retries on transient failures; any final answer is returned."""
        path = urlsplit(request.url).path
        attempts = 0

        async def attempt() -> HttpResponse:
            nonlocal attempts
            attempts += 1
            return check_token_answer(await self._exchange(request, path, attempts), request, path)

        return await self._retrying(attempt, request.method, path)

    async def _exchange(self, request: HttpRequest, path: str, attempt: int) -> HttpResponse:
        """One HTTP round trip; transport failures become classified :class:`AttemptFailure`."""
        import httpx

        client = await self.client()
        log_sending(request, path, attempt)
        started = time.monotonic()
        try:
            answer = await client.request(
                request.method, request.url, content=request.body or None, headers=dict(request.headers)
            )
        except (httpx.HTTPError, httpx.InvalidURL) as err:
            log_no_answer(request.method, path, started, attempt, err)
            raise no_answer_failure(_no_answer_kind(err), err, request.method, path, self._settings) from err
        self._server_clock.observe(answer.headers.get("Date"))
        log_answer(request.method, path, answer.status_code, started, attempt)
        headers = {name.lower(): value for name, value in answer.headers.items()}
        return HttpResponse(answer.status_code, headers, answer.content)


def _build_client(settings: CdmSettings) -> httpx.AsyncClient:
    """The client for ``settings`` (run in a worker thread: importing httpx and loading CA files block)."""
    import ssl

    import httpx

    # A CA bundle path becomes an SSL context (httpx 0.28 deprecates paths).
    verify = ssl.create_default_context(cafile=settings.verify) if isinstance(settings.verify, str) else settings.verify
    timeout = httpx.Timeout(
        connect=settings.connect_timeout_s,
        read=settings.read_timeout_s,
        write=settings.read_timeout_s,
        pool=settings.connect_timeout_s,
    )
    # requests-style proxies ({"https": url, "all": url, "https://host": url}) as httpx mounts.
    mounts = {
        (key if "://" in key else f"{key}://"): httpx.AsyncHTTPTransport(proxy=url, verify=verify)
        for key, url in settings.proxies.items()
    }
    return httpx.AsyncClient(
        verify=verify,
        timeout=timeout,
        mounts=mounts or None,
        headers={"User-Agent": ASYNC_USER_AGENT},
        follow_redirects=False,
    )


def _no_answer_kind(err: Exception) -> NoAnswer:
    import ssl

    import httpx

    if _caused_by(err, ssl.SSLError):
        return NoAnswer.TLS
    if isinstance(err, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)):
        return NoAnswer.NOT_CONNECTED
    if isinstance(err, httpx.ReadTimeout):
        return NoAnswer.TIMED_OUT
    if isinstance(err, (httpx.WriteTimeout, httpx.NetworkError, httpx.RemoteProtocolError, httpx.DecodingError)):
        return NoAnswer.LOST
    return NoAnswer.OTHER


def _caused_by(err: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    pending: list[BaseException | None] = [err]
    while pending:
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, kind):
            return True
        pending.extend([item.__cause__, item.__context__])
    return False


# --- settings from an Airflow connection, without blocking the event loop --------------------------


@dataclass(frozen=True)
class _FetchedConnection:
    """The fields :meth:`CdmSettings.from_connection` reads, with the extra already decoded (and masked)."""

    host: str | None
    port: int | None
    login: str | None = field(repr=False)
    password: str | None = field(repr=False)
    extra_dejson: dict[str, Any] = field(repr=False)


async def aload_settings(conn_id: str, *, hook: Any = None, **overrides: Any) -> CdmSettings:
    """Checked settings from connection ``conn_id`` plus ``overrides`` (the ``CdmHook`` keywords).

    The async counterpart of ``CdmHook.settings``: the connection comes from the common-compat
    ``get_async_connection`` and its extra from ``get_async_extra_dejson`` (both mask the secrets and
    never block the event loop, on Airflow 2.11 and 3.x); the same ``CdmSettings.from_connection``
    builds the settings. ``hook`` (a hook class or instance) is the one whose connection lookup to use.
    """
    from airflow.providers.common.compat.connection import get_async_connection

    from airflow_provider_cdm._compat import aextra_dejson

    conn = await get_async_connection(conn_id, hook)
    extra = await aextra_dejson(conn)
    fetched = _FetchedConnection(conn.host, conn.port, conn.login, conn.password, dict(extra or {}))
    return CdmSettings.from_connection(fetched, **overrides)


__all__ = ["AsyncTransport", "aload_settings", "settings_keywords"]
