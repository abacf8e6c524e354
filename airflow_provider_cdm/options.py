"""The provider's ``[cdm]`` options in Airflow's configuration (``AIRFLOW__CDM__<KEY>``), read with their defaults.

A bad value never costs a task: it is logged once as a warning naming the value and what is expected,
and the default applies. ``get_provider_info.CONFIG`` declares the same options and defaults
(tests/unit/test_provider_config.py keeps them equal).
"""

from __future__ import annotations

import functools
import logging
import math

from airflow_provider_cdm.client.exceptions import CdmConfigError
from airflow_provider_cdm.client.rate_limit import check_share
from airflow_provider_cdm.client.settings import parse_bool

log = logging.getLogger(__name__)

SECTION = "cdm"
# Each process's share of every documented per-user quota. One triggerer plus the workers' status reads
# stay within the quota (0.6 + 0.2); with two or more triggerers, or many polling workers, each process
# adapts its share to the 429s it sees (client.rate_limit).
TRIGGERER_QUOTA_SHARE = "triggerer_quota_share"
WORKER_QUOTA_SHARE = "worker_quota_share"
LEGACY_TRIGGERER_QUOTA_SHARE = "quota_share"  # the name before 0.2: the triggerer's share
DEFAULT_TRIGGERER_QUOTA_SHARE = 0.6
DEFAULT_WORKER_QUOTA_SHARE = 0.2
# Whether calls are paced at all: off only for a CDM without quotas (the emulator without --quotas).
CLIENT_PACING = "client_pacing"
# A wait logs a progress line at INFO when the status changes, else at most once per this many seconds.
PROGRESS_LOG_INTERVAL = "progress_log_interval"
DEFAULT_PROGRESS_LOG_INTERVAL_S = 60.0


def _raw(key: str) -> str | None:
    try:
        from airflow.providers.common.compat.sdk import conf

        value = conf.get(SECTION, key, fallback=None)
    except Exception:  # no Airflow configuration (a plain script): the defaults
        return None
    if value is None or str(value).strip() == "":
        return None
    return str(value).strip()


@functools.lru_cache(maxsize=32)
def _warn_once(key: str, value: str, expected: str, default: float) -> None:
    log.warning("Ignoring [%s] %s = %r: expected %s; using %g", SECTION, key, value, expected, default)


def _share(key: str, default: float) -> float:
    value = _raw(key)
    if value is None:
        return default
    try:
        return check_share(float(value))
    except (ValueError, CdmConfigError):
        _warn_once(key, value, "a share of the quota, more than 0 and at most 1", default)
        return default


def triggerer_quota_share() -> float:
    """``[cdm] triggerer_quota_share`` (formerly ``quota_share``): one triggerer process's share; 0.6.

    The former name is read when the new one is unset or at its default (Airflow reports the declared
    default for an option nobody set).
    """
    current = _share(TRIGGERER_QUOTA_SHARE, DEFAULT_TRIGGERER_QUOTA_SHARE)
    if current == DEFAULT_TRIGGERER_QUOTA_SHARE and _raw(LEGACY_TRIGGERER_QUOTA_SHARE) is not None:
        return _share(LEGACY_TRIGGERER_QUOTA_SHARE, DEFAULT_TRIGGERER_QUOTA_SHARE)
    return current


def worker_quota_share() -> float:
    """``[cdm] worker_quota_share``: one worker process's share (a task's calls, hooks in any process); 0.2."""
    return _share(WORKER_QUOTA_SHARE, DEFAULT_WORKER_QUOTA_SHARE)


def client_pacing() -> bool:
    """``[cdm] client_pacing``: pace calls within the quota shares (default true)."""
    value = _raw(CLIENT_PACING)
    if value is None:
        return True
    flag = parse_bool(value)
    if flag is None:
        _warn_once(CLIENT_PACING, value, "true or false", 1.0)
        return True
    return flag


def progress_log_interval() -> float:
    """``[cdm] progress_log_interval``: seconds between unchanged progress lines at INFO; 60."""
    value = _raw(PROGRESS_LOG_INTERVAL)
    if value is None:
        return DEFAULT_PROGRESS_LOG_INTERVAL_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        _warn_once(PROGRESS_LOG_INTERVAL, value, "a number of seconds >= 0", DEFAULT_PROGRESS_LOG_INTERVAL_S)
        return DEFAULT_PROGRESS_LOG_INTERVAL_S
    return seconds


__all__ = [
    "DEFAULT_PROGRESS_LOG_INTERVAL_S",
    "DEFAULT_TRIGGERER_QUOTA_SHARE",
    "DEFAULT_WORKER_QUOTA_SHARE",
    "client_pacing",
    "progress_log_interval",
    "triggerer_quota_share",
    "worker_quota_share",
]
