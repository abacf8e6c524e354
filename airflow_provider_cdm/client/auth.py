"""Authentication of CDM requests: AK/SK signing, a static IAM token, or an IAM token got with a password.

An auth object turns a prepared request (method, URL, the headers the client sets, body) into the
headers to send. It never logs a credential; fetched tokens are handed to ``on_token`` (the hook masks
them in Airflow's logs).

``apply`` serves the sync transport, ``aapply`` the async one: signing and static tokens are CPU-only,
so both are the same; a password token is fetched through the transport's own (sync or async) fetch,
and both share the process-wide :data:`TOKEN_CACHE`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from airflow_provider_cdm.api.endpoints import (
    AUTH_TOKEN_HEADER,
    IAM_TOKEN,
    IAM_TOKEN_LIFETIME_S,
    SECURITY_TOKEN_HEADER,
    SUBJECT_TOKEN_HEADER,
)
from airflow_provider_cdm.api.errors import ErrorKind
from airflow_provider_cdm.api.signer import sign
from airflow_provider_cdm.client.answers import HttpRequest, HttpResponse
from airflow_provider_cdm.client.exceptions import api_error, error_from_response
from airflow_provider_cdm.client.settings import AUTH_AKSK, AUTH_PASSWORD, CdmSettings

if TYPE_CHECKING:
    import asyncio

TOKEN_REFRESH_MARGIN_S = 300.0


class Auth(Protocol):
    def apply(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        """The headers to send: ``headers`` plus the credentials."""

    async def aapply(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        """The same, for the async transport (any credential fetch is awaited, never blocking)."""

    def refresh(self, sent: Mapping[str, str]) -> bool:
        """After a 401 to a request sent with ``sent``: drop the credential; True if a fresh one may help."""


class AkSkAuth:
    """``SDK-HMAC-SHA256`` signing; signs every header it is given, so give it only the client's own."""

    def __init__(self, access_key: str, secret_key: str, security_token: str | None = None) -> None:
        self._access_key = access_key
        self._secret_key = secret_key
        self._security_token = security_token

    def apply(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        to_sign = dict(headers)
        if self._security_token:
            to_sign[SECURITY_TOKEN_HEADER] = self._security_token
        return sign(method, url, to_sign, body, self._access_key, self._secret_key)

    async def aapply(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        return self.apply(method, url, headers, body)  # CPU only

    def refresh(self, sent: Mapping[str, str]) -> bool:
        return False


class StaticTokenAuth:
    """A token given in the connection; nothing to refresh when it is refused."""

    def __init__(self, token: str) -> None:
        self._token = token

    def apply(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        return {**headers, AUTH_TOKEN_HEADER: self._token}

    async def aapply(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        return self.apply(method, url, headers, body)

    def refresh(self, sent: Mapping[str, str]) -> bool:
        return False


@dataclass(frozen=True)
class CachedToken:
    token: str = field(repr=False)
    expires_at: float  # epoch seconds


TokenKey = tuple[str, str, str, str, str]  # IAM endpoint, domain, user, project, password digest

# Keys the password digest in token-cache keys: a token fetched with one password is never handed to a
# connection with another (a wrong password must fail), and no key holds a plain hash of a password.
_KEY_SALT = secrets.token_bytes(16)


class TokenCache:
    """IAM tokens shared by every hook of the process, each until shortly before it expires.

    A lock per key makes concurrent callers wait for one fetch instead of each fetching: a thread lock
    for sync callers, an asyncio lock (per event loop) for coroutines, so a coroutine never blocks its
    loop on a thread's fetch (a thread and a coroutine may then both fetch; the later token wins).
    """

    def __init__(self, margin_s: float = TOKEN_REFRESH_MARGIN_S, clock: Callable[[], float] = time.time) -> None:
        self._margin_s = margin_s
        self._clock = clock
        self._entries: dict[TokenKey, CachedToken] = {}
        self._locks: dict[TokenKey, threading.Lock] = {}
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[TokenKey, asyncio.Lock]] = (
            weakref.WeakKeyDictionary()
        )
        self._guard = threading.Lock()

    def _fresh(self, key: TokenKey) -> str | None:
        with self._guard:
            entry = self._entries.get(key)
        return entry.token if entry and entry.expires_at - self._margin_s > self._clock() else None

    def get(self, key: TokenKey, fetch: Callable[[], CachedToken]) -> str:
        """The cached token for ``key``, fetched (once, whoever asks at the same time) if none is fresh."""
        token = self._fresh(key)
        if token:
            return token
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            token = self._fresh(key)
            if token:
                return token
            entry = fetch()
            with self._guard:
                self._entries[key] = entry
            return entry.token

    async def aget(self, key: TokenKey, fetch: Callable[[], Awaitable[CachedToken]]) -> str:
        """:meth:`get` for coroutines: the fetch is awaited, concurrent coroutines wait for one fetch."""
        import asyncio

        token = self._fresh(key)
        if token:
            return token
        loop = asyncio.get_running_loop()
        with self._guard:
            lock = self._async_locks.setdefault(loop, {}).setdefault(key, asyncio.Lock())
        async with lock:
            token = self._fresh(key)
            if token:
                return token
            entry = await fetch()
            with self._guard:
                self._entries[key] = entry
            return entry.token

    def invalidate(self, key: TokenKey, token: str | None) -> None:
        """Forget ``token`` if it is still the cached one (another caller may have refreshed it already)."""
        with self._guard:
            entry = self._entries.get(key)
            if entry and entry.token == token:
                del self._entries[key]

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()


TOKEN_CACHE = TokenCache()


class PasswordTokenAuth:
    """An IAM token from ``POST /v3/auth/tokens`` with user and password, scoped to the project.

    ``fetch`` sends the token request (the transport's, with its retries) and returns the answer;
    ``afetch`` does the same for the async transport (:meth:`aapply`).
    """

    def __init__(
        self,
        *,
        iam_endpoint: str,
        domain: str,
        user: str,
        password: str,
        project_id: str,
        fetch: Callable[[HttpRequest], HttpResponse] | None = None,
        afetch: Callable[[HttpRequest], Awaitable[HttpResponse]] | None = None,
        cache: TokenCache = TOKEN_CACHE,
        on_token: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._iam_endpoint = iam_endpoint
        self._domain = domain
        self._user = user
        self._password = password
        self._project_id = project_id
        self._fetch = fetch
        self._afetch = afetch
        self._cache = cache
        self._on_token = on_token
        self._clock = clock
        digest = hmac.new(_KEY_SALT, password.encode(), hashlib.sha256).hexdigest()
        self._key: TokenKey = (iam_endpoint, domain, user, project_id, digest)

    def token_request(self) -> HttpRequest:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": self._user, "password": self._password, "domain": {"name": self._domain}}
                    },
                },
                "scope": {"project": {"id": self._project_id}},
            }
        }
        return HttpRequest(
            IAM_TOKEN.method,
            self._iam_endpoint + IAM_TOKEN.path(),
            {"Content-Type": "application/json;charset=UTF-8"},
            json.dumps(body).encode("utf-8"),
        )

    def token_from_response(self, response: HttpResponse) -> CachedToken:
        """The token of a 201 answer; an auth error (never showing the password) otherwise."""
        path = IAM_TOKEN.path()
        if response.status >= 300:
            raise error_from_response(response.status, response.headers, response.body, method="POST", path=path)
        token = response.headers.get(SUBJECT_TOKEN_HEADER.lower())
        if not token:
            raise api_error(
                f"IAM answered without an {SUBJECT_TOKEN_HEADER} header",
                http_status=response.status,
                method="POST",
                path=path,
                kind=ErrorKind.AUTH,
            )
        if self._on_token:
            self._on_token(token)
        return CachedToken(token, self._expiry(response.body))

    def _expiry(self, body: bytes) -> float:
        try:
            text = json.loads(body.decode("utf-8"))["token"]["expires_at"]
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except (ValueError, KeyError, TypeError, AttributeError):
            return self._clock() + IAM_TOKEN_LIFETIME_S  # the documented lifetime

    def apply(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        fetch = self._fetch
        if fetch is None:
            raise TypeError("this PasswordTokenAuth has no sync fetch: use aapply()")
        token = self._cache.get(self._key, lambda: self.token_from_response(fetch(self.token_request())))
        return {**headers, AUTH_TOKEN_HEADER: token}

    async def aapply(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        afetch = self._afetch
        if afetch is None:
            raise TypeError("this PasswordTokenAuth has no async fetch: use apply()")

        async def fetch() -> CachedToken:
            return self.token_from_response(await afetch(self.token_request()))

        token = await self._cache.aget(self._key, fetch)
        return {**headers, AUTH_TOKEN_HEADER: token}

    def refresh(self, sent: Mapping[str, str]) -> bool:
        self._cache.invalidate(self._key, sent.get(AUTH_TOKEN_HEADER))
        return True


def build_auth(
    settings: CdmSettings,
    *,
    fetch: Callable[[HttpRequest], HttpResponse] | None = None,
    afetch: Callable[[HttpRequest], Awaitable[HttpResponse]] | None = None,
    cache: TokenCache = TOKEN_CACHE,
    on_token: Callable[[str], None] | None = None,
) -> Auth:
    """The auth strategy the settings ask for (they were checked, so each needed value is there).

    ``fetch`` (sync transport) or ``afetch`` (async transport) sends an IAM token request.
    """
    if settings.auth_type == AUTH_AKSK:
        return AkSkAuth(settings.login or "", settings.password or "", settings.security_token)
    if settings.auth_type == AUTH_PASSWORD:
        return PasswordTokenAuth(
            iam_endpoint=settings.iam_endpoint or "",
            domain=settings.domain or "",
            user=settings.login or "",
            password=settings.password or "",
            project_id=settings.project_id,
            fetch=fetch,
            afetch=afetch,
            cache=cache,
            on_token=on_token,
        )
    return StaticTokenAuth(settings.token or "")
