"""Two helpers apache-airflow-providers-common-compat offers only from 1.23, which needs Python 3.11.

Python 3.10 gets common-compat 1.20 at most; this is the one place that bridges it (remove it when
Python 3.10 support ends). Everything else comes from common-compat as it is.
"""

from __future__ import annotations

import asyncio
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


__all__ = ["aextra_dejson", "mask_secret"]
