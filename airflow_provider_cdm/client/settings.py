"""Connection settings: read from an Airflow connection (plus overrides), checked before any request.

The connection: host = CDM endpoint override, login/password = AK/SK or IAM user/password, and the
extra keys in :data:`EXTRA_KEYS`. Every problem raises :class:`CdmConfigError` naming the setting, the
bad value (never a secret's) and what is expected. ``repr`` shows no credentials.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Protocol
from urllib.parse import urlsplit

from airflow_provider_cdm.api.endpoints import (
    DEFAULT_CDM_ENDPOINT,
    DEFAULT_IAM_ENDPOINT,
    PathParameterError,
    escape_path_segment,
)
from airflow_provider_cdm.client.exceptions import CdmConfigError
from airflow_provider_cdm.client.retry import RetryPolicy
from airflow_provider_cdm.get_provider_info import CONN_FIELDS

log = logging.getLogger(__name__)

AUTH_AKSK = "aksk"
AUTH_PASSWORD = "password"  # noqa: S105 - a name, not a secret
AUTH_TOKEN = "token"  # noqa: S105 - a name, not a secret
AUTH_TYPES = (AUTH_AKSK, AUTH_PASSWORD, AUTH_TOKEN)

DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_READ_TIMEOUT_S = 60.0

EXTRA_KEYS = frozenset(
    {
        "region",
        "project_id",
        "auth_type",
        "domain",
        "iam_endpoint",
        "security_token",
        "token",
        "cluster_id",
        "verify",
        "timeout",
        "proxies",
        "retry",
        "max_retries",
        "console_url",
    }
)
FORM_FIELD_PREFIX = "extra__huaweicloud_cdm__"
PROXY_KEYS = ("http", "https", "all")
PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
_REGION = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_RETRY_FIELDS = tuple(item.name for item in fields(RetryPolicy))


class ConnectionLike(Protocol):
    """What is read from an Airflow ``Connection`` (either Airflow line's class fits)."""

    @property
    def host(self) -> str | None: ...

    @property
    def port(self) -> int | None: ...

    @property
    def login(self) -> str | None: ...

    @property
    def password(self) -> str | None: ...

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class CdmSettings:
    """Everything the client needs to reach CDM, already checked."""

    endpoint: str  # CDM base URL without a trailing slash
    project_id: str
    region: str | None = None
    auth_type: str = AUTH_AKSK
    login: str | None = field(default=None, repr=False)  # AK, or IAM user name
    password: str | None = field(default=None, repr=False)  # SK, or IAM password
    domain: str | None = None
    iam_endpoint: str | None = None  # without "/v3"; used by password auth only
    security_token: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    cluster_id: str | None = None
    verify: bool | str = True
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    proxies: Mapping[str, str] = field(default_factory=dict, repr=False)  # proxy URLs may hold credentials
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    console_url: str | None = None  # the Huawei Cloud console's base URL, for links to it (no API calls)

    def __post_init__(self) -> None:
        http_base_url("endpoint", self.endpoint)
        check_path_segment("project_id", self.project_id)
        if self.cluster_id is not None:
            check_path_segment("cluster_id", self.cluster_id)
        if self.auth_type not in AUTH_TYPES:
            raise CdmConfigError("auth_type", f"got {self.auth_type!r}", f"one of {', '.join(AUTH_TYPES)}")
        self._check_credentials()
        if isinstance(self.verify, str):
            if not os.path.exists(self.verify):
                raise CdmConfigError(
                    "verify", f"CA bundle {self.verify!r} does not exist", "true, false or the path of a CA bundle"
                )
        elif not isinstance(self.verify, bool):
            raise CdmConfigError(
                "verify", f"got a {type(self.verify).__name__}", "true, false or the path of a CA bundle"
            )
        for name in ("connect_timeout_s", "read_timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise CdmConfigError("timeout", f"{name} is {value!r}", "a positive number of seconds")
        if not isinstance(self.proxies, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in self.proxies.items()
        ):
            raise CdmConfigError(
                "proxies", "not a mapping of strings", 'a JSON object like {"https": "http://proxy:3128"}'
            )
        for key, url in self.proxies.items():
            _check_proxy(key, url)
        if self.verify is False:
            log.warning("TLS certificate verification is off for CDM endpoint %s", self.endpoint)

    def _check_credentials(self) -> None:
        if self.auth_type == AUTH_AKSK:
            _require("login", self.login, "the access key (AK) for auth_type 'aksk'")
            _require("password", self.password, "the secret key (SK) for auth_type 'aksk'")
        elif self.auth_type == AUTH_PASSWORD:
            _require("login", self.login, "the IAM user name for auth_type 'password'")
            _require("password", self.password, "the IAM user's password for auth_type 'password'")
            _require("domain", self.domain, "the IAM account (domain) name for auth_type 'password'")
            if not self.iam_endpoint:
                raise CdmConfigError(
                    "iam_endpoint", "missing and no region to derive it from", "an IAM URL or a region"
                )
            http_base_url("iam_endpoint", self.iam_endpoint)
        else:
            _require("token", self.token, "an IAM token for auth_type 'token'")
        if self.token and self.auth_type != AUTH_TOKEN:
            raise CdmConfigError(
                "token", f"is set but auth_type is {self.auth_type!r}", "auth_type 'token', or no token"
            )
        if self.security_token and self.auth_type != AUTH_AKSK:
            raise CdmConfigError(
                "security_token", f"is set but auth_type is {self.auth_type!r}", "auth_type 'aksk' (temporary AK/SK)"
            )

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) seconds."""
        return (self.connect_timeout_s, self.read_timeout_s)

    def secrets(self) -> tuple[str, ...]:
        """The values to mask in logs."""
        return tuple(value for value in (self.password, self.token, self.security_token) if value)

    @classmethod
    def from_connection(
        cls,
        conn: ConnectionLike,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        project_id: str | None = None,
        auth_type: str | None = None,
        domain: str | None = None,
        iam_endpoint: str | None = None,
        cluster_id: str | None = None,
        verify: bool | str | None = None,
        timeout: float | tuple[float, float] | None = None,
        proxies: Mapping[str, str] | None = None,
        retry_policy: RetryPolicy | Mapping[str, Any] | None = None,
    ) -> CdmSettings:
        """Settings from a connection; each keyword that is not None overrides the connection's value."""
        extra = unprefixed_extra(conn.extra_dejson or {})
        unknown = sorted(set(extra) - EXTRA_KEYS)
        if unknown:
            log.warning("Ignoring unknown keys in the CDM connection's extra: %s", ", ".join(unknown))

        def pick(name: str, override: Any) -> Any:
            return override if override is not None else _blank_to_none(extra.get(name))

        region_value = _text_setting("region", pick("region", region))
        if region_value is not None and not _REGION.match(region_value):
            raise CdmConfigError("region", f"got {region_value!r}", "a region id such as 'cn-north-4'")
        host = endpoint if endpoint is not None else _blank_to_none(conn.host)
        if host is None:
            if region_value is None:
                raise CdmConfigError(
                    "region", "missing and the connection has no host", "a region such as 'cn-north-4'"
                )
            host = DEFAULT_CDM_ENDPOINT.format(region=region_value)
        iam = _text_setting("iam_endpoint", pick("iam_endpoint", iam_endpoint))
        if iam is None and region_value is not None:
            iam = DEFAULT_IAM_ENDPOINT.format(region=region_value)
        connect_s, read_s = _timeouts(pick("timeout", timeout))
        project = _text_setting("project_id", pick("project_id", project_id))
        if project is None:
            raise CdmConfigError("project_id", "missing", "the Huawei Cloud project id of the region")
        return cls(
            endpoint=_with_port(
                http_base_url("endpoint" if endpoint is not None else "host", host),
                conn.port if endpoint is None else None,
            ),
            project_id=project,
            region=region_value,
            auth_type=(_text_setting("auth_type", pick("auth_type", auth_type)) or AUTH_AKSK).lower(),
            login=_blank_to_none(conn.login),
            password=_blank_to_none(conn.password),
            domain=_text_setting("domain", pick("domain", domain)),
            iam_endpoint=_iam_base(iam) if iam else None,
            security_token=_secret_setting("security_token", extra.get("security_token")),
            token=_secret_setting("token", extra.get("token")),
            cluster_id=_text_setting("cluster_id", pick("cluster_id", cluster_id)),
            verify=_verify(pick("verify", verify)),
            connect_timeout_s=connect_s,
            read_timeout_s=read_s,
            proxies=_proxies(pick("proxies", proxies)),
            retry=_retry_policy(extra, retry_policy),
            console_url=_console_url(_text_setting("console_url", extra.get("console_url"))),
        )


def unprefixed_extra(extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` with form-style ``extra__huaweicloud_cdm__<key>`` keys read as ``<key>``.

    Airflow's connection forms save custom fields under their bare names; connections saved by Airflow
    before 2.3, or written by hand in that style, carry the prefix. Prefixed keys are read only when the
    extra holds none of the form's fields under a bare name: once a form has saved the connection, a
    field it cleared (Airflow 2 then drops the bare key) must not come back from a stale prefixed twin.
    """
    plain = {key: value for key, value in extra.items() if not key.startswith(FORM_FIELD_PREFIX)}
    if any(name in plain for name in CONN_FIELDS):
        return plain
    prefixed = {key[len(FORM_FIELD_PREFIX) :]: value for key, value in extra.items() if key not in plain}
    return {**plain, **prefixed}


def _blank_to_none(value: Any) -> Any:
    """Unset widgets arrive as empty strings."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _require(name: str, value: str | None, expected: str) -> None:
    if not value:
        raise CdmConfigError(name, "missing", expected)


def _text_setting(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return (value or "").strip() or None
    raise CdmConfigError(name, f"got a {type(value).__name__} ({value!r})", "a string")


def _secret_setting(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return (value or "").strip() or None
    raise CdmConfigError(name, f"got a {type(value).__name__}", "a string")


def check_path_segment(name: str, value: object, what: str = "id") -> str:
    """``value`` if it can be one segment of an API path; CdmConfigError naming ``name`` otherwise."""
    if not isinstance(value, str):
        raise CdmConfigError(name, f"got a {type(value).__name__}", "a string")
    try:
        escape_path_segment(name, value)
    except PathParameterError as err:
        raise CdmConfigError(name, str(err), f"a non-empty {what} without '/', '\\' or control characters") from None
    return value


def http_base_url(name: str, value: str, example: str = "https://cdm.cn-north-4.myhuaweicloud.com") -> str:
    """``value`` as a base URL (scheme, host, optional port and path prefix), without a trailing slash;
    CdmConfigError naming setting ``name`` otherwise (never quoting credentials)."""
    expected = f"an http(s) URL such as {example}"
    if not isinstance(value, str):
        raise CdmConfigError(name, f"got a {type(value).__name__}", expected)
    parts = urlsplit(value.strip())
    if parts.username or parts.password:
        raise CdmConfigError(name, "the URL holds credentials", expected + " without user or password")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise CdmConfigError(name, f"{value!r} has an invalid port", expected) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise CdmConfigError(name, f"got {value!r}", expected)
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _console_url(value: str | None) -> str | None:
    """The console's base URL as given; checked only when a task builds its console link (a bad one must
    cost the link, not every CDM call through the connection)."""
    return (value.strip() or None) if value is not None else None


def _with_port(url: str, port: int | None) -> str:
    """The connection's port field applied to a host URL that has none (a URI-style connection)."""
    if not port:
        return url
    parts = urlsplit(url)
    if parts.port is None:
        return f"{parts.scheme}://{parts.netloc}:{port}{parts.path}"
    if parts.port != port:
        raise CdmConfigError(
            "port", f"{port} contradicts the host URL's port {parts.port}", "one port, in the host URL"
        )
    return url


def _iam_base(url: str) -> str:
    """IAM URLs are often written with their "/v3" suffix; the token path adds it."""
    base = http_base_url("iam_endpoint", url)
    return base[: -len("/v3")] if base.endswith("/v3") else base


def parse_bool(value: Any) -> bool | None:
    """True or False from a bool or its usual spellings (true/yes/on/1, false/no/off/0); None otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None


def _verify(value: Any) -> bool | str:
    if value is None:
        return True
    flag = parse_bool(value)
    if flag is not None:
        return flag
    if isinstance(value, str):
        return value
    raise CdmConfigError(
        "verify", f"got a {type(value).__name__} ({value!r})", "true, false or the path of a CA bundle"
    )


def _number(name: str, value: Any) -> float:
    """A finite number (NaN or infinity would reach the socket as a timeout, or a wait, and break there)."""
    number = math.nan
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (ValueError, OverflowError):
            pass
    if not math.isfinite(number):
        raise CdmConfigError(name, f"got {value!r}", "a finite number")
    return number


def _timeouts(value: Any) -> tuple[float, float]:
    if value is None:
        return (DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_READ_TIMEOUT_S)
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise CdmConfigError("timeout", f"got {value!r}", "seconds, or [connect seconds, read seconds]")
        connect_s, read_s = (_number("timeout", item) for item in value)
    else:
        connect_s = read_s = _number("timeout", value)
    if connect_s <= 0 or read_s <= 0:
        raise CdmConfigError("timeout", f"got {value!r}", "a positive number of seconds")
    return (connect_s, read_s)


def _proxies(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CdmConfigError(
            "proxies", f"got a {type(value).__name__}", 'a JSON object like {"https": "http://proxy:3128"}'
        )
    return dict(value)


def _check_proxy(key: str, url: str) -> None:
    """One requests-style proxies entry, usable by both transports; the URL is never shown (it may hold
    a password)."""
    if key not in PROXY_KEYS and "://" not in key:
        expected_keys = "'http', 'https', 'all' or 'scheme://host' keys"
        raise CdmConfigError("proxies", f"key {key!r} is not a scheme", expected_keys)
    expected = f"a URL such as http://proxy:3128 (scheme {', '.join(PROXY_SCHEMES)})"
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise CdmConfigError("proxies", f"the value of {key!r} is not a proxy URL", expected) from None
    if not parts.hostname:
        raise CdmConfigError("proxies", f"the value of {key!r} is not a proxy URL", expected)
    if parts.scheme not in PROXY_SCHEMES:
        raise CdmConfigError("proxies", f"the value of {key!r} has scheme {parts.scheme!r}", expected)


def _retry_policy(extra: Mapping[str, Any], override: RetryPolicy | Mapping[str, Any] | None) -> RetryPolicy:
    """The connection's ``max_retries`` key and ``retry`` object, then the hook's ``retry_policy`` on top."""
    if isinstance(override, RetryPolicy):
        return override
    values: dict[str, Any] = {}
    if _blank_to_none(extra.get("max_retries")) is not None:
        values["max_attempts"] = _retries("max_retries", extra["max_retries"]) + 1
    retry = _blank_to_none(extra.get("retry"))
    if retry is not None and not isinstance(retry, Mapping):
        raise CdmConfigError("retry", f"got a {type(retry).__name__}", "a JSON object of retry settings")
    values.update(_retry_values("retry", retry or {}))
    values.update(_retry_values("retry_policy", override or {}))
    return RetryPolicy(**values)


def _retry_values(prefix: str, source: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, raw in source.items():
        name = f"{prefix}.{key}"
        if key == "max_retries":
            values["max_attempts"] = _retries(name, raw) + 1
        elif key == "max_attempts":
            values[key] = _retries(name, raw)
        elif key == "jitter":
            flag = parse_bool(raw)
            if flag is None:
                raise CdmConfigError(name, f"got {raw!r}", "true or false")
            values[key] = flag
        elif key in _RETRY_FIELDS:
            values[key] = _number(name, raw)
        else:
            raise CdmConfigError(name, "is not a retry setting", f"one of max_retries, {', '.join(_RETRY_FIELDS)}")
    return values


def _retries(name: str, value: Any) -> int:
    number = _number(name, value)
    if number < 0 or not number.is_integer():
        raise CdmConfigError(name, f"got {value!r}", "a whole number >= 0")
    return int(number)


def settings_keywords() -> frozenset[str]:
    """The keyword overrides :meth:`CdmSettings.from_connection` takes (``hook_params`` keys)."""
    parameters = inspect.signature(CdmSettings.from_connection).parameters.values()
    return frozenset(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)
