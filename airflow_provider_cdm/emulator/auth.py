"""The gateway's and IAM's side of authentication: AK/SK signatures, IAM password tokens, the project.

Signatures are checked with ``api.signer.verify`` over whatever headers the client signed, so any
correct client is accepted. Temporary AK/SK pairs also need their security token, sent and signed.
Errors are the gateway's (see docs/architecture.md): APIG.0301 for AK/SK problems and expired
tokens, APIG.1002 for unknown or revoked tokens, APIG.0302 for another project.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_provider_cdm.api import errors, signer
from airflow_provider_cdm.api.endpoints import (
    AUTH_TOKEN_HEADER,
    IAM_TOKEN_LIFETIME_S,
    PROJECT_HEADER,
    SECURITY_TOKEN_HEADER,
)
from airflow_provider_cdm.api.errors import APIG_FORBIDDEN
from airflow_provider_cdm.emulator.errors import ApiError

_TOKEN_HEADER = AUTH_TOKEN_HEADER.lower()
_PROJECT_HEADER = PROJECT_HEADER.lower()
_SECURITY_TOKEN_HEADER = SECURITY_TOKEN_HEADER.lower()


@dataclass(frozen=True)
class Credentials:
    """An AK/SK pair; a temporary one also carries the security token its requests must sign."""

    access_key: str
    secret_key: str
    security_token: str | None = None


@dataclass(frozen=True)
class IamUser:
    name: str
    password: str
    domain: str

    @property
    def user_id(self) -> str:
        return _stable_id("user", self.domain, self.name)

    @property
    def domain_id(self) -> str:
        return _stable_id("domain", self.domain)


@dataclass(frozen=True)
class Principal:
    """Who sent a request: ``quota_key`` identifies them for quotas, ``user_name`` goes into CDM records."""

    quota_key: str
    user_name: str


@dataclass(frozen=True)
class _Token:
    user: IamUser
    expires_at: float


def _stable_id(*parts: str) -> str:
    """A 32-hex-digit id that is the same at every start (IAM ids look like this)."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


class Authenticator:
    """Accepts the configured credentials and users; issues, expires and revokes tokens."""

    def __init__(
        self,
        *,
        project_id: str,
        region: str,
        credentials: Sequence[Credentials],
        users: Sequence[IamUser],
        owner: str,
        token_ttl_s: float = IAM_TOKEN_LIFETIME_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.project_id = project_id
        self.region = region
        self._credentials = {c.access_key: c for c in credentials}
        self._users = list(users)
        self._owner = owner  # the IAM user name the AK/SK pairs belong to
        self._token_ttl_s = token_ttl_s
        self._clock = clock
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()

    def issue_token(self, body: object) -> tuple[str, dict[str, Any]]:
        """``POST /v3/auth/tokens`` with a password identity: the token and the response body."""
        user_spec, scope = _password_request(body)
        given_domain = user_spec.get("domain")
        domain: dict[str, Any] = given_domain if isinstance(given_domain, dict) else {}
        user = next(
            (
                u
                for u in self._users
                if u.name == user_spec.get("name")
                and hmac.compare_digest(u.password.encode(), str(user_spec.get("password", "")).encode())
                and (domain.get("name") == u.domain or domain.get("id") == u.domain_id)
            ),
            None,
        )
        if user is None:
            raise ApiError(errors.IAM_BAD_CREDENTIALS)
        if scope.get("name") != self.region and scope.get("id") != self.project_id:
            raise ApiError(errors.APIG_REQUEST_ERROR, detail=f"project {scope} does not exist")
        now = self._clock()
        token = "MIIemulator-" + secrets.token_urlsafe(48)
        expires_at = now + self._token_ttl_s
        with self._lock:
            self._tokens[token] = _Token(user, expires_at)
        domain_json = {"id": user.domain_id, "name": user.domain}
        return token, {
            "token": {
                "expires_at": _iso(expires_at),
                "issued_at": _iso(now),
                "methods": ["password"],
                "project": {"id": self.project_id, "name": self.region, "domain": domain_json},
                "user": {"id": user.user_id, "name": user.name, "domain": domain_json},
                "roles": [{"id": _stable_id("role", "cdm"), "name": "cdm_admin"}],
                "catalog": [],
            }
        }

    def revoke_tokens(self) -> int:
        """Revoke every issued token; returns how many there were."""
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
            return count

    def token_count(self) -> int:
        with self._lock:
            return len(self._tokens)

    def authenticate(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes, project_id: str
    ) -> Principal:
        """Check a CDM request (token or AK/SK) and that it is for the caller's project."""
        lowered = _lowered(headers)
        if _TOKEN_HEADER in lowered:
            principal = self._check_token(lowered[_TOKEN_HEADER])
        elif "authorization" in lowered:
            principal = self._check_signature(method, path, query, lowered, body)
        else:
            raise ApiError(errors.APIG_BAD_IAM_AUTH, detail="x-auth-token not found")
        for claimed in (project_id, lowered.get(_PROJECT_HEADER, project_id)):
            if claimed != self.project_id:
                raise ApiError(APIG_FORBIDDEN, detail=f"project {claimed} is not the caller's project")
        return principal

    def _check_token(self, value: str) -> Principal:
        with self._lock:
            token = self._tokens.get(value)
        if token is None:
            raise ApiError(errors.APIG_BAD_TOKEN)
        if self._clock() >= token.expires_at:
            raise ApiError(errors.APIG_BAD_IAM_AUTH, detail="the token has expired")
        return Principal(f"user:{token.user.user_id}", token.user.name)

    def _check_signature(
        self, method: str, path: str, query: str, lowered: Mapping[str, str], body: bytes
    ) -> Principal:
        now = datetime.fromtimestamp(self._clock(), timezone.utc)
        try:
            access_key = signer.verify(method, path, query, lowered, body, self._secret_for, now=now)
        except signer.SignatureError as err:
            raise ApiError(errors.APIG_BAD_IAM_AUTH, detail=str(err)) from None
        expected_token = self._credentials[access_key].security_token
        if expected_token is not None:
            signed = signer.parse_authorization(lowered["authorization"]).signed_headers
            sent = lowered.get(_SECURITY_TOKEN_HEADER)
            if sent is None or _SECURITY_TOKEN_HEADER not in signed:
                raise ApiError(errors.APIG_BAD_IAM_AUTH, detail="temporary credentials need a signed x-security-token")
            if not hmac.compare_digest(sent.encode(), expected_token.encode()):
                raise ApiError(errors.APIG_BAD_IAM_AUTH, detail="the security token does not match the access key")
        return Principal(f"ak:{access_key}", self._owner)

    def _secret_for(self, access_key: str) -> str | None:
        credentials = self._credentials.get(access_key)
        return credentials.secret_key if credentials else None


def _password_request(body: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """The user and the project scope of a password token request; APIG.0201 when it is malformed."""

    def member(value: object, key: str) -> Any:
        return value.get(key) if isinstance(value, dict) else None

    auth = member(body, "auth")
    identity = member(auth, "identity")
    methods = member(identity, "methods")
    user = member(member(identity, "password"), "user")
    scope = member(member(auth, "scope"), "project")
    well_formed = isinstance(methods, list) and "password" in methods
    if not well_formed or not isinstance(user, dict) or not isinstance(scope, dict):
        raise ApiError(
            errors.APIG_REQUEST_ERROR,
            detail="expected auth.identity (methods ['password'], password.user) and auth.scope.project",
        )
    return user, scope
