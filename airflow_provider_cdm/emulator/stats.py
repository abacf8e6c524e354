"""Counters for the admin API: requests by operation and status, by client and status, and injected faults."""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict

NO_RESPONSE = "no_response"  # the status recorded for a request whose connection was dropped
OTHER_CLIENT = "other"  # the client of a request whose User-Agent carries no comment
# The comment of a User-Agent (RFC 9110): the provider sends "airflow-provider-cdm/<version> (sync)" from
# workers and "(async)" from triggerers, so a deployment's calls can be split by side.
_COMMENT = re.compile(r"\(([^()]+)\)")


def client_of(user_agent: str | None) -> str:
    """The client a request names in its User-Agent's (first) comment, else ``other``."""
    found = _COMMENT.search(user_agent or "")
    return found.group(1).strip() if found and found.group(1).strip() else OTHER_CLIENT


class Stats:
    """Thread-safe counters, cleared by the admin reset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._clients: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._faults: Counter[str] = Counter()

    def record_request(self, operation: str, status: int | str, client: str = OTHER_CLIENT) -> None:
        with self._lock:
            self._requests[operation][str(status)] += 1
            self._clients[client][str(status)] += 1

    def record_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def snapshot(self) -> dict[str, dict[str, object]]:
        with self._lock:
            return {
                "requests": {operation: dict(statuses) for operation, statuses in self._requests.items()},
                "clients": {client: dict(statuses) for client, statuses in self._clients.items()},
                "faults": dict(self._faults),
            }

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._clients.clear()
            self._faults.clear()
