"""Injected trouble for testing a client's resilience: 5xx answers, latency, lost connections, bad bodies.

Settings come from the command line and from ``POST /_emulator/faults``, which replaces them (``{}``
clears them). For each CDM or IAM request the injector draws a :class:`FaultPlan` from its own seeded
random generator; the HTTP server carries the plan out and counts what it injected.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

from airflow_provider_cdm.api import errors
from airflow_provider_cdm.api.errors import APIG_BACKEND_TIMEOUT, APIG_BACKEND_UNAVAILABLE
from airflow_provider_cdm.emulator.errors import ApiError

RESET_PHASES = ("before", "after", "random")
DEFAULT_ERROR_STATUSES = (500, 502, 503)
_HTML_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


def _rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1")


@dataclass(frozen=True)
class FaultSettings:
    """What to inject, and how often (rates are probabilities per request)."""

    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = DEFAULT_ERROR_STATUSES
    latency_s: float = 0.0
    reset_rate: float = 0.0
    reset_phase: str = "random"  # drop the connection before processing, after it (a lost response), or either
    malformed_rate: float = 0.0
    quotas: bool | None = None  # None: as configured on the command line
    retry_after_s: float | None = None  # sent as Retry-After on quota 429s when set
    seed: int | None = None  # reseeds the injector's random generator

    def __post_init__(self) -> None:
        for name in ("error_rate", "reset_rate", "malformed_rate"):
            _rate(name, getattr(self, name))
        if not self.error_statuses or any(not 500 <= status <= 599 for status in self.error_statuses):
            raise ValueError("error_statuses must be a non-empty list of 5xx codes")
        if not math.isfinite(self.latency_s) or self.latency_s < 0:
            raise ValueError("latency_s must be a finite number >= 0")
        if self.reset_phase not in RESET_PHASES:
            raise ValueError(f"reset_phase must be one of {list(RESET_PHASES)}")
        if self.retry_after_s is not None and (not math.isfinite(self.retry_after_s) or self.retry_after_s < 0):
            raise ValueError("retry_after_s must be null or a number >= 0")

    @classmethod
    def from_json(cls, data: object) -> FaultSettings:
        """Parse the admin API's body; ValueError says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("the fault settings must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings {sorted(unknown)}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            if value is None and name in ("quotas", "retry_after_s", "seed"):
                continue
            if name == "error_statuses":
                if not isinstance(value, list) or not all(type(v) is int for v in value):
                    raise ValueError("error_statuses must be a list of integers")
                values[name] = tuple(value)
            elif name == "reset_phase":
                values[name] = str(value)
            elif name == "quotas":
                if not isinstance(value, bool):
                    raise ValueError("quotas must be true, false or null")
                values[name] = value
            elif name == "seed":
                if type(value) is not int:
                    raise ValueError("seed must be an integer")
                values[name] = value
            else:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"{name} must be a number")
                values[name] = float(value)
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["error_statuses"] = list(self.error_statuses)
        return out


@dataclass(frozen=True)
class FaultPlan:
    """What happens to one request: at most one of reset, error and malformed, plus any latency."""

    latency_s: float = 0.0
    reset: str | None = None  # "before" or "after"
    error_status: int | None = None
    malformed: str | None = None  # "truncated" or "html"


class FaultInjector:
    """Holds the settings in effect and draws a plan per request."""

    def __init__(self, settings: FaultSettings, seed: int | None = None) -> None:
        self._settings = settings
        self._rng = random.Random(settings.seed if settings.seed is not None else seed)
        self._lock = threading.Lock()

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    def configure(self, settings: FaultSettings) -> None:
        with self._lock:
            self._settings = settings
            if settings.seed is not None:
                self._rng.seed(settings.seed)

    def plan(self) -> FaultPlan:
        with self._lock:
            s, rng = self._settings, self._rng
            if s.reset_rate and rng.random() < s.reset_rate:
                phase = s.reset_phase if s.reset_phase != "random" else rng.choice(("before", "after"))
                return FaultPlan(s.latency_s, reset=phase)
            if s.error_rate and rng.random() < s.error_rate:
                return FaultPlan(s.latency_s, error_status=rng.choice(s.error_statuses))
            if s.malformed_rate and rng.random() < s.malformed_rate:
                return FaultPlan(s.latency_s, malformed=rng.choice(("truncated", "html")))
            return FaultPlan(s.latency_s)


def injected_error(status: int) -> ApiError:
    """A 5xx as CDM (500) or the gateway (502, 503, 504, ...) would send it."""
    if status == 500:
        return ApiError(errors.CDM_SYSTEM_ERROR, detail="injected fault")
    if status == 504:
        return ApiError(APIG_BACKEND_TIMEOUT)
    return ApiError(APIG_BACKEND_UNAVAILABLE, http_status=status)


def malformed_body(body: bytes, kind: str) -> bytes:
    """A body no JSON parser accepts: the real one cut in half, or a proxy's HTML page."""
    if kind == "html":
        return _HTML_PAGE
    return body[: max(1, len(body) // 2)] if len(body) > 1 else b'{"'
