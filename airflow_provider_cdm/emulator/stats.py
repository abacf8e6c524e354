"""Counters for the admin API: requests by operation and status, and injected faults by kind."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict

NO_RESPONSE = "no_response"  # the status recorded for a request whose connection was dropped


class Stats:
    """Thread-safe counters, cleared by the admin reset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._faults: Counter[str] = Counter()

    def record_request(self, operation: str, status: int | str) -> None:
        with self._lock:
            self._requests[operation][str(status)] += 1

    def record_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def snapshot(self) -> dict[str, dict[str, object]]:
        with self._lock:
            return {
                "requests": {operation: dict(statuses) for operation, statuses in self._requests.items()},
                "faults": dict(self._faults),
            }

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._faults.clear()
