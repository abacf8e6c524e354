"""The log lines of ``dag.test()`` runs, as a user reads them in the task logs, on Airflow 2.11 and 3.x.

The two lines route task logs differently:

- Airflow 2.11: everything is ``logging``; a task's lines go to ``airflow.task`` (which does not
  propagate to the root logger), Airflow's own to their module loggers.
- Airflow 3.x: an operator's ``self.log`` and the Task SDK's loggers (the task runner, the secrets
  masker, XCom reads) are structlog loggers that never reach ``logging``; ``logging`` records (the
  provider's module loggers, Airflow's core) are rendered through structlog's formatter on the root
  handler.

:func:`recording` sees both: a handler on the root logger and on every logger that does not propagate,
and a processor in structlog's chain just before its renderer (Airflow does not cache structlog
loggers under pytest, so the processor sees loggers made before it was added).

``tests/conftest.py`` records every ``dag.test()`` of ``tests/integration/test_example_dags.py`` into
:data:`EXAMPLE_DAG_RUN_LOGS`, so ``test_example_dags_quiet.py`` checks those runs instead of running
each example DAG a second time.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class LogLine:
    """One log line: its level, logger, message and the class name of the exception it carries."""

    level: int
    logger: str
    message: str
    exception: str | None = None

    def __str__(self) -> str:
        extra = f" (exception {self.exception})" if self.exception else ""
        return f"[{logging.getLevelName(self.level)}] {self.logger}: {self.message}{extra}"


# structlog method names that are not logging's level names.
_STRUCTLOG_LEVELS = {"EXCEPTION": logging.ERROR, "FATAL": logging.CRITICAL, "MSG": logging.INFO}

# Keys of a structlog event that are not the line's context (its own key-values).
_NOT_CONTEXT = frozenset(
    {"event", "level", "logger", "logger_name", "timestamp", "exc_info", "exception", "loc", "positional_args"}
)

# The lines of the latest dag.test() of each example DAG that test_example_dags.py ran, by DAG id.
EXAMPLE_DAG_RUN_LOGS: dict[str, list[LogLine]] = {}
# The DagBag those tests ran them from (their session fixture's value), once they ran.
EXAMPLE_DAG_BAG: list[Any] = []


def _exception_name(exc_info: object) -> str | None:
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        exc_info = exc_info[1]
    return type(exc_info).__name__ if isinstance(exc_info, BaseException) else None


class _Handler(logging.Handler):
    def __init__(self, lines: list[LogLine], level: int) -> None:
        super().__init__(level)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception as error:  # a record whose arguments do not fit its format is a line too
            message = f"{record.msg!r} % {record.args!r} ({error})"
        self.lines.append(LogLine(record.levelno, record.name, message, _exception_name(record.exc_info)))


# Airflow 3's secrets masker warns of a secret too short to mask once per process: each recording sees it.
_ONCE_PER_PROCESS = (
    ("airflow.sdk._shared.secrets_masker.secrets_masker", "SecretsMasker", "_has_warned_short_secret"),
    ("airflow._shared.secrets_masker.secrets_masker", "SecretsMasker", "_has_warned_short_secret"),
)


@contextmanager
def recording(level: int = logging.INFO) -> Iterator[list[LogLine]]:
    """Every line at ``level`` or above logged while the block runs, through ``logging`` or structlog.

    Warnings Airflow gives once per process (:data:`_ONCE_PER_PROCESS`) are re-armed for the block, so a
    run recorded late in a session shows them as a fresh worker's task log would.
    """
    patch = pytest.MonkeyPatch()
    for module_name, class_name, flag in _ONCE_PER_PROCESS:
        owner = getattr(sys.modules.get(module_name), class_name, None)
        if owner is not None and hasattr(owner, flag):
            patch.setattr(owner, flag, False)
    lines: list[LogLine] = []
    handler = _Handler(lines, level)
    loggers = [logging.getLogger()] + [
        logger
        for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in loggers:
        logger.addHandler(handler)
    processors: list[Any] | None = None

    def capture(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        name = str(event_dict.get("level") or method_name).upper()
        levelno = _STRUCTLOG_LEVELS.get(name) or logging.getLevelName(name)
        if isinstance(levelno, int) and levelno >= level:
            # The event's own key-values are part of the line (the renderer prints them after the message).
            context = " ".join(f"{key}={value!r}" for key, value in event_dict.items() if key not in _NOT_CONTEXT)
            message = str(event_dict.get("event", ""))
            lines.append(
                LogLine(
                    levelno,
                    str(event_dict.get("logger") or event_dict.get("logger_name") or ""),
                    f"{message} {context}" if context else message,
                    _exception_name(event_dict.get("exc_info")),
                )
            )
        return event_dict

    try:
        import structlog
    except ImportError:  # Airflow 2.11 without structlog: logging alone
        pass
    else:
        processors = structlog.get_config()["processors"]  # the configured list itself: loggers read it
        processors.insert(max(len(processors) - 1, 0), capture)
    try:
        yield lines
    finally:
        patch.undo()
        for logger in loggers:
            logger.removeHandler(handler)
        if processors is not None and capture in processors:
            processors.remove(capture)


@contextmanager
def dag_runs_recorded(store: MutableMapping[str, list[LogLine]]) -> Iterator[None]:
    """While the block runs, the lines of each ``dag.test()`` go to ``store[dag_id]`` (the latest run's)."""
    from airflow.providers.common.compat.sdk import DAG

    original = DAG.test

    def test(self: Any, *args: Any, **kwargs: Any) -> Any:
        with recording() as lines:
            try:
                return original(self, *args, **kwargs)
            finally:
                store[self.dag_id] = lines

    patch = pytest.MonkeyPatch()
    patch.setattr(DAG, "test", test)
    try:
        yield
    finally:
        patch.undo()
