"""A sensor that waits for a CDM job's run to end, judged as the start operators judge it."""

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

from airflow_provider_cdm.client.exceptions import CdmApiError, CdmConfigError
from airflow_provider_cdm.client.follow import RunFollower
from airflow_provider_cdm.client.operations import check_job_name
from airflow_provider_cdm.client.runs import RunRef, Verdict
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators._waiting import (
    CdmJobFailedError,
    check_event,
    check_hook_params,
    describe_run,
    failure_message,
    make_rules,
    make_trigger,
    read_run,
    status_of,
    unreadable,
)
from airflow_provider_cdm.progress import ProgressLog, outcome_text, progress_text, run_label

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

__all__ = ["CdmJobStatusSensor"]

# A rescheduling sensor's poke retries throttling this long, then gives its worker slot back.
RESCHEDULE_THROTTLED_S = 15.0
# The trigger polls at most this often: Airflow lets a sensor poke every 0 s, a trigger needs a pause.
MIN_TRIGGER_POLL_S = 1.0


class CdmJobStatusSensor(BaseSensorOperator):
    """Wait until a CDM job's latest run (or the run ``submission_id``) ends; fail fast when it fails.

    Defaults: ``SUCCEEDED`` succeeds; ``FAILED``, ``FAILURE_ON_SUBMIT`` and ``UNKNOWN`` fail at once
    with CDM's error summary and details, so the sensor never waits forever on UNKNOWN. No run yet (an
    empty status answer, or ``NEVER_EXECUTED``, as CDM answers for a job that never ran) is never success:
    the sensor keeps waiting, up to its ``timeout``. A job CDM retries (``RETRY_TRIPLE``) is waited for
    through its retries; a disposable job CDM deletes after its run is judged by its
    ``disposableType`` (``client.follow``). With ``soft_fail=True`` a failed run (and the
    timeout) skips the task instead of failing it.

    Works in ``poke`` and ``reschedule`` modes, and deferrable (the same trigger as the start operators,
    its deadline from the sensor's ``timeout``, polling every ``poke_interval``). Returns the run as
    JSON (``Submission.to_json()``), pushed to XCom as ``return_value``.

    :param job_name: the job (templated).
    :param cluster_id: the cluster (templated); default: the connection's ``cluster_id`` extra.
    :param submission_id: the run to wait for (templated, e.g. the start operator's ``submission_id``
        XCom); default: whichever run is the job's latest. With it, an older run's result is never
        taken for this run's, and a run that a newer one followed is read from the run history.
    :param success_statuses: statuses that end the wait successfully.
    :param failure_statuses: statuses that fail the task.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param cdm_conn_id: the Airflow connection (type ``huaweicloud_cdm``).
    :param hook_params: extra keyword arguments of :class:`CdmHook`.
    """

    template_fields: Sequence[str] = ("job_name", "cluster_id", "submission_id")
    ui_color = "#d9f0c7"

    def __init__(
        self,
        *,
        job_name: str,
        cluster_id: str | None = None,
        submission_id: int | str | None = None,
        success_statuses: Collection[str] | None = None,
        failure_statuses: Collection[str] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        cdm_conn_id: str = CdmHook.default_conn_name,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.cluster_id = cluster_id
        self.submission_id = submission_id
        self.success_statuses = success_statuses
        self.failure_statuses = failure_statuses
        self.rules = make_rules(success_statuses, failure_statuses)
        self.deferrable = deferrable
        self.cdm_conn_id = cdm_conn_id
        self.hook_params = check_hook_params(hook_params)
        self._follower: RunFollower | None = None

    @cached_property
    def hook(self) -> CdmHook:
        return CdmHook(self.cdm_conn_id, **self.hook_params)

    def watched_run(self) -> RunRef:
        """The run this sensor watches, from its rendered fields; checked before any request."""
        job_name = check_job_name(self.job_name)
        return RunRef(job_name, self.hook.resolve_cluster_id(self.cluster_id), _submission_id(self.submission_id))

    @cached_property
    def progress(self) -> ProgressLog:
        """Progress lines of the pokes: at INFO on a change of status, else about once a minute (per
        worker process: a rescheduled poke starts afresh)."""
        return ProgressLog(self.log)

    @cached_property
    def brief_hook(self) -> CdmHook:
        """The hook of a rescheduling poke: throttling is retried briefly, then the slot is given back."""
        retry = self.hook.settings.retry
        brief = dataclasses.replace(retry, throttled_s=min(retry.throttled_s, RESCHEDULE_THROTTLED_S))
        return CdmHook(self.cdm_conn_id, **{**self.hook_params, "retry_policy": brief})

    def poke(self, context: Context) -> PokeReturnValue | bool:
        run = self.watched_run()
        hook = self.brief_hook if self.mode == "reschedule" else self.hook
        if self._follower is None or self._follower.run.job_name != run.job_name:
            self._follower = RunFollower(run, self.rules)  # a poke-mode sensor keeps it from poke to poke
        try:
            decision = read_run(hook, self._follower)
        except CdmApiError as err:
            if not err.transient:
                raise
            # Throttled or CDM briefly unavailable (after the retries): not an answer, so not yet.
            unreadable(self.log, describe_run(run), err, "poking again later")
            return False
        submission, run = decision.submission, self._follower.run
        current = submission.to_json() if submission else None
        label = run_label(run.job_name, run.submission_id, latest=True)
        self.progress.report(status_of(submission), "%s: %s", label, progress_text(current))
        if decision.message:
            self.log.info("%s", decision.message)
        if decision.verdict is Verdict.SUCCEEDED and current is not None:
            self.log.info("%s %s", run_label(run.job_name, current.get("submission_id")), outcome_text(current))
            return PokeReturnValue(is_done=True, xcom_value=current)
        if decision.verdict is Verdict.FAILED:
            self._fail(run, current, decision.message)
        return False

    def execute(self, context: Context) -> Any:  # noqa: RET503 - defer() raises
        if not self.deferrable:
            # Past Airflow 2's ExecutorSafeguard: its wrapper of the base class's execute takes a subclass's
            # super() call for a call outside the task instance and warns on every sensor task.
            poke_loop = getattr(BaseSensorOperator.execute, "__wrapped__", BaseSensorOperator.execute)
            return poke_loop(self, context)
        done = self.poke(context)
        if isinstance(done, PokeReturnValue) and done.is_done:
            return done.xcom_value
        run = self._follower.run if self._follower is not None else self.watched_run()  # options, once read
        self.defer(
            trigger=make_trigger(
                run,
                end_time=time.time() + float(self.timeout),
                poll_interval=max(float(self.poke_interval), MIN_TRIGGER_POLL_S),
                cdm_conn_id=self.cdm_conn_id,
                rules=self.rules,
                stop_on_kill=False,  # the sensor watches a run it did not start
                hook_params=self.hook_params,
            ),
            method_name="execute_complete",
            kwargs={"run": run.to_json()},
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, run: dict[str, Any] | None = None
    ) -> Any:
        """Resume after the trigger: check its event, then return the run's JSON or fail (skip when soft_fail)."""
        expected = RunRef.from_json(run) if run is not None else self.watched_run()
        checked = check_event(event, expected)
        if checked["status"] == "success":
            current = checked["submission"]
            self.log.info("%s %s", run_label(expected.job_name, current.get("submission_id")), outcome_text(current))
            return checked["submission"]
        if checked["status"] == "failed":
            self._fail(expected, checked["submission"], checked["message"])
        message = f"{describe_run(expected)}: {checked['message'] or checked['status']}"
        if checked["status"] == "timeout":
            if self.soft_fail:
                raise AirflowSkipException(f"Sensor timed out (soft_fail): {message}")
            raise AirflowSensorTimeout(f"Sensor timed out: {message}")
        raise AirflowException(f"Waiting for {message}")

    def _fail(self, run: RunRef, submission: dict[str, Any] | None, fallback: str = "") -> None:
        message = failure_message(run, submission, fallback)
        if self.soft_fail:
            self.log.warning("%s", message)
            raise AirflowSkipException(f"Skipped (soft_fail): {message}")
        self.log.error("%s", message)
        raise CdmJobFailedError(message, run=run, submission=submission)


def _submission_id(value: object) -> int | None:
    """A run id given as a number or a rendered template (``"None"`` or empty: no run given)."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "None")):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise CdmConfigError("submission_id", f"got {value!r}", "a CDM submission id (an integer) or None")
