"""What CDM's job and cluster statuses mean: the one place that decides terminal, success and failure.

CDM descends from Apache Sqoop 2: PENDING (queued past the cluster's concurrency, before it boots),
BOOTING and RUNNING are unfinished; SUCCEEDED is the only success; FAILED, FAILURE_ON_SUBMIT and UNKNOWN
are failures. NEW and NEVER_EXECUTED say that no run is known (a job object that was never started; the
run Sqoop 2 makes up for a job without one). An empty ``submissions`` list is "not known yet", never
success: callers represent it as ``None`` and must keep waiting (or give up on their own deadline).
"""

from __future__ import annotations

import enum


class JobStatus(str, enum.Enum):
    """A job's or a submission's status as the CDM API spells it."""

    NEW = "NEW"
    PENDING = "PENDING"
    BOOTING = "BOOTING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    FAILURE_ON_SUBMIT = "FAILURE_ON_SUBMIT"
    UNKNOWN = "UNKNOWN"
    NEVER_EXECUTED = "NEVER_EXECUTED"

    @classmethod
    def parse(cls, value: object) -> JobStatus | None:
        """The status named by ``value`` (case-insensitive), or None for a value CDM may add later."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, str):
            return None
        try:
            return cls(value.strip().upper())
        except ValueError:
            return None

    @property
    def is_active(self) -> bool:
        """A run is under way: a start now is refused (Cdm.0052) and a stop has something to stop."""
        return self in ACTIVE_STATUSES

    @property
    def is_terminal(self) -> bool:
        """A run has ended, for good or bad."""
        return self in TERMINAL_STATUSES

    @property
    def is_success(self) -> bool:
        return self in SUCCESS_STATUSES

    @property
    def is_failure(self) -> bool:
        return self in FAILURE_STATUSES

    @property
    def is_idle(self) -> bool:
        """No run is known for the job (never started)."""
        return self in IDLE_STATUSES


ACTIVE_STATUSES: frozenset[JobStatus] = frozenset({JobStatus.PENDING, JobStatus.BOOTING, JobStatus.RUNNING})
SUCCESS_STATUSES: frozenset[JobStatus] = frozenset({JobStatus.SUCCEEDED})
FAILURE_STATUSES: frozenset[JobStatus] = frozenset({JobStatus.FAILED, JobStatus.FAILURE_ON_SUBMIT, JobStatus.UNKNOWN})
TERMINAL_STATUSES: frozenset[JobStatus] = SUCCESS_STATUSES | FAILURE_STATUSES
IDLE_STATUSES: frozenset[JobStatus] = frozenset({JobStatus.NEW, JobStatus.NEVER_EXECUTED})


class ClusterStatus(str, enum.Enum):
    """A CDM cluster's ``status`` code (the API sends the code as a string)."""

    CREATING = "100"
    NORMAL = "200"
    FAILED = "300"
    CREATE_FAILED = "303"
    RESTARTING = "500"
    FROZEN = "800"
    STOPPED = "900"
    STOPPING = "910"
    STARTING = "920"

    @classmethod
    def parse(cls, value: object) -> ClusterStatus | None:
        try:
            return cls(str(value).strip())
        except ValueError:
            return None

    @property
    def can_run_jobs(self) -> bool:
        """Only a cluster in the normal state accepts and runs jobs."""
        return self is ClusterStatus.NORMAL

    @property
    def is_failure(self) -> bool:
        """The cluster failed (300) or was never created (303): no action gets it anywhere by waiting."""
        return self in CLUSTER_FAILURE_STATUSES

    @property
    def is_transitional(self) -> bool:
        """The cluster is on its way to another status (creating, starting, stopping, restarting)."""
        return self in CLUSTER_TRANSITIONAL_STATUSES

    @property
    def label(self) -> str:
        """The console's word for the status ("Stopped"), for people."""
        return CLUSTER_STATUS_LABELS[self]


CLUSTER_FAILURE_STATUSES: frozenset[ClusterStatus] = frozenset({ClusterStatus.FAILED, ClusterStatus.CREATE_FAILED})
CLUSTER_TRANSITIONAL_STATUSES: frozenset[ClusterStatus] = frozenset(
    {ClusterStatus.CREATING, ClusterStatus.RESTARTING, ClusterStatus.STOPPING, ClusterStatus.STARTING}
)
CLUSTER_STATUS_LABELS: dict[ClusterStatus, str] = {
    ClusterStatus.CREATING: "Creating",
    ClusterStatus.NORMAL: "Normal",
    ClusterStatus.FAILED: "Failed",
    ClusterStatus.CREATE_FAILED: "Creation failed",
    ClusterStatus.RESTARTING: "Restarting",
    ClusterStatus.FROZEN: "Frozen",
    ClusterStatus.STOPPED: "Stopped",
    ClusterStatus.STOPPING: "Stopping",
    ClusterStatus.STARTING: "Starting",
}
