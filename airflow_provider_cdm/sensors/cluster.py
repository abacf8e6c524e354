"""A sensor that waits until a CDM cluster's status is one of its targets (Normal, by default)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_cdm.api.statuses import ClusterStatus
from airflow_provider_cdm.client.cluster_wait import ClusterVerdict, ClusterWait
from airflow_provider_cdm.client.exceptions import CdmApiError
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators._cluster_waiting import (
    CdmClusterFailedError,
    check_cluster_event,
    cluster_result,
    describe,
    elapsed_since,
    make_cluster_trigger,
    timeout_words,
)
from airflow_provider_cdm.operators._waiting import check_hook_params, unreadable
from airflow_provider_cdm.progress import ProgressLog

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

__all__ = ["CdmClusterStatusSensor"]

# A rescheduling sensor's poke retries throttling this long, then gives its worker slot back.
RESCHEDULE_THROTTLED_S = 15.0
MIN_TRIGGER_POLL_S = 1.0

StatusLike = ClusterStatus | str | int


class CdmClusterStatusSensor(BaseSensorOperator):
    """Wait until a CDM cluster's status is one of ``target_statuses``; fail at once on a failure status.

    Statuses may be given as :class:`ClusterStatus` members, codes (``200``, ``"900"``) or names
    (``"NORMAL"``, ``"stopped"``); anything else is refused when the DAG is parsed. Defaults: Normal
    (200) is the target; Failed (300) and Creation failed (303) fail the task, unless listed as targets.
    A status in neither set (starting, stopping, frozen, ...) keeps the sensor waiting. With
    ``soft_fail=True`` a failure status (and the timeout) skips the task instead.

    Works in ``poke`` and ``reschedule`` modes, and deferrable (:class:`CdmClusterStatusTrigger`, its
    deadline from the sensor's ``timeout``, polling every ``poke_interval``). Returns (XCom
    ``return_value``) ``cluster_id``, ``cluster_name``, ``status``, ``status_label`` (the cluster operators'
    result, with ``action`` None).

    :param cluster_id: the cluster (templated); default: the connection's ``cluster_id`` extra.
    :param target_statuses: statuses that end the wait successfully (default Normal, 200; None: the same).
    :param failure_statuses: statuses that fail the task; None: 300 and 303, minus the targets.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param cdm_conn_id: the Airflow connection (type ``huaweicloud_cdm``).
    :param hook_params: extra keyword arguments of :class:`CdmHook`.
    """

    template_fields: Sequence[str] = ("cluster_id",)
    ui_color = "#e3d9f6"

    def __init__(
        self,
        *,
        cluster_id: str | None = None,
        target_statuses: Collection[StatusLike] | StatusLike | None = ("200",),
        failure_statuses: Collection[StatusLike] | StatusLike | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        cdm_conn_id: str = CdmHook.default_conn_name,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id
        self.wait = ClusterWait.for_statuses(target_statuses, failure_statuses)
        self.target_statuses = sorted(status.value for status in self.wait.targets)
        self.failure_statuses = sorted(status.value for status in self.wait.failures)
        self.deferrable = deferrable
        self.cdm_conn_id = cdm_conn_id
        self.hook_params = check_hook_params(hook_params)
        self._started = time.monotonic()

    @cached_property
    def hook(self) -> CdmHook:
        return CdmHook(self.cdm_conn_id, **self.hook_params)

    @cached_property
    def brief_hook(self) -> CdmHook:
        """The hook of a rescheduling poke: throttling is retried briefly, then the slot is given back."""
        retry = self.hook.settings.retry
        brief = dataclasses.replace(retry, throttled_s=min(retry.throttled_s, RESCHEDULE_THROTTLED_S))
        return CdmHook(self.cdm_conn_id, **{**self.hook_params, "retry_policy": brief})

    @cached_property
    def progress(self) -> ProgressLog:
        return ProgressLog(self.log)

    def poke(self, context: Context) -> PokeReturnValue | bool:
        hook = self.brief_hook if self.mode == "reschedule" else self.hook
        cluster_id = hook.resolve_cluster_id(self.cluster_id)
        try:
            cluster = hook.get_cluster(cluster_id)
        except CdmApiError as err:
            if not err.transient:
                raise
            unreadable(self.log, f"cluster {cluster_id}", err, "poking again later")
            return False
        decision = self.wait.judge(cluster.status, cluster=describe(cluster), raw=cluster.raw.get("status"))
        self.progress.report(str(cluster.raw.get("status")), "%s", decision.message)
        if decision.verdict is ClusterVerdict.DONE:
            result = cluster_result(
                cluster, action=None, waited_s=time.monotonic() - self._started, sent=False, job_ids=[]
            )
            return PokeReturnValue(is_done=True, xcom_value=result)
        if decision.verdict is ClusterVerdict.FAILED:
            self._fail(decision.message, cluster.to_json())
        return False

    def execute(self, context: Context) -> Any:  # noqa: RET503 - defer() raises
        self._started, started_at = time.monotonic(), time.time()
        if not self.deferrable:
            # Past Airflow 2's ExecutorSafeguard (see the job sensor): the base class's poke loop, unwrapped.
            poke_loop = getattr(BaseSensorOperator.execute, "__wrapped__", BaseSensorOperator.execute)
            return poke_loop(self, context)
        done = self.poke(context)
        if isinstance(done, PokeReturnValue) and done.is_done:
            return done.xcom_value
        cluster_id = self.hook.resolve_cluster_id(self.cluster_id)
        self.defer(
            trigger=make_cluster_trigger(
                [cluster_id],
                self.wait,
                end_time=time.time() + float(self.timeout),
                poll_interval=max(float(self.poke_interval), MIN_TRIGGER_POLL_S),
                cdm_conn_id=self.cdm_conn_id,
                hook_params=self.hook_params,
            ),
            method_name="execute_complete",
            kwargs={"cluster_id": cluster_id, "started_at": started_at},
        )

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        cluster_id: str | None = None,
        started_at: float | None = None,
    ) -> Any:
        """Resume after the trigger: check its event, then return the cluster or fail (skip when soft_fail)."""
        expected = cluster_id or self.hook.resolve_cluster_id(self.cluster_id)
        checked = check_cluster_event(event, [expected])
        if checked["status"] == "success":
            self.log.info("%s", checked["message"])
            waited_s = elapsed_since(started_at)
            return cluster_result(checked["cluster"], action=None, waited_s=waited_s, sent=False, job_ids=[])
        if checked["status"] == "failed":
            self._fail(checked["message"], checked["cluster"] or (checked["clusters"] or [None])[0])
        if checked["status"] == "timeout":
            wanted = " or ".join(self.target_statuses)
            message = timeout_words(
                f"cluster {expected} did not reach {wanted}", checked["clusters"], "the sensor's timeout"
            )
            if self.soft_fail:
                raise AirflowSkipException(f"Sensor timed out (soft_fail): {message}")
            raise AirflowSensorTimeout(f"Sensor timed out: {message}")
        raise AirflowException(f"Waiting for cluster {expected} failed: {checked['message'] or 'no reason given'}")

    def _fail(self, message: str, cluster: dict[str, Any] | None) -> None:
        if self.soft_fail:
            self.log.warning("%s", message)
            raise AirflowSkipException(f"Skipped (soft_fail): {message}")
        self.log.error("%s", message)
        raise CdmClusterFailedError(message, cluster=cluster)
