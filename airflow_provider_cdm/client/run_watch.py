"""Which runs of a watched job are new and ended, and the figures a run reports: pure, no I/O.

A watcher (``triggers.events.CdmJobRunEventTrigger``) keeps one :class:`Watermark` per job: the last
run it has dealt with (reported, or ended in a status it does not report). A run is new when it is
after the watermark: by submission id when both sides have one, else by CDM's own creation date
(sparse answers: cdm-dialects.md row 12). A job's runs are sequential (CDM refuses a second start
while one is active, Cdm.0052), so they end in the order they were created: the new ended runs are
the run history's runs after the watermark, oldest first, up to the first one still active.

The first watermark of a job is its baseline: the newest run that had ended when the watcher first
looked. Runs that ended before are never reported; a run active then is reported when it ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_provider_cdm.client.models import Job, Submission

# The keys of a run's figures (an outlet's asset-event extra, an event trigger's payload), all JSON.
FIGURE_KEYS = (
    "job_name",
    "cluster_id",
    "submission_id",
    "status",
    "rows_read",
    "rows_written",
    "bytes_read",
    "bytes_written",
    "started_at",
    "ended_at",
    "duration_s",
)
# What an outlet's extra holds when the task did not wait for its run (no figures exist yet).
STARTED_KEYS = ("job_name", "cluster_id", "submission_id")


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Watermark:
    """The last run of a job a watcher dealt with; ``Watermark()`` is "before every run"."""

    submission_id: int | None = None
    created_ms: int | None = None

    @classmethod
    def of(cls, submission: Submission) -> Watermark:
        return cls(submission.submission_id, _ms(submission.creation_date))

    @property
    def is_origin(self) -> bool:
        return self.submission_id is None and self.created_ms is None

    def to_json(self) -> dict[str, Any]:
        return {"submission_id": self.submission_id, "created_ms": self.created_ms}

    @classmethod
    def from_json(cls, data: object) -> Watermark | None:
        """The stored watermark, or None when ``data`` is not one (missing, or written by something else)."""
        if not isinstance(data, Mapping):
            return None
        submission_id, created_ms = data.get("submission_id"), data.get("created_ms")
        for value in (submission_id, created_ms):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                return None
        return cls(submission_id, created_ms)

    def is_before(self, submission: Submission) -> bool:
        """Whether ``submission`` is a later run than this watermark (a run this watcher has not dealt with)."""
        if self.is_origin:
            return True
        if self.submission_id is not None and submission.submission_id is not None:
            return submission.submission_id > self.submission_id
        created = _ms(submission.creation_date)
        if self.created_ms is None or created is None:
            # Nothing to compare by: a run without id and date cannot be placed; it counts as dealt with
            # (reporting it again at every poll would be worse than not at all).
            return False
        return created > self.created_ms


def _order_key(submission: Submission) -> tuple[int, int]:
    """Oldest first: by creation date (CDM's clock), then by submission id."""
    created = _ms(submission.creation_date)
    return (created if created is not None else -1, submission.submission_id or -1)


def chronological(runs: Iterable[Submission]) -> list[Submission]:
    """A history page in the order the runs were created, whatever order CDM sent it in."""
    return sorted(runs, key=_order_key)


def new_ended_runs(runs: Iterable[Submission], watermark: Watermark) -> list[Submission]:
    """The runs after ``watermark`` that have ended, oldest first, up to the first one still under way.

    A run CDM made up (NEVER_EXECUTED) or in a status this code does not know is skipped as no run.
    A run that appears twice (the history moved between two page reads) is counted once: the mark moves
    on after each run, and a run counts only when it is after the mark.
    """
    ended: list[Submission] = []
    mark = watermark
    for run in chronological(runs):
        if not mark.is_before(run) or run.status is None or run.status.is_idle:
            continue
        if not run.status.is_terminal:
            break  # still under way: it and every later run are judged when it has ended
        ended.append(run)
        mark = Watermark.of(run)
    return ended


def reaches(runs: Sequence[Submission], watermark: Watermark) -> bool:
    """Whether a history page goes back to the watermark (holds a run at or before it): no older page is needed."""
    return watermark.is_origin or any(not watermark.is_before(run) for run in runs)


def baseline_of_history(runs: Iterable[Submission]) -> Watermark:
    """The first watermark from the job's newest runs: the newest run that has ended before any run under way."""
    mark = Watermark()
    for run in chronological(runs):
        if run.status is None or run.status.is_idle:
            continue
        if not run.status.is_terminal:
            break
        mark = Watermark.of(run)
    return mark


def baseline_of_listed(job: Job) -> Watermark | None:
    """The first watermark from the job list's entry (its last run), or None when the entry cannot tell.

    A job that never ran is at the origin; a last run that ended is the baseline (by its creation date:
    the entry carries no submission id); a run under way is not, and it must be reported when it ends:
    the baseline is then just before it.
    """
    if job.status is not None and job.status.is_idle:
        return Watermark()
    last = job.last_run()
    created = _ms(last.creation_date) if last is not None else None
    if last is None or last.status is None or created is None:
        return None
    return Watermark(None, created if last.status.is_terminal else created - 1)


def history_needed(job: Job | None, watermark: Watermark) -> bool:
    """Whether the job list's entry says a run may have ended since ``watermark`` (else the history is not read).

    Not listed, or an entry without its last run's date: read it. A last run that ended: read when it is
    after the watermark. A last run under way: read when it was created after the watermark (or the
    watermark has no date to compare): a run between the two may have ended within one look (run A ends
    and B starts between two polls), and it must not wait for B's end. The caller reads at most once per
    change of the entry (``Watcher``), so this stays True as long as the entry does not change.
    """
    if job is None:
        return True
    if job.status is not None and job.status.is_idle:
        return False
    last = job.last_run()
    if last is None or last.status is None or last.creation_date is None:
        return True
    if watermark.is_origin or watermark.created_ms is None:
        return True  # no run dealt with yet, or an id-only watermark: the entry's date cannot be compared
    created = _ms(last.creation_date)
    return created is None or created > watermark.created_ms


def entry_key(job: Job) -> tuple[object, ...]:
    """What of a job list entry changes when a run starts or ends (equal keys: nothing happened)."""
    raw = job.raw
    return (raw.get("status"), raw.get("execute_create_date"), raw.get("execute_update_date"))


def entry_may_show_an_end(job: Job, before: Job | None) -> bool:
    """Whether a job list entry, against the same job's entry at the previous look, may show a run that
    ended: it changed, and its last run ended, or a new run started (the one before it may have ended
    within the look)."""
    if before is not None and entry_key(job) == entry_key(before):
        return False
    last = job.last_run()
    if last is None:
        return False
    if last.is_terminal:
        return True
    return before is None or job.raw.get("execute_create_date") != before.raw.get("execute_create_date")


def _duration_s(started: object, ended: object) -> float | None:
    if not isinstance(started, str) or not isinstance(ended, str):
        return None
    try:
        seconds = (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()
    except (TypeError, ValueError):
        return None
    return round(seconds, 3) if seconds >= 0 else None


def result_figures(result: Mapping[str, Any]) -> dict[str, Any]:
    """A start task's result (``operators._waiting.run_result``) as a run's figures (FIGURE_KEYS), JSON only."""
    figures = {key: result.get(key) for key in FIGURE_KEYS if key != "duration_s"}
    figures["duration_s"] = _duration_s(result.get("started_at"), result.get("ended_at"))
    return figures


def run_figures(cluster_id: str, submission: Submission, job_name: str | None = None) -> dict[str, Any]:
    """A run that ended, as its figures: what it read and wrote (CDM's counters, else the flat row count)."""
    data = submission.to_json()
    counters = data.get("counters") or {}
    rows_written = counters.get("ROWS_WRITTEN")
    if rows_written is None:
        rows_written = data.get("rows_written")
    started = data.get("execute_date") or data.get("creation_date")
    ended = data.get("last_update_date") if submission.is_terminal else None
    return result_figures(
        {
            "job_name": job_name or submission.job_name,
            "cluster_id": cluster_id,
            "submission_id": submission.submission_id,
            "status": data.get("status"),
            "rows_read": counters.get("ROWS_READ"),
            "rows_written": rows_written,
            "bytes_read": counters.get("BYTES_READ"),
            "bytes_written": counters.get("BYTES_WRITTEN"),
            "started_at": started,
            "ended_at": ended,
        }
    )


def started_figures(result: Mapping[str, Any]) -> dict[str, Any]:
    """What an outlet's extra says of a run the task did not wait for: job, cluster, submission id."""
    return {key: result.get(key) for key in STARTED_KEYS}


__all__ = [
    "FIGURE_KEYS",
    "STARTED_KEYS",
    "Watermark",
    "baseline_of_history",
    "baseline_of_listed",
    "chronological",
    "entry_key",
    "entry_may_show_an_end",
    "history_needed",
    "new_ended_runs",
    "reaches",
    "result_figures",
    "run_figures",
    "started_figures",
]
