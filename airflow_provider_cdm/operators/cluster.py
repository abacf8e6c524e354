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
from airflow_provider_cdm.api.statuses import ClusterStatus
from airflow_provider_cdm.client import operations as ops
from airflow_provider_cdm.client.cluster_wait import ClusterVerdict, ClusterWait, Step, next_step
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
    read_cluster,
    shown_status,
    timeout_words,
)
from airflow_provider_cdm.operators._waiting import check_hook_params, check_seconds

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
# After a failed send, how long the cluster is watched for the action's effect before it is sent again (or
# the refusal stands): at least three polls. Huawei's Terraform provider waits 10 s before its first read.
SETTLE_WINDOW_S = 30.0
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
        return self._act(context, started_at=time.time())  # the timeout counts from here, across deferrals

    def _act(self, context: Context, *, started_at: float) -> dict[str, Any]:
        """Read the cluster, then per :func:`next_step`: done, wait, send, or let another action settle first.

        A failed send is never taken for a refusal by itself: the cluster is watched for a while
        (:meth:`_after_failed_send`) for the action's effect (CDM shows a new status with a lag), then the
        action is sent again when the failure says nothing reached CDM or the answer was lost, or the task
        fails with CDM's refusal. Transient read failures cost time until the timeout, never the task.
        """
        cluster_id = self.hook.resolve_cluster_id(self.cluster_id)
        deadline = time.monotonic() + max(0.0, started_at + self.timeout - time.time())
        cluster = self._read(cluster_id, deadline)
        self.log.info("%s is %s", describe(cluster), shown_status(cluster))
        sent, job_ids, sent_at = False, [], None
        while True:
            step = next_step(self.action, cluster.status, sent=sent)
            if step is Step.FAIL:
                self._fail_for(cluster)
            if step is Step.DONE:
                self.log.info("%s is %s already: no %s sent", describe(cluster), shown_status(cluster), self.verb)
                return cluster_result(cluster, action=self.verb, waited_s=0.0, sent=False, job_ids=[])
            if step is Step.WAIT:
                self.log.info("%s is on its way already: waiting for it (no %s sent)", describe(cluster), self.verb)
                break
            if step is Step.SETTLE:
                self.log.info(
                    "%s is %s: waiting for that to end before the %s",
                    describe(cluster),
                    shown_status(cluster),
                    self.verb,
                )
                cluster = self._settle(context, cluster_id, cluster, started_at, deadline)
                continue
            try:
                sent_at = time.time()
                job_ids = self.send(cluster_id)
            except CdmApiError as err:
                if err.kind is ErrorKind.AUTH:
                    raise
                cluster, taken = self._after_failed_send(cluster_id, cluster, err, deadline)
                if taken:  # by CDM for this task (a lost answer), or another task's identical action
                    sent = self.action is ClusterAction.RESTART  # a restart's wait must then see it restart
                    break
                continue  # nothing reached CDM, or its answer was lost and nothing changed: decide again
            sent = True
            self.log.info("Asked CDM to %s %s (CDM's action id(s): %s)", self.verb, describe(cluster), job_ids)
            cluster = self._read(cluster_id, deadline)
            break
        return self._await(context, cluster_id, cluster, started_at, deadline, sent, sent_at, job_ids)

    def _await(
        self,
        context: Context,
        cluster_id: str,
        first: Cluster,
        started_at: float,
        deadline: float,
        sent: bool,
        sent_at: float | None,
        job_ids: list[str],
    ) -> dict[str, Any]:
        """Wait (poll or defer) for the action's target, ``first`` being the last answer read."""
        wait = ClusterWait.for_action(self.action, sent_at=sent_at if sent else None, delay_s=self.delay_s())
        if sent and ClusterWait.passes(first.status):
            wait = ClusterWait.for_action(self.action)  # seen on its way: a restart's 200 now means it is back
        if not self.wait_for_completion:
            self.log.info("%s is %s: not waiting (wait_for_completion=False)", describe(first), shown_status(first))
            return cluster_result(first, action=self.verb, waited_s=0.0, sent=sent, job_ids=job_ids)
        decision = wait.judge(first.status, cluster=describe(first), raw=first.raw.get("status"))
        if decision.verdict is ClusterVerdict.DONE:
            self.log.info("%s", decision.message)
            return cluster_result(
                first, action=self.verb, waited_s=elapsed_since(started_at), sent=sent, job_ids=job_ids
            )
        if self.deferrable:
            state = {"cluster_id": cluster_id, "started_at": started_at, "sent": sent, "job_ids": job_ids}
            self._defer_on(context, cluster_id, wait, started_at, state, "execute_complete")
        there = self._poll(cluster_id, wait, first, deadline)
        return cluster_result(there, action=self.verb, waited_s=elapsed_since(started_at), sent=sent, job_ids=job_ids)

    def _poll(self, cluster_id: str, wait: ClusterWait, first: Cluster, deadline: float) -> Cluster:
        """Poll until ``wait`` is done (the cluster then), fails (raised) or the timeout ends it (raised)."""
        outcome = poll_clusters(
            self.hook,
            [cluster_id],
            wait,
            poll_interval=self.poll_interval,
            deadline=deadline,
            log=self.log,
            first={cluster_id: first},
        )
        if outcome.cluster is None:
            message = timeout_words(self._gave_up(first), outcome.last, f"timeout {self.timeout:g} s")
            self.log.error("%s", message)
            raise CdmClusterTimeoutError(message)
        return outcome.cluster

    def _defer_on(
        self,
        context: Context,
        cluster_id: str,
        wait: ClusterWait,
        started_at: float,
        state: dict[str, Any],
        method: str,
    ) -> None:
        context["ti"].xcom_push(key=ACTION_KEY, value=state)  # dag.test() resumes without the kwargs
        self.defer(
            trigger=make_cluster_trigger(
                [cluster_id],
                wait,
                end_time=started_at + self.timeout,
                poll_interval=self.poll_interval,
                cdm_conn_id=self.cdm_conn_id,
                hook_params=self.hook_params,
            ),
            method_name=method,
            kwargs=state,
        )

    def _read(self, cluster_id: str, deadline: float) -> Cluster:
        """The cluster, however long transient failures last, until the timeout (then the timeout error)."""
        cluster = read_cluster(self.hook, cluster_id, deadline=deadline, poll_interval=self.poll_interval, log=self.log)
        if cluster is None:
            message = f"{self._gave_up_on(cluster_id)}: the cluster could not be read before timeout {self.timeout:g} s"
            self.log.error("%s", message)
            raise CdmClusterTimeoutError(message)
        return cluster

    def _settle(
        self, context: Context, cluster_id: str, cluster: Cluster, started_at: float, deadline: float
    ) -> Cluster:
        """Wait until another action under way ends (Normal or Stopped); deferred, the task resumes in
        :meth:`execute_after_settle` and decides again."""
        wait = ClusterWait.settled()
        if self.deferrable:
            state = {"cluster_id": cluster_id, "started_at": started_at, "sent": False, "job_ids": []}
            self._defer_on(context, cluster_id, wait, started_at, state, "execute_after_settle")
        return self._poll(cluster_id, wait, cluster, deadline)

    def _after_failed_send(
        self, cluster_id: str, before: Cluster, err: CdmApiError, deadline: float
    ) -> tuple[Cluster, bool]:
        """After the action failed: watch the cluster for its effect for a while (CDM shows a new status with
        a lag; another task's action may have been taken). Returns the last answer and whether the action (or
        an identical one) was taken. Raises when CDM refused it and nothing changed."""
        refused = not err.transient
        reason = f"CDM refused the {self.verb} ({err})" if refused else f"CDM did not answer the {self.verb} ({err})"
        window = max(3 * self.poll_interval, SETTLE_WINDOW_S)
        until = min(deadline, time.monotonic() + window)
        self.log.info("%s: watching %s for up to %.0f s for it to take effect", reason, describe(before), window)
        cluster = before
        while True:
            if self._taken(cluster, before):
                self.log.info("%s is %s: the %s was taken", describe(cluster), shown_status(cluster), self.verb)
                return cluster, True
            step = next_step(self.action, cluster.status)
            if step is not Step.SEND and cluster is not before:
                return cluster, False  # something else changed it: decide again
            remaining = until - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(self.poll_interval, remaining))
            cluster = (
                read_cluster(self.hook, cluster_id, deadline=until, poll_interval=self.poll_interval, log=self.log)
                or cluster
            )
        if time.monotonic() >= deadline:
            message = f"{self._gave_up(cluster)}: {reason}, and timeout {self.timeout:g} s ran out"
            self.log.error("%s", message)
            raise CdmClusterTimeoutError(message)
        if refused:
            message = f"{reason}; {describe(cluster)} is still {shown_status(cluster)}"
            self.log.error("%s", message)
            raise AirflowException(message) from err
        self.log.info("%s is still %s: sending the %s again", describe(cluster), shown_status(cluster), self.verb)
        return cluster, False

    def _taken(self, cluster: Cluster, before: Cluster) -> bool:
        """The action shows its effect: on its way or (but for a restart) there; a restart also by CDM's
        ``actions`` (REBOOTING during its delay)."""
        rule = self.action.rule
        if self.action is ClusterAction.RESTART:
            return cluster is not before and self._shows_restart(cluster)
        return rule.under_way(cluster.status) or rule.reached(cluster.status)

    @staticmethod
    def _shows_restart(cluster: Cluster) -> bool:
        """Restarting (500), or Normal with CDM's ``actions`` saying a restart is coming (its delay)."""
        actions = cluster.raw.get("actions")
        return cluster.status is ClusterStatus.RESTARTING or bool(actions and actions != "[]")

    def _fail_for(self, cluster: Cluster) -> None:
        """A failed, never created or frozen cluster (no action gets it anywhere), or one in a status the action
        cannot start from."""
        decision = ClusterWait.running().judge(cluster.status, cluster=describe(cluster), raw=cluster.raw.get("status"))
        if decision.verdict is ClusterVerdict.FAILED:
            message = f"{decision.message} (no {self.verb} sent)"
        else:
            message = f"cannot {self.verb} {describe(cluster)}, which is {shown_status(cluster)} (no {self.verb} sent)"
        self.log.error("%s", message)
        raise CdmClusterFailedError(message, cluster=cluster.to_json())

    def _gave_up_on(self, cluster_id: str) -> str:
        return f"gave up waiting for cluster {cluster_id} to {self.verb}"

    def execute_after_settle(
        self, context: Context, event: dict[str, Any] | None = None, cluster_id: str | None = None, **state: Any
    ) -> dict[str, Any]:
        """Resume after another action under way ended: check the event, then decide again (the timeout still
        counts from the task's start)."""
        state = self._resumed(context, event, {"cluster_id": cluster_id, **state})
        started_at = state.get("started_at")
        return self._act(context, started_at=float(started_at) if isinstance(started_at, (int, float)) else time.time())

    def _resumed(self, context: Context, event: object, state: dict[str, Any]) -> dict[str, Any]:
        """What the task knew when it deferred (its keyword arguments, or, as ``dag.test()`` passes none, its
        ``cdm_cluster_action`` XCom) with the event's cluster under ``cluster``; the event's failure, timeout
        or error raised."""
        if state.get("cluster_id") is None:
            ti = context["ti"]
            state = ti.xcom_pull(task_ids=ti.task_id, key=ACTION_KEY, map_indexes=ti.map_index) or {}
        cluster_id = state.get("cluster_id")
        if not isinstance(cluster_id, str) or not cluster_id:
            cluster_id = self.hook.resolve_cluster_id(self.cluster_id)
        checked = check_cluster_event(event, [cluster_id])
        cluster = raise_for_event(checked, self._gave_up_on(cluster_id), f"timeout {self.timeout:g} s", self.log)
        return {**state, "cluster_id": cluster_id, "cluster": cluster}

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
        given = {"cluster_id": cluster_id, "started_at": started_at, "sent": sent, "job_ids": job_ids}
        state = self._resumed(context, event, given)
        return cluster_result(
            state["cluster"],
            action=self.verb,
            waited_s=elapsed_since(state.get("started_at")),
            sent=bool(state.get("sent")),
            job_ids=[str(item) for item in state.get("job_ids") or []],
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
    :param delay_time: the most seconds a graceful stop lets active runs go on; -1 (default): as long as they
        take (an IMMEDIATELY stop ignores it).

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
