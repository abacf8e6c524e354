"""The counters CDM reports for a run that succeeded (cdm-api.md, "Submissions and statuses")."""

from __future__ import annotations

# The one group a Submission's ``counters`` object holds.
COUNTER_GROUP = "org.apache.sqoop.submission.counter.SqoopCounters"

# Every documented counter, in the documented order.
COUNTER_NAMES = (
    "BYTES_WRITTEN",
    "BYTES_READ",
    "TOTAL_FILES",
    "TOTAL_SIZE",
    "ROWS_READ",
    "ROWS_WRITTEN",
    "ROWS_WRITTEN_SKIPPED",
    "FILES_WRITTEN",
    "FILES_READ",
    "FILES_SKIPPED",
)
