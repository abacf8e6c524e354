"""Waiting for CDM clusters: what the cluster operators, the cluster sensor and the job operators' opt-in wait share.

Every show-cluster answer is judged by :class:`~airflow_provider_cdm.client.cluster_wait.ClusterWait`
(the one place that decides what a cluster status means for a wait). This module polls until a
verdict or a deadline, builds the trigger of a deferred wait, checks the trigger's events and shapes
what a task returns or raises. :class:`ClusterReadyOperator` adds ``wait_for_cluster`` to the start
operators: before the job starts, its cluster (or one of the candidates) must be Normal (200).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, BaseOperator

from airflow_provider_cdm.api.statuses import ClusterStatus
from airflow_provider_cdm.client.cluster_wait import (
    ClusterVerdict,
    ClusterWait,
    cluster_words,
    judge_any,
    status_words,
)
from airflow_provider_cdm.client.exceptions import CdmApiError, CdmConfigError
from airflow_provider_cdm.client.models import Cluster
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators._waiting import (
    AIRFLOW_FAIL_METHOD,
    RUN_KEY,
    Log,
    WaitingOperator,
    check_seconds,
    unreadable,
)
from airflow_provider_cdm.progress import ProgressLog

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_cdm.triggers.cluster import CdmClusterStatusTrigger

EVENT_STATUSES = ("success", "failed", "timeout", "error")
# The trigger polls at most this often (Airflow lets a sensor poke every 0 s; a trigger needs a pause).
MIN_TRIGGER_POLL_S = 0.1
# How long a start operator's opt-in wait gives its cluster by default (a stopped cluster starts in minutes).
CLUSTER_TIMEOUT_S = 30 * 60.0


class CdmClusterFailedError(AirflowException):
    """The cluster reached a status the wait fails on (300 failed, 303 never created, 800 frozen, ...)."""

    def __init__(self, message: str, *, cluster: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.cluster = dict(cluster) if cluster is not None else None


class CdmClusterTimeoutError(AirflowException):
    """The cluster did not reach the awaited status within the task's timeout."""


def describe(cluster: Cluster | Mapping[str, Any]) -> str:
    """``cluster NAME (ID)`` of a cluster or its JSON."""
    if isinstance(cluster, Cluster):
        return cluster_words(cluster.id, cluster.name)
    return cluster_words(str(cluster.get("id") or ""), str(cluster.get("name") or ""))


def shown_status(cluster: Cluster | Mapping[str, Any] | None) -> str:
    """``Stopped (900)`` of a cluster or its JSON; ``no status read`` for none."""
    if cluster is None:
        return "no status read"
    if isinstance(cluster, Cluster):
        return status_words(cluster.status, cluster.raw.get("status"))
    raw = cluster.get("status")
    return status_words(ClusterStatus.parse(raw) if raw is not None else None, raw)


def cluster_result(
    cluster: Cluster | Mapping[str, Any], *, action: str | None, waited_s: float, sent: bool, job_ids: Sequence[str]
) -> dict[str, Any]:
    """What a cluster task returns (JSON): the cluster, its status code and label, the action, the wait."""
    data = cluster.to_json() if isinstance(cluster, Cluster) else dict(cluster)
    status = ClusterStatus.parse(data.get("status")) if data.get("status") is not None else None
    return {
        "cluster_id": data.get("id"),
        "cluster_name": data.get("name"),
        "status": data.get("status"),
        "status_label": status.label if status is not None else None,
        "action": action,
        "action_sent": sent,
        "job_ids": list(job_ids),
        "waited_s": round(max(0.0, waited_s), 3),
    }


@dataclass
class PollOutcome:
    """How a polling wait ended: the cluster that got there (None at the deadline) and the last answers."""

    cluster: Cluster | None
    last: dict[str, Cluster]
    message: str


