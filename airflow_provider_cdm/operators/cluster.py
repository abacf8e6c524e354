"""Operators that start, stop and restart a CDM cluster, idempotently, and (by default) wait until it is there.

Each task reads the cluster first. A start of a Normal (200) cluster and a stop of a Stopped (900) one
succeed at once without sending anything; a cluster already on its way (920 starting for a start, 910
stopping for a stop) is only waited for; otherwise the action is sent, once. When CDM refuses it, the
cluster is read again: on its way or there, the task waits; else it fails saying the cluster's status.
A restart always restarts. Failed (300), never created (303) and frozen (800) clusters fail the task.

How each answer is judged: :mod:`airflow_provider_cdm.client.cluster_wait`; how the waiting is done:
:mod:`airflow_provider_cdm.operators._cluster_waiting`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowException, BaseOperator, conf

from airflow_provider_cdm.api.cluster_actions import ClusterAction
from airflow_provider_cdm.api.errors import ErrorKind
from airflow_provider_cdm.client import operations as ops
from airflow_provider_cdm.client.cluster_wait import ClusterVerdict, ClusterWait
from airflow_provider_cdm.client.exceptions import CdmApiError
from airflow_provider_cdm.client.models import Cluster
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators._cluster_waiting import (
    CdmClusterFailedError,
    CdmClusterTimeoutError,
    check_cluster_event,
    cluster_result,
    describe,
    elapsed_since,
    make_cluster_trigger,
    poll_clusters,
    raise_for_event,
    shown_status,
    timeout_words,
)
from airflow_provider_cdm.operators._waiting import check_hook_params, check_seconds, unreadable

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

__all__ = [
    "CdmClusterFailedError",
    "CdmClusterTimeoutError",
    "CdmRestartClusterOperator",
    "CdmStartClusterOperator",
    "CdmStopClusterOperator",
]

# What a deferred task needs back when it resumes (dag.test() passes no kwargs back): pushed before deferring.
ACTION_KEY = "cdm_cluster_action"
DEFAULT_TIMEOUT_S = 30 * 60.0
_CHECKED_ID = "cluster"  # a placeholder id: the parameters are checked by the very call spec the hook sends


class _CdmClusterOperator(BaseOperator):
    """Read the cluster, send the action unless it is done or under way, then return, poll or defer."""

    action: ClassVar[ClusterAction]
    template_fields: Sequence[str] = ("cluster_id",)
    ui_color = "#e3d9f6"

    def __init__(
        self,
        *,
        cluster_id: str | None = None,
        cdm_conn_id: str = CdmHook.default_conn_name,
        hook_params: dict[str, Any] | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = 10,
        timeout: float = DEFAULT_TIMEOUT_S,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id
        self.cdm_conn_id = cdm_conn_id
        self.hook_params = check_hook_params(hook_params)
        self.wait_for_completion = wait_for_completion
        self.poll_interval = check_seconds("poll_interval", poll_interval)
        self.timeout = check_seconds("timeout", timeout)
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> CdmHook:
        return CdmHook(self.cdm_conn_id, **self.hook_params)

    def send(self, cluster_id: str) -> list[str]:
        raise NotImplementedError

    def delay_s(self) -> float:
        """How long CDM waits before it acts (a restart's or a graceful stop's delay)."""
        return 0.0

    @property
    def verb(self) -> str:
        return self.action.value

    def execute(self, context: Context) -> dict[str, Any]:
        started, started_at = time.monotonic(), time.time()  # the timeout counts from here
        cluster_id = self.hook.resolve_cluster_id(self.cluster_id)
        rule = self.action.rule
        restart = self.action is ClusterAction.RESTART
        cluster = self.hook.get_cluster(cluster_id)
        self.log.info("%s is %s", describe(cluster), shown_status(cluster))
        first: Cluster | None = cluster
        sent, job_ids, sent_at = False, [], None
        self._fail_if_failed(cluster)
        if not restart and rule.reached(cluster.status):
            self.log.info("%s is %s already: no %s sent", describe(cluster), shown_status(cluster), self.verb)
            return cluster_result(cluster, action=self.verb, waited_s=0.0, sent=False, job_ids=[])
        if not restart and rule.under_way(cluster.status):
            self.log.info("%s is on its way already: waiting for it (no %s sent)", describe(cluster), self.verb)
        else:
            sent_at = time.time()
            try:
                job_ids = self.send(cluster_id)
                sent = True
                self.log.info("Asked CDM to %s %s (CDM's action id(s): %s)", self.verb, describe(cluster), job_ids)
                first = self._read_after_send(cluster_id)
            except CdmApiError as err:
                if err.kind in (ErrorKind.AUTH, ErrorKind.THROTTLED):
                    raise
                first = self._after_refusal(cluster_id, err)
        wait = ClusterWait.for_action(self.action, sent_at=sent_at if sent else None, delay_s=self.delay_s())
        if sent and first is not None and wait.passes(first.status):
            wait = ClusterWait.for_action(self.action)  # seen on its way: a restart's 200 now means it is back
        if not self.wait_for_completion:
            now = first or self.hook.get_cluster(cluster_id)  # after the action: what it began (920, 910, 500)
            self.log.info("%s is %s: not waiting (wait_for_completion=False)", describe(now), shown_status(now))
            return cluster_result(now, action=self.verb, waited_s=0.0, sent=sent, job_ids=job_ids)
        if first is not None:  # read already: there (a refused start whose cluster another task started)?
            decision = wait.judge(first.status, cluster=describe(first), raw=first.raw.get("status"))
            if decision.verdict is ClusterVerdict.DONE:
                self.log.info("%s", decision.message)
                waited = time.monotonic() - started
                return cluster_result(first, action=self.verb, waited_s=waited, sent=sent, job_ids=job_ids)
        if self.deferrable:
            state = {"cluster_id": cluster_id, "started_at": started_at, "sent": sent, "job_ids": job_ids}
            context["ti"].xcom_push(key=ACTION_KEY, value=state)
            self.defer(
                trigger=make_cluster_trigger(
                    [cluster_id],
                    wait,
                    end_time=started_at + self.timeout,
                    poll_interval=self.poll_interval,
                    cdm_conn_id=self.cdm_conn_id,
                    hook_params=self.hook_params,
                ),
                method_name="execute_complete",
                kwargs=state,
            )
        outcome = poll_clusters(
            self.hook,
            [cluster_id],
            wait,
            poll_interval=self.poll_interval,
            deadline=started + self.timeout,
            log=self.log,
            first={cluster_id: first} if first is not None else None,
        )
        if outcome.cluster is None:
            message = timeout_words(self._gave_up(cluster), outcome.last, f"timeout {self.timeout:g} s")
            self.log.error("%s", message)
            raise CdmClusterTimeoutError(message)
        return cluster_result(
            outcome.cluster, action=self.verb, waited_s=time.monotonic() - started, sent=sent, job_ids=job_ids
        )

    def _read_after_send(self, cluster_id: str) -> Cluster | None:
        """The cluster right after the action (what the result shows without waiting, and what a wait judges
        first: a restart seen restarting here needs no settling time); None when it is unreadable just now."""
        try:
            return self.hook.get_cluster(cluster_id)
        except CdmApiError as err:
            if not err.transient:
                raise
            unreadable(self.log, f"cluster {cluster_id}", err, "reading it again while waiting")
            return None

    def _fail_if_failed(self, cluster: Cluster) -> None:
        """A failed, never created or frozen cluster: no action gets it anywhere."""
        decision = ClusterWait.running().judge(cluster.status, cluster=describe(cluster), raw=cluster.raw.get("status"))
        if decision.verdict is ClusterVerdict.FAILED:
            message = f"{decision.message} (no {self.verb} sent)"
            self.log.error("%s", message)
            raise CdmClusterFailedError(message, cluster=cluster.to_json())

    def _after_refusal(self, cluster_id: str, err: CdmApiError) -> Cluster:
        """CDM refused the action (or its answer was lost): read the cluster; on its way (or, but for a restart,
        there already) it is waited for, else the task fails saying the cluster's status."""
        again = self.hook.get_cluster(cluster_id)
        rule = self.action.rule
        there = self.action is not ClusterAction.RESTART and rule.reached(again.status)
        if there or rule.under_way(again.status):
            self.log.info(
                "CDM did not take the %s of %s (%s), but it is %s: waiting for it",
                self.verb,
                describe(again),
                err,
                shown_status(again),
            )
            return again
        self._fail_if_failed(again)
        message = f"CDM refused to {self.verb} {describe(again)}, which is {shown_status(again)}: {err}"
        self.log.error("%s", message)
        raise AirflowException(message) from err

    def _gave_up(self, cluster: Cluster) -> str:
        return f"gave up waiting for {describe(cluster)} to {self.verb}"

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        cluster_id: str | None = None,
        started_at: float | None = None,
        sent: bool | None = None,
        job_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        """Resume after the trigger: check its event, then return the result or raise as a polling wait would.

        What the task knew when it deferred comes back as keyword arguments, or (``dag.test()`` passes none)
        from its ``cdm_cluster_action`` XCom.
        """
        if cluster_id is None:
            ti = context["ti"]
            state = ti.xcom_pull(task_ids=ti.task_id, key=ACTION_KEY, map_indexes=ti.map_index) or {}
            cluster_id, started_at = state.get("cluster_id"), state.get("started_at")
            sent, job_ids = state.get("sent"), state.get("job_ids")
        if not isinstance(cluster_id, str) or not cluster_id:
            cluster_id = self.hook.resolve_cluster_id(self.cluster_id)
        checked = check_cluster_event(event, [cluster_id])
        cluster = raise_for_event(
            checked, f"gave up waiting for cluster {cluster_id} to {self.verb}", f"timeout {self.timeout:g} s", self.log
        )
        return cluster_result(
            cluster,
            action=self.verb,
            waited_s=elapsed_since(started_at),
            sent=bool(sent),
            job_ids=[str(item) for item in job_ids or []],
        )


