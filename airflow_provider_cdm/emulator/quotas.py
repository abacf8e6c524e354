"""Huawei's per-user, per-minute API quotas: a sliding 60-second window per (user, quota group).

Over the limit the gateway answers 429 ``APIG.0308`` with the limit in its message. Only accepted
requests count towards the window, as with the real gateway.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from airflow_provider_cdm.api import errors
from airflow_provider_cdm.api.endpoints import Endpoint
from airflow_provider_cdm.emulator.errors import ApiError

WINDOW_S = 60.0


class QuotaLimiter:
    """Counts each user's calls per endpoint quota group over the last minute."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, window_s: float = WINDOW_S) -> None:
        self._clock = clock
        self._window_s = window_s
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, user: str, endpoint: Endpoint) -> None:
        """Record one call, or raise APIG.0308 when the user's window for that group is full."""
        limit = endpoint.quota_per_minute
        if limit is None:
            return
        now = self._clock()
        with self._lock:
            calls = self._calls.setdefault((user, endpoint.quota_group), deque())
            while calls and calls[0] <= now - self._window_s:
                calls.popleft()
            if len(calls) >= limit:
                raise ApiError(errors.APIG_THROTTLED, limit=limit)
            calls.append(now)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