def poll_clusters(
    hook: CdmHook,
    cluster_ids: Sequence[str],
    wait: ClusterWait,
    *,
    poll_interval: float,
    deadline: float,
    log: Log,
    first: Mapping[str, Cluster] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> PollOutcome:
    """Read the clusters until one is done (returned), all failed (raised), or ``deadline`` (on ``clock``)
    passed (returned without a cluster). ``first``: answers read already (judged before any sleep).

    Progress goes out at INFO when a status changes, else about once a minute (``ProgressLog``).
    """
    last: dict[str, Cluster] = dict(first or {})
    passed = dict.fromkeys(cluster_ids, False)
    progress = ProgressLog(log, clock=clock)
    read = not all(cluster_id in last for cluster_id in cluster_ids)
    while True:
        if read:
            for cluster_id in cluster_ids:
                try:
                    last[cluster_id] = hook.get_cluster(cluster_id)
                except CdmApiError as err:
                    if not err.transient:
                        raise
                    unreadable(log, f"cluster {cluster_id}", err, "trying again at the next poll")
        if all(cluster_id in last for cluster_id in cluster_ids):
            decisions = []
            for cluster_id in cluster_ids:
                cluster = last[cluster_id]
                passed[cluster_id] = passed[cluster_id] or wait.passes(cluster.status)
                decisions.append(
                    wait.judge(
                        cluster.status,
                        cluster=describe(cluster),
                        raw=cluster.raw.get("status"),
                        passed=passed[cluster_id],
                        now=time.time(),
                    )
                )
            verdict, index, words = judge_any(decisions)
            if verdict is ClusterVerdict.FAILED:
                log.error("%s", words)
                raise CdmClusterFailedError(words, cluster=last[cluster_ids[0]].to_json())
            progress.report(tuple(str(last[c].raw.get("status")) for c in cluster_ids), "%s", words)
            if verdict is ClusterVerdict.DONE and index is not None:
                return PollOutcome(last[cluster_ids[index]], last, words)
        remaining = deadline - clock()
        if remaining <= 0:
            return PollOutcome(None, last, "")
        sleep(min(poll_interval, remaining))
        read = True


def read_cluster(
    hook: CdmHook,
    cluster_id: str,
    *,
    deadline: float,
    poll_interval: float,
    log: Log,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Cluster | None:
    """The cluster, read again after each transient failure (throttling included) until ``deadline`` (on
    ``clock``), then None: a read that fails for a while costs the task time, never the task."""
    while True:
        try:
            return hook.get_cluster(cluster_id)
        except CdmApiError as err:
            if not err.transient:
                raise
            remaining = deadline - clock()
            if remaining <= 0:
                return None
            unreadable(log, f"cluster {cluster_id}", err, "reading it again")
            sleep(min(poll_interval, remaining))


def timeout_words(what: str, last: Mapping[str, Cluster] | Sequence[Mapping[str, Any]], limit: str) -> str:
    """``cluster X was still Starting (920) ...`` for the error of a wait that timed out."""
    seen = list(last.values()) if isinstance(last, Mapping) else list(last)
    if not seen:
        return f"{what}: no status of the cluster could be read before {limit} ran out"
    states = "; ".join(f"{describe(cluster)} was still {shown_status(cluster)}" for cluster in seen)
    return f"{what}: {states} when {limit} ran out"


def make_cluster_trigger(
    cluster_ids: Sequence[str],
    wait: ClusterWait,
    *,
    end_time: float,
    poll_interval: float,
    cdm_conn_id: str,
    hook_params: Mapping[str, Any],
) -> CdmClusterStatusTrigger:
    from airflow_provider_cdm.triggers.cluster import CdmClusterStatusTrigger  # the triggerer's side: not at parse

    return CdmClusterStatusTrigger(
        cluster_ids=list(cluster_ids),
        wait=wait.to_json(),
        end_time=end_time,
        poll_interval=max(poll_interval, MIN_TRIGGER_POLL_S),
        cdm_conn_id=cdm_conn_id,
        hook_params=dict(hook_params) or None,
    )


def check_cluster_event(event: object, cluster_ids: Sequence[str]) -> dict[str, Any]:
    """The cluster trigger's event, checked: a dict with a known status about these clusters; else raise."""
    if not isinstance(event, Mapping):
        raise AirflowException(f"The trigger's event must be a dict; got {type(event).__name__} {event!r:.200}")
    status = event.get("status")
    if status not in EVENT_STATUSES:
        raise AirflowException(
            f"The trigger's event has status {status!r}; expected one of {', '.join(EVENT_STATUSES)}"
        )
    clusters = event.get("clusters")
    if not isinstance(clusters, list) or not all(isinstance(item, Mapping) for item in clusters):
        raise AirflowException(f"The trigger's event has clusters={clusters!r:.200}; expected a list of clusters")
    about = event.get("cluster_ids")
    if about != list(cluster_ids):
        raise AirflowException(
            f"The trigger's event is about clusters {about!r:.200}, but this task waits for {list(cluster_ids)}"
        )
    chosen = event.get("cluster_id")
    cluster = next((dict(item) for item in clusters if item.get("id") == chosen), None)
    if status == "success" and (chosen not in cluster_ids or cluster is None):
        raise AirflowException(f"The trigger's success event names no cluster it read (cluster_id={chosen!r:.100})")
    return {
        "status": status,
        "cluster_id": chosen,
        "cluster": cluster,
        "clusters": [dict(item) for item in clusters],
        "message": str(event.get("message") or ""),
    }


def raise_for_event(checked: Mapping[str, Any], what: str, limit: str, log: Log) -> dict[str, Any]:
    """The cluster of a success event; raise the failure, the timeout or the error of any other."""
    if checked["status"] == "success":
        log.info("%s", checked["message"] or f"{describe(checked['cluster'])} is {shown_status(checked['cluster'])}")
        return dict(checked["cluster"])
    if checked["status"] == "failed":
        log.error("%s", checked["message"])
        raise CdmClusterFailedError(checked["message"], cluster=(checked["clusters"] or [None])[0])
    if checked["status"] == "timeout":
        message = timeout_words(what, checked["clusters"], limit)
        log.error("%s", message)
        raise CdmClusterTimeoutError(message)
    message = f"{what}: waiting failed: {checked['message'] or 'no reason given'}"
    log.error("%s", message)
    raise AirflowException(message)


# --- the start operators' opt-in wait ----------------------------------------------------------------


class ClusterReadyOperator(WaitingOperator):
    """A start operator that can wait for a running cluster first (``wait_for_cluster``).

    With ``wait_for_cluster=False`` (the default) nothing changes. With True, the cluster (every
    candidate of :meth:`cluster_candidates`) is read once before the job starts; when none is Normal
    (200), the task waits, polling or deferred to :class:`CdmClusterStatusTrigger`, until one is (then
    starts the job) or ``cluster_timeout`` passes, and fails at once on a failed (300), never created
    (303) or frozen (800) cluster (on all of them, when there are several candidates). It never starts
    the cluster itself: that is :class:`~airflow_provider_cdm.operators.cluster.CdmStartClusterOperator`'s job.
    """

    def __init__(
        self, *, wait_for_cluster: bool = False, cluster_timeout: float = CLUSTER_TIMEOUT_S, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(wait_for_cluster, bool):
            raise CdmConfigError("wait_for_cluster", f"got {wait_for_cluster!r}", "True or False")
        self.wait_for_cluster = wait_for_cluster
        self.cluster_timeout = check_seconds("cluster_timeout", cluster_timeout)

    def cluster_candidates(self) -> list[str]:
        """The clusters the job may run in (the start operator's one)."""
        return [self.hook.resolve_cluster_id(getattr(self, "cluster_id", None))]

    def execute(self, context: Context) -> dict[str, Any]:
        if self.wait_for_cluster:
            self._await_cluster(context)  # defers (raises TaskDeferred) when it has to wait deferrably
        return self._start_job(context)

    def _start_job(self, context: Context) -> dict[str, Any]:
        """The start operator's own execute, past Airflow 2's ExecutorSafeguard: its wrapper of the base
        class's execute takes a subclass's call for a call outside the task instance and warns."""
        execute = getattr(WaitingOperator.execute, "__wrapped__", WaitingOperator.execute)
        result: dict[str, Any] = execute(self, context)
        return result

    def _await_cluster(self, context: Context) -> None:
        candidates = self.cluster_candidates()
        wait = ClusterWait.running()
        first: dict[str, Cluster] = {}
        for cluster_id in candidates:  # a read failing for now is read again by the wait below
            try:
                first[cluster_id] = self.hook.get_cluster(cluster_id)
            except CdmApiError as err:
                if not err.transient:
                    raise
                unreadable(self.log, f"cluster {cluster_id}", err, "reading it again while waiting")
        running = [cluster for cluster in first.values() if cluster.status is ClusterStatus.NORMAL]
        if running:
            self.log.debug("%s is Normal (200): starting the job", describe(running[0]))
            return
        limit = f"cluster_timeout {self.cluster_timeout:g} s"
        if self.deferrable:
            decisions = [wait.judge(c.status, cluster=describe(c), raw=c.raw.get("status")) for c in first.values()]
            verdict, _, words = judge_any(decisions) if decisions else (ClusterVerdict.WAITING, None, "")
            if verdict is ClusterVerdict.FAILED and len(first) == len(candidates):
                self.log.error("%s", words)
                raise CdmClusterFailedError(words, cluster=next(iter(first.values())).to_json())
            self.log.info("%s; the job starts once it is Normal (200)", words or "the cluster could not be read yet")
            self.defer(
                trigger=make_cluster_trigger(
                    candidates,
                    wait,
                    end_time=time.time() + self.cluster_timeout,
                    poll_interval=self.poll_interval,
                    cdm_conn_id=self.cdm_conn_id,
                    hook_params=self.hook_params,
                ),
                method_name="execute_after_cluster",
                kwargs={"cluster_ids": candidates},
            )
        outcome = poll_clusters(
            self.hook,
            candidates,
            wait,
            poll_interval=self.poll_interval,
            deadline=time.monotonic() + self.cluster_timeout,
            log=self.log,
            first=first,
        )
        if outcome.cluster is None:
            message = timeout_words("the job was not started", outcome.last, limit)
            self.log.error("%s", message)
            raise CdmClusterTimeoutError(message)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Airflow gave up on a deferral (``__fail__``): when it was the wait for the cluster, no job was started
        and there is no run to stop (the start operator's own handling would look for one, and warn)."""
        if next_method == AIRFLOW_FAIL_METHOD and self.wait_for_cluster and not self._run_known(context):
            return BaseOperator.resume_execution(self, next_method, next_kwargs, context)
        return super().resume_execution(next_method, next_kwargs, context)

    @staticmethod
    def _run_known(context: Context) -> bool:
        ti = context["ti"]
        return ti.xcom_pull(task_ids=ti.task_id, key=RUN_KEY, map_indexes=ti.map_index) is not None

    def execute_after_cluster(
        self, context: Context, event: dict[str, Any] | None = None, cluster_ids: list[str] | None = None
    ) -> dict[str, Any]:
        """Resume after the cluster trigger: check its event, then start the job (and wait as usual)."""
        candidates = cluster_ids if cluster_ids is not None else self.cluster_candidates()
        checked = check_cluster_event(event, candidates)
        raise_for_event(checked, "the job was not started", f"cluster_timeout {self.cluster_timeout:g} s", self.log)
        return self._start_job(context)


def elapsed_since(started_at: float | None) -> float:
    """Seconds since ``started_at`` (epoch), 0 when unknown."""
    return max(0.0, time.time() - started_at) if started_at is not None and math.isfinite(started_at) else 0.0