class CdmStartClusterOperator(_CdmClusterOperator):
    """Start a stopped CDM cluster and (by default) wait until it is Normal (200).

    A cluster that is Normal already costs one show-cluster call and no start; one that is Starting (920)
    is waited for. Returns (XCom ``return_value``) ``cluster_id``, ``cluster_name``, ``status`` (the code),
    ``status_label``, ``action``, ``action_sent``, ``job_ids`` (CDM's ids of the action) and ``waited_s``.

    :param cluster_id: the cluster (templated); default: the connection's ``cluster_id`` extra.
    :param wait_for_completion: wait until the cluster is Normal (default); if False, return once CDM took the start.
    :param poll_interval: seconds between show-cluster reads.
    :param timeout: seconds (wall clock, from the task's start) to wait before failing with
        :class:`CdmClusterTimeoutError`, which names the last status seen.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param cdm_conn_id: the Airflow connection (type ``huaweicloud_cdm``).
    :param hook_params: extra keyword arguments of :class:`CdmHook` (JSON values only when deferrable).
    """

    action = ClusterAction.START

    def send(self, cluster_id: str) -> list[str]:
        return self.hook.start_cluster(cluster_id)


class CdmStopClusterOperator(_CdmClusterOperator):
    """Stop a running CDM cluster and (by default) wait until it is Stopped (900).

    A cluster that is Stopped already costs one show-cluster call and no stop; one that is Stopping (910)
    is waited for. Returns what :class:`CdmStartClusterOperator` returns.

    :param stop_mode: ``"IMMEDIATELY"`` (default: active runs fail) or ``"GRACEFULLY"`` (CDM waits for them
        up to ``delay_time`` seconds).
    :param delay_time: seconds a graceful stop waits; -1 (default): no delay.

    The other parameters are :class:`CdmStartClusterOperator`'s.
    """

    action = ClusterAction.STOP

    def __init__(self, *, stop_mode: str = "IMMEDIATELY", delay_time: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        checked = ops.stop_cluster(_CHECKED_ID, stop_mode, delay_time).body[self.action.value]
        self.stop_mode: str = checked["stopMode"]
        self.delay_time: int = checked["delayTime"]

    def send(self, cluster_id: str) -> list[str]:
        return self.hook.stop_cluster(cluster_id, stop_mode=self.stop_mode, delay_time=self.delay_time)

    def delay_s(self) -> float:
        return float(max(0, self.delay_time))


class CdmRestartClusterOperator(_CdmClusterOperator):
    """Restart a CDM cluster (every run restarts it: there is no "restarted already") and wait until it is back.

    The restart counts as done once the cluster showed Restarting (500) and is Normal (200) again (or,
    if no read caught it restarting, once it has been Normal for 60 s past ``delay_time``). A cluster
    that is Restarting already when CDM refuses the restart is waited for. Returns what
    :class:`CdmStartClusterOperator` returns.

    :param restart_mode: ``"IMMEDIATELY"`` (default), ``"FORCELY"`` (the reference's spelling; ``"FORCIBLY"``
        is Terraform's, sent as written) or ``"SOFTLY"``.
    :param restart_level: ``"SERVICE"`` (default: CDM's service) or ``"VM"`` (the cluster's virtual machines).
    :param delay_time: seconds CDM waits before restarting (default 0).

    The other parameters are :class:`CdmStartClusterOperator`'s.
    """

    action = ClusterAction.RESTART

    def __init__(
        self, *, restart_mode: str = "IMMEDIATELY", restart_level: str = "SERVICE", delay_time: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        checked = ops.restart_cluster(_CHECKED_ID, restart_mode, restart_level, delay_time).body[self.action.value]
        self.restart_mode: str = checked["restartMode"]
        self.restart_level: str = checked["restartLevel"]
        self.delay_time: int = checked["restartDelayTime"]

    def send(self, cluster_id: str) -> list[str]:
        return self.hook.restart_cluster(
            cluster_id, restart_mode=self.restart_mode, restart_level=self.restart_level, delay_time=self.delay_time
        )

    def delay_s(self) -> float:
        return float(self.delay_time)
