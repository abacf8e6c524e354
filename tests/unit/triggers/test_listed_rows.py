"""A job-list entry's rows reach the trigger's progress line only when the entry's last run is the watched one."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_provider_cdm.client.models import Submission
from airflow_provider_cdm.client.runs import RunRef, StatusRules
from airflow_provider_cdm.triggers._shared_poller import Listed, Subscription

CREATED_MS = 1_764_547_200_000


def _entry(created_ms: int, rows: int) -> Submission:
    return Submission.from_api(
        {"job-name": "orders", "status": "RUNNING", "creation-date": created_ms, "write_rows": rows}
    )


def _delivered(run: RunRef, last_run: Submission) -> Any:
    subscription = Subscription(poller=None, run=run, rules=StatusRules(), poll_interval=10)  # type: ignore[arg-type]
    subscription.take_listed(Listed(last_run.status, last_run.status_text), last_run)
    return asyncio.run(subscription.next_answer())


def test_the_watched_runs_rows_so_far_come_with_the_entry() -> None:
    run = RunRef("orders", "c-1", 7, CREATED_MS, skew_ms=0)  # pinned by CDM's own creation date

    answer = _delivered(run, _entry(CREATED_MS, 18_917))

    assert answer == Listed(_entry(CREATED_MS, 0).status, "RUNNING", 18_917)


def test_another_runs_rows_are_not_shown_as_ours() -> None:
    run = RunRef("orders", "c-1", 7, CREATED_MS, skew_ms=0)

    answer = _delivered(run, _entry(CREATED_MS - 60_000, 500))  # an older run of the job

    assert answer.rows_written is None
