"""Huawei Cloud AK/SK request signing (``SDK-HMAC-SHA256``): the one implementation of the algorithm.

The hook signs with :func:`sign`; the emulator checks with :func:`verify`, which recomputes the
signature over whatever headers the client listed in ``SignedHeaders`` (as Huawei's gateway does),
so any correct client is accepted, not only ours. Pure standard library, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, quote, unquote, urlsplit

ALGORITHM = "SDK-HMAC-SHA256"
DATE_HEADER = "X-Sdk-Date"
# Huawei's SDKs send this (value UNSIGNED-PAYLOAD) for non-JSON bodies; it then stands in for the body hash.
CONTENT_HASH_HEADER = "X-Sdk-Content-Sha256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_CLOCK_SKEW = timedelta(minutes=15)

_DEFAULT_PORTS = {"http": 80, "https": 443}


class SignatureError(ValueError):
    """A request's signature cannot be accepted; the text says why (never the secret)."""


@dataclass(frozen=True)
class SignedAuthorization:
    """The parts of an ``Authorization: SDK-HMAC-SHA256 ...`` header."""

    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


def format_sdk_date(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(DATE_FORMAT)


def parse_sdk_date(value: str) -> datetime:
    return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=timezone.utc)


def _encode(text: str) -> str:
    return quote(text, safe="~")


def canonical_uri(path: str) -> str:
    """Each path segment percent-encoded (after undoing any encoding), ending with ``/``."""
    segments = [_encode(unquote(segment)) for segment in (path or "/").split("/")]
    uri = "/".join(segments)
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(query: str | Sequence[tuple[str, str]]) -> str:
    """Parameters sorted by name, then value, each ``quote(name)=quote(value)``, joined by ``&``."""
    pairs = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else list(query)
    return "&".join(f"{_encode(name)}={_encode(value)}" for name, value in sorted(pairs))


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def canonical_request(
    method: str,
    path: str,
    query: str | Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
) -> str:
    lowered = _lower_headers(headers)
    payload_hash = lowered.get(CONTENT_HASH_HEADER.lower()) or hashlib.sha256(body).hexdigest()
    canonical_headers = "".join(f"{name}:{lowered.get(name, '').strip()}\n" for name in signed_headers)
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(canonical: str, sdk_date: str) -> str:
    return f"{ALGORITHM}\n{sdk_date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def compute_signature(secret_key: str, to_sign: str) -> str:
    return hmac.new(secret_key.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def host_header(url: str) -> str:
    """The ``Host`` value for a URL: the host name, with ``:port`` only when it is not the default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    access_key: str,
    secret_key: str,
    *,
    now: datetime | None = None,
) -> dict[str, str]:
    """Sign a request; returns the headers to send: ``headers`` plus Host, X-Sdk-Date and Authorization.

    Every header passed in is signed, so pass only those the client itself sets (not the ones the
    HTTP library or a proxy may add or rewrite).
    """
    out = dict(headers)
    names = {name.lower() for name in out}
    if "host" not in names:
        out["Host"] = host_header(url)
    if DATE_HEADER.lower() not in names:
        out[DATE_HEADER] = format_sdk_date(now or datetime.now(timezone.utc))
    lowered = _lower_headers(out)
    signed = sorted(lowered)
    parts = urlsplit(url)
    canonical = canonical_request(method, parts.path, parts.query, lowered, signed, body)
    signature = compute_signature(secret_key, string_to_sign(canonical, lowered[DATE_HEADER.lower()]))
    out["Authorization"] = f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(signed)}, Signature={signature}"
    return out


def parse_authorization(value: str) -> SignedAuthorization:
    """Split an ``Authorization`` header; raises :class:`SignatureError` when it is not ours to read."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureError(f"unsupported algorithm {algorithm!r}, expected {ALGORITHM}")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, field_value = item.strip().partition("=")
        if sep:
            fields[key.strip()] = field_value.strip()
    missing = [key for key in ("Access", "SignedHeaders", "Signature") if not fields.get(key)]
    if missing:
        raise SignatureError(f"authorization header lacks {', '.join(missing)}")
    signed = tuple(fields["SignedHeaders"].split(";"))
    return SignedAuthorization(fields["Access"], signed, fields["Signature"])


def verify(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    secret_for: Callable[[str], str | None],
    *,
    now: datetime | None = None,
    max_skew: timedelta = MAX_CLOCK_SKEW,
) -> str:
    """Check a signed request as the gateway does; returns the access key, or raises SignatureError."""
    lowered = _lower_headers(headers)
    authorization = parse_authorization(lowered.get("authorization", ""))
    for required in ("host", DATE_HEADER.lower()):
        if required not in authorization.signed_headers:
            raise SignatureError(f"{required} must be a signed header")
    missing = [name for name in authorization.signed_headers if name not in lowered]
    if missing:
        raise SignatureError(f"signed header(s) not sent: {', '.join(missing)}")
    try:
        sent_at = parse_sdk_date(lowered[DATE_HEADER.lower()])
    except ValueError as err:
        raise SignatureError(f"x-sdk-date is not in the format {DATE_FORMAT}") from err
    if abs((now or datetime.now(timezone.utc)) - sent_at) > max_skew:
        raise SignatureError("x-sdk-date expired")
    secret = secret_for(authorization.access_key)
    if secret is None:
        raise SignatureError("Get secretKey failed, ak not exist")
    canonical = canonical_request(method, path, query, lowered, authorization.signed_headers, body)
    expected = compute_signature(secret, string_to_sign(canonical, lowered[DATE_HEADER.lower()]))
    if not hmac.compare_digest(expected, authorization.signature):
        raise SignatureError("verify aksk signature fail")
    return authorization.access_key
