"""Where the Airflow lines differ and common-compat does not bridge them: the one place for it.

Two helpers apache-airflow-providers-common-compat offers only from 1.23, which needs Python 3.11
(Python 3.10 gets common-compat 1.20 at most; remove them when Python 3.10 support ends), and one
Airflow 2 log line that is noise for this provider. Everything else comes from common-compat as it is.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

try:
    from airflow.providers.common.compat.sdk import mask_secret
except ImportError:  # common-compat < 1.23
    try:
        from airflow.sdk.log import mask_secret  # type: ignore[no-redef,unused-ignore]
    except ImportError:  # Airflow 2
        from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef,import-not-found,unused-ignore]

if TYPE_CHECKING:
    from collections.abc import Mapping


async def aextra_dejson(conn: Any) -> Mapping[str, Any]:
    """A connection's extra as a dict (its secrets masked), without blocking the event loop."""
    try:
        from airflow.providers.common.compat.connection import get_async_extra_dejson
    except ImportError:  # common-compat < 1.23: the sync property, off the loop
        extra: Mapping[str, Any] = await asyncio.to_thread(lambda: conn.extra_dejson)
        return extra
    return await get_async_extra_dejson(conn)  # type: ignore[no-any-return,unused-ignore]


# Airflow 2.x turns every connection it looks up into a URI (``Connection.get_connection_from_secrets``
# caches it) and warns, on every task, that a type with "_" is no RFC 3986 scheme. This provider's type
# is ``huaweicloud_cdm`` (a name users' connections depend on), and the URI is never used for it.
_AIRFLOW2_CONNECTION_LOGGER = "airflow.models.connection.Connection"
_RFC3986_WARNING = "Connection schemes (type: %s) shall not contain '_' according to RFC3986."


class _SchemeWarningFilter(logging.Filter):
    """Drops Airflow 2's RFC 3986 warning about one connection type; every other line passes."""

    def __init__(self, conn_type: str) -> None:
        super().__init__()
        self.conn_type = conn_type

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == _RFC3986_WARNING and record.args == (self.conn_type,))


def quiet_connection_scheme_warning(conn_type: str) -> None:
    """Install the filter once (Airflow 2 only: Airflow 3 does not warn)."""
    logger = logging.getLogger(_AIRFLOW2_CONNECTION_LOGGER)
    if not any(isinstance(f, _SchemeWarningFilter) and f.conn_type == conn_type for f in logger.filters):
        logger.addFilter(_SchemeWarningFilter(conn_type))


__all__ = ["aextra_dejson", "mask_secret", "quiet_connection_scheme_warning"]
