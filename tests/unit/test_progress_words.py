"""Progress and final lines in plain words: one format for progress, counts and sizes."""

from __future__ import annotations

from airflow_provider_cdm.progress import duration, outcome_text, percent, progress_text, run_label, size


def test_progress_lines_read_as_plain_words() -> None:
    running = {"status": "RUNNING", "progress": 42, "rows_written": 18917, "counters": {}}
    assert f"{run_label('orders_daily', 104)}: {progress_text(running)}" == (
        "run 104 of orders_daily: RUNNING, 42%, 18,917 rows written"
    )
    assert run_label("orders_daily", None, latest=True) == "the latest run of orders_daily"
    shown = [percent(42), percent(42.0), percent(42.25), percent(-1), percent(None)]
    assert shown == ["42%", "42%", "42.2%", None, None]


def test_the_final_line_has_volumes_duration_and_throughput() -> None:
    done = {
        "status": "SUCCEEDED",
        "execute_date": "2026-12-01T02:00:00+00:00",
        "last_update_date": "2026-12-01T02:03:12+00:00",
        "counters": {"ROWS_READ": 18917, "BYTES_READ": 2_100_000, "ROWS_WRITTEN": 18917, "BYTES_WRITTEN": 2_100_000},
    }
    assert outcome_text(done) == (
        "SUCCEEDED in 3 min 12 s: read 18,917 rows (2.1 MB), wrote 18,917 rows (2.1 MB), 99 rows/s"
    )
    # What CDM did not report is left out, never shown as 0 or "unknown".
    assert outcome_text({"status": "SUCCEEDED", "counters": {}}) == "SUCCEEDED"


def test_units() -> None:
    assert [size(576), size(2_100_000), size(3_400_000_000)] == ["576 B", "2.1 MB", "3.4 GB"]
    assert [duration(0.42), duration(12), duration(192), duration(7500)] == ["0.4 s", "12 s", "3 min 12 s", "2 h 5 min"]
    assert duration(3600) == "1 h"
