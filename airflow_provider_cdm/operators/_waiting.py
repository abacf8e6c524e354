"""Waiting for one CDM run: what the start operators and the sensor share.

A wait is bound to a run (:class:`RunRef`) and every status answer is judged by :class:`StatusRules`
(``client.runs``: the one place that decides what a status means). This module reads the status,
resolves a run that a newer one superseded from the run history, polls until a verdict or a
deadline, stops a run a task owns, checks the trigger's events and shapes what a task returns or
raises. :class:`WaitingOperator` is the base of the two operators that start a run and wait for it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Collection, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from airflow.providers.common.compat.sdk import AirflowException, BaseOperator, conf

from airflow_provider_cdm import console
from airflow_provider_cdm.api.counters import COUNTER_NAMES
from airflow_provider_cdm.api.errors import ErrorKind
from airflow_provider_cdm.api.job_options import JobOptions
from airflow_provider_cdm.api.statuses import JobStatus
from airflow_provider_cdm.client.exceptions import CdmApiError, CdmJobNotFoundError, CdmJobNotRunningError
from airflow_provider_cdm.client.follow import Decision, RunFollower
from airflow_provider_cdm.client.models import Submission
from airflow_provider_cdm.client.runs import EVENT_STATUSES, RunRef, StatusRules, Verdict
from airflow_provider_cdm.client.settings import settings_keywords
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators._outlets import record_outlet_extras
from airflow_provider_cdm.progress import ProgressLog, outcome_text, progress_text, run_label

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger

# XCom keys a start task pushes as soon as its run is known.
SUBMISSION_ID_KEY = "submission_id"
RUN_KEY = "cdm_run"  # RunRef.to_json(): what execute_complete checks the trigger's event against
# The method Airflow (2.x and 3.x) resumes a deferred task with when it gives up on its trigger.
AIRFLOW_FAIL_METHOD = "__fail__"
# The trigger's deadline when a task sets no timeout of its own: far enough to never be reached.
NO_DEADLINE_S = 10 * 365 * 24 * 3600.0
# How long a stop may take to end a run before a restart, replace or delete gives up, and how often to look.
STOP_WAIT_S = 300.0
STOP_POLL_S = 2.0


class Log(Protocol):
    """What is logged to: an operator's ``self.log`` on either Airflow line."""

    def info(self, message: str, /, *args: Any) -> Any: ...

    def warning(self, message: str, /, *args: Any) -> Any: ...

    def error(self, message: str, /, *args: Any) -> Any: ...

    def log(self, level: int, message: str, /, *args: Any) -> Any: ...


class CdmJobFailedError(AirflowException):
    """The watched run ended in a failure status; the message carries CDM's status and error details."""

    def __init__(self, message: str, *, run: RunRef, submission: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.run = run
        self.submission = dict(submission) if submission is not None else None


class CdmJobTimeoutError(AirflowException):
    """The watched run did not end within the task's own ``timeout``."""

    def __init__(self, run: RunRef, elapsed_s: float | None, timeout: float | None, *, stopped: bool) -> None:
        self.run, self.elapsed_s, self.timeout, self.stopped = run, elapsed_s, timeout, stopped
        waited = f"after {elapsed_s:.1f} s" if elapsed_s is not None else "at its deadline"
        limit = f" (timeout {timeout:g} s)" if timeout is not None else ""
        outcome = "stopped the CDM job" if stopped else "left the CDM job as it is"
        super().__init__(f"{describe_run(run)} had not finished {waited}{limit}; {outcome}")


# --- parameters -------------------------------------------------------------------------------------


def check_choice(name: str, value: object, choices: Collection[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}={value!r} is not valid; expected one of {', '.join(repr(c) for c in choices)}")
    return value


def check_seconds(name: str, value: object, *, expected: str = "a positive number of seconds") -> float:
    """A positive, finite number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value!r} is not valid; expected {expected}")
    return float(value)


def check_limit(name: str, value: object) -> float | None:
    """A positive, finite number of seconds, or None for no limit."""
    if value is None:
        return None
    return check_seconds(name, value, expected="a positive number of seconds or None (no limit)")


def check_hook_params(value: object) -> dict[str, Any]:
    """CdmHook keyword arguments; unknown keys are refused now (DAG parse), not when the hook is made."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"hook_params={value!r} is not valid; expected a dict of CdmHook keyword arguments or None")
    known = settings_keywords()
    unknown = sorted(str(key) for key in value if key not in known)
    if unknown:  # only the keys: a value (a proxy URL) may hold credentials
        raise TypeError(f"hook_params has unknown key(s) {unknown}; expected any of {sorted(known)}")
    return dict(value)


def make_rules(success_statuses: Any, failure_statuses: Any) -> StatusRules:
    return StatusRules.from_names(success_statuses, failure_statuses)


# --- what a run looks like in logs, results and errors ----------------------------------------------


def describe_run(run: RunRef) -> str:
    which = f"run {run.submission_id}" if run.submission_id is not None else "the run"
    return f"{which} of CDM job {run.job_name!r} in cluster {run.cluster_id}"


def bind_run(submission: Submission, job_name: str, cluster_id: str, sent_at_ms: int | None = None) -> RunRef:
    """The run a start answer (or an attached status answer) names, under the job name the task asked for."""
    return dataclasses.replace(RunRef.of(submission, cluster_id, sent_at_ms=sent_at_ms), job_name=job_name)


def failure_message(run: RunRef, submission: Mapping[str, Any] | None, fallback: str = "") -> str:
    """CDM's status, error summary and error details of a failed run."""
    if submission is None:
        return f"{describe_run(run)} failed: {fallback or 'CDM reported no details'}"
    status = JobStatus.parse(submission.get("status"))
    if fallback and (status is None or not status.is_terminal):  # decided by what came after the last answer
        return f"{describe_run(run)} failed: {fallback} (last seen: {progress_text(submission)})"
    lines = [f"{describe_run(run)} ended with status {submission.get('status')}"]
    lines.append(f"error summary: {submission.get('error_summary') or 'none given by CDM'}")
    if submission.get("error_details"):
        lines.append(f"error details: {submission['error_details']}")
    return "\n".join(lines)


def run_result(run: RunRef, submission: Mapping[str, Any]) -> dict[str, Any]:
    """What a start task returns (JSON): the run, its status, counters, volumes and times.

    ``counters`` holds every documented counter (None where CDM did not report it, e.g. a success the
    job list reported, which carries only rows, bytes and files read and written), so its shape does
    not depend on how the run was read.
    """
    counters: dict[str, Any] = dict.fromkeys(COUNTER_NAMES)
    counters.update(submission.get("counters") or {})
    status = JobStatus.parse(submission.get("status"))
    rows_written = counters["ROWS_WRITTEN"]
    if rows_written is None and status is not None and status.is_terminal:
        rows_written = submission.get("rows_written")  # the run's flat count, when CDM gave no counters
    return {
        "job_name": run.job_name,
        "cluster_id": run.cluster_id,
        "submission_id": submission.get("submission_id", run.submission_id),
        "status": submission.get("status"),
        "progress": submission.get("progress"),
        "rows_read": counters.get("ROWS_READ"),
        "rows_written": rows_written,  # None until the run ended: a running count is no result
        "bytes_read": counters.get("BYTES_READ"),
        "bytes_written": counters.get("BYTES_WRITTEN"),
        "counters": counters,
        "started_at": submission.get("execute_date") or submission.get("creation_date"),
        "ended_at": submission.get("last_update_date") if status is not None and status.is_terminal else None,
    }


# --- reading and waiting ----------------------------------------------------------------------------


def read_run(hook: CdmHook, follower: RunFollower) -> Decision:
    """The decision on the watched run now; a run superseded by a newer one is read from the run history.

    The job's options are read (once) when an answer depends on them (``client.follow``); a job CDM
    deleted after its run, as its definition asks, is decided by them; any other missing job is raised.
    """
    run = follower.run
    try:
        latest = hook.get_job_status(run.job_name, run.cluster_id)
    except CdmJobNotFoundError:
        gone = follower.on_gone()
        if gone is None:
            raise
        return gone
    learn_options(hook, follower, latest)
    decision = follower.on_answer(latest)
    if decision.verdict is not Verdict.SUPERSEDED or latest is None:
        return decision
    ours = next((item for item in hook.list_submissions(run.job_name, run.cluster_id) if run.relation(item) == 0), None)
    if ours is None:
        raise CdmJobFailedError(
            f"{describe_run(run)} was followed by run {latest.submission_id} and is not in the run history: "
            "its outcome is unknown",
            run=run,
        )
    learn_options(hook, follower, ours)
    return follower.on_history(ours, latest)


def learn_options(hook: CdmHook, follower: RunFollower, submission: Submission | None) -> None:
    """Read the job's options when judging ``submission`` needs them (a job already gone leaves them unknown)."""
    if not follower.needs_options(submission):
        return
    run = follower.run
    try:
        job = hook.get_job(run.job_name, run.cluster_id)
    except CdmJobNotFoundError:
        return
    follower.learn(JobOptions.of_definition(job.definition()))


def wait_for_run(
    hook: CdmHook,
    run: RunRef | RunFollower,
    rules: StatusRules,
    first: Submission | None,
    *,
    poll_interval: float,
    deadline: float,
    log: Log,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[RunRef, Submission | None]:
    """Poll until the run succeeds (returned) or fails (raised), or ``deadline`` (on ``clock``) passed
    (returned with None). The run returned is the one waited for last: CDM's retry, perhaps.

    ``run`` is the run, or the follower that already knows about it (the job's options, once read).
    Progress is logged at INFO when the status changes and otherwise about once a minute (``ProgressLog``).
    """
    follower = run if isinstance(run, RunFollower) else RunFollower(run, rules)
    learn_options(hook, follower, first)
    decision = follower.on_answer(first)
    progress = ProgressLog(log, clock=clock)
    progress.mark(status_of(first))  # the task logged the first answer already
    while True:
        if decision.message:
            log.info("%s", decision.message)
        submission = decision.submission
        if decision.verdict is Verdict.SUCCEEDED and submission is not None:
            return follower.run, submission
        if decision.verdict is Verdict.FAILED:
            raise failed(follower.run, submission.to_json() if submission else None, log, decision.message)
        remaining = deadline - clock()
        if remaining <= 0:
            return follower.run, None
        sleep(min(poll_interval, remaining))
        try:
            decision = read_run(hook, follower)
        except CdmApiError as err:
            if not err.transient:
                raise
            unreadable(log, describe_run(follower.run), err, "trying again at the next poll")
            decision = Decision(Verdict.WAITING, None)
            continue
        progress.report(
            status_of(decision.submission),
            "%s: %s",
            run_label(follower.run.job_name, follower.run.submission_id),
            progress_text(decision.submission.to_json() if decision.submission else None),
        )


def unreadable(log: Log, what: str, err: CdmApiError, then: str) -> None:
    """A read that failed transiently after its retries: throttling is pacing (INFO), anything else a warning."""
    if err.kind is ErrorKind.THROTTLED:
        log.info("%s: CDM is throttling its API (%s); %s", what, err, then)
    else:
        log.warning("%s: status unreadable (%s); %s", what, err, then)


def status_of(submission: Submission | None) -> str | None:
    """What a progress line's level depends on: the run's status (None: no run known yet)."""
    return submission.status_text if submission is not None else None


def failed(run: RunRef, submission: Mapping[str, Any] | None, log: Log, fallback: str = "") -> CdmJobFailedError:
    message = failure_message(run, submission, fallback)
    log.error("%s", message)
    return CdmJobFailedError(message, run=run, submission=submission)


def stop_run(hook: CdmHook, run: RunRef, log: Log) -> bool:
    """Stop the run if it is CDM's latest and still active (never another run of the job)."""
    latest = hook.get_job_status(run.job_name, run.cluster_id)
    if latest is None or not latest.is_active or run.relation(latest) != 0:
        log.info("Not stopping %s: it is no longer active", describe_run(run))
        return False
    try:
        refusals = hook.stop_job(run.job_name, run.cluster_id)
    except CdmJobNotRunningError:
        log.info("Not stopping %s: it ended meanwhile", describe_run(run))
        return False
    if refusals:
        log.warning("CDM did not stop %s: %s", describe_run(run), "; ".join(m.message for m in refusals))
        return False
    log.info("Stopped %s", describe_run(run))
    return True


def stop_quietly(hook: CdmHook, run: RunRef, log: Log) -> bool:
    """:func:`stop_run` where the task already has its error (a timeout, a kill): a refusal is only logged."""
    try:
        return stop_run(hook, run, log)
    except CdmApiError as err:
        log.warning("Could not stop %s: %s", describe_run(run), err)
        return False


def stop_and_settle(
    hook: CdmHook,
    job_name: str,
    cluster_id: str,
    log: Log,
    *,
    limit_s: float = STOP_WAIT_S,
    poll_interval: float = STOP_POLL_S,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Stop the job's active run (if any) and wait until it is no longer active; True if one was stopped."""
    try:
        refusals = hook.stop_job(job_name, cluster_id)
    except CdmJobNotRunningError:
        log.info("CDM job %r in cluster %s is not running: nothing to stop", job_name, cluster_id)
        return False
    if refusals:
        reasons = "; ".join(f"{m.status}: {m.message}" for m in refusals)
        raise AirflowException(f"CDM refused to stop job {job_name!r} in cluster {cluster_id}: {reasons}")
    deadline = time.monotonic() + limit_s
    while True:
        try:
            latest = hook.get_job_status(job_name, cluster_id)
        except CdmApiError as err:
            if not err.transient or time.monotonic() >= deadline:
                raise
            unreadable(log, f"CDM job {job_name!r} in cluster {cluster_id}", err, "looking again")
            sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))
            continue
        if latest is None or not latest.is_active:
            log.info(
                "Stopped CDM job %r in cluster %s (%s)",
                job_name,
                cluster_id,
                progress_text(latest.to_json() if latest else None),
            )
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AirflowException(
                f"CDM job {job_name!r} in cluster {cluster_id} is still {latest.status_text} "
                f"{limit_s:g} s after it was stopped"
            )
        sleep(min(poll_interval, remaining))


# --- trigger events ---------------------------------------------------------------------------------


def check_event(event: object, run: RunRef) -> dict[str, Any]:
    """The trigger's event, checked: a dict with a known status, about ``run``; else raise naming the problem.

    ``followed`` is the run the trigger watched last, when CDM's retry took over from ``run`` (else None).
    """
    if not isinstance(event, Mapping):
        raise AirflowException(f"The trigger's event must be a dict; got {type(event).__name__} {event!r:.200}")
    status = event.get("status")
    if status not in EVENT_STATUSES:
        raise AirflowException(
            f"The trigger's event has status {status!r}; expected one of {', '.join(EVENT_STATUSES)}"
        )
    about = event.get("run")
    try:
        other = RunRef.from_json(about)  # type: ignore[arg-type]
    except (KeyError, TypeError, AttributeError):
        raise AirflowException(
            f"The trigger's event names no run (run={about!r:.200}); expected {run.to_json()}"
        ) from None
    if (other.job_name, other.cluster_id, other.submission_id) != (run.job_name, run.cluster_id, run.submission_id):
        raise AirflowException(
            f"The trigger's event is about {describe_run(other)}, but this task waits for {describe_run(run)}"
        )
    submission = event.get("submission")
    if submission is not None and not isinstance(submission, Mapping):
        raise AirflowException(f"The trigger's event has submission={submission!r:.200}; expected a dict or None")
    if status == "success" and submission is None:
        raise AirflowException("The trigger's success event carries no submission")
    followed = event.get("followed")
    if followed is not None:
        try:
            RunRef.from_json(followed)
        except (KeyError, TypeError, AttributeError, ValueError):
            raise AirflowException(f"The trigger's event has followed={followed!r:.200}; expected a run") from None
    return {
        "status": status,
        "run": dict(about),  # type: ignore[arg-type]
        "submission": submission,
        "message": str(event.get("message") or ""),
        "followed": dict(followed) if followed is not None else None,
    }


def note_run_id(context: Context, started: RunRef, submission_id: object) -> None:
    """Push the run's id once CDM reported it, when the start answer had none (sparse answers) or CDM's
    retry took over: the ``submission_id`` XCom then names the run whose outcome is the task's."""
    if (
        isinstance(submission_id, int)
        and not isinstance(submission_id, bool)
        and submission_id != started.submission_id
    ):
        context["ti"].xcom_push(key=SUBMISSION_ID_KEY, value=submission_id)


def deferred_run(context: Context, run: Mapping[str, Any] | None) -> RunRef:
    """The run a task deferred on: as passed back to it, else from its own ``cdm_run`` XCom."""
    if run is None:
        ti = context["ti"]
        run = ti.xcom_pull(task_ids=ti.task_id, key=RUN_KEY, map_indexes=ti.map_index)
    if not isinstance(run, Mapping):
        raise AirflowException(
            f"The run this task deferred on is unknown: not passed back to execute_complete and no {RUN_KEY!r} XCom"
        )
    try:
        return RunRef.from_json(run)
    except (KeyError, TypeError):
        raise AirflowException(f"The run this task deferred on is unreadable: {run!r:.200}") from None


def make_trigger(
    run: RunRef,
    *,
    end_time: float,
    poll_interval: float,
    cdm_conn_id: str,
    rules: StatusRules,
    stop_on_kill: bool,
    hook_params: Mapping[str, Any],
) -> CdmJobStatusTrigger:
    """The trigger that waits for ``run``."""
    from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger  # the triggerer's side: not at DAG parse

    return CdmJobStatusTrigger(
        run=run.to_json(),
        end_time=end_time,
        poll_interval=poll_interval,
        cdm_conn_id=cdm_conn_id,
        rules=rules.to_json(),
        stop_on_kill=stop_on_kill,
        hook_params=dict(hook_params) or None,
    )


# --- the start operators' base ----------------------------------------------------------------------


class WaitingOperator(BaseOperator):
    """Starts (or attaches to) one run, then returns at once, polls, or defers to the trigger.

    Subclasses implement :meth:`begin`, returning the run and the latest answer about it.
    """

    def __init__(
        self,
        *,
        cdm_conn_id: str = CdmHook.default_conn_name,
        hook_params: dict[str, Any] | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = 10,
        timeout: float | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        stop_on_timeout: bool = True,
        success_statuses: Collection[str] | None = None,
        failure_statuses: Collection[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cdm_conn_id = cdm_conn_id
        self.hook_params = check_hook_params(hook_params)
        self.wait_for_completion = wait_for_completion
        self.poll_interval = check_seconds("poll_interval", poll_interval)
        self.timeout = check_limit("timeout", timeout)
        self.deferrable = deferrable
        self.stop_on_timeout = stop_on_timeout
        self.success_statuses = success_statuses
        self.failure_statuses = failure_statuses
        self.rules = make_rules(success_statuses, failure_statuses)
        self.run_ref: RunRef | None = None
        self.run_result: dict[str, Any] | None = None  # what the task returned (its lineage reads it)

    @cached_property
    def hook(self) -> CdmHook:
        return CdmHook(self.cdm_conn_id, **self.hook_params)

    def begin(self, context: Context) -> tuple[RunRef, Submission | None]:
        raise NotImplementedError

    def execute(self, context: Context) -> dict[str, Any]:
        started, started_at = time.monotonic(), time.time()  # the task's own timeout counts from here
        console.no_link_yet(self)  # until CDM knows the run: a task that fails before has no link
        run, submission = self.begin(context)
        # A sparse start answer (no id): read the run once when no wait will (the XCom names it), or when
        # it failed on submit without CDM's words (the status answer carries them).
        silent_failure = submission is not None and submission.is_failure and not submission.error_summary
        if run.submission_id is None and submission is not None and (not self.wait_for_completion or silent_failure):
            run, submission = self.learn_run_id(run, submission)
        self.run_ref = run
        context["ti"].xcom_push(key=SUBMISSION_ID_KEY, value=run.submission_id)
        context["ti"].xcom_push(key=RUN_KEY, value=run.to_json())
        console.persist(context, self.hook.settings, run.cluster_id, run.job_name)
        current = submission.to_json() if submission else None
        self.log.info("%s: %s", describe_run(run), progress_text(current))
        if not self.wait_for_completion:
            self.run_result = run_result(run, current or {"status": None})
            return record_outlet_extras(context, self, self.run_result, waited=False)
        follower = RunFollower(run, self.rules)
        if self.deferrable:
            learn_options(self.hook, follower, submission)
        if self.deferrable and follower.on_answer(submission).verdict is Verdict.WAITING:
            run = follower.run  # with the job's options, when this answer needed them
            self.defer(
                trigger=make_trigger(
                    run,
                    end_time=started_at + (self.timeout if self.timeout is not None else NO_DEADLINE_S),
                    poll_interval=self.poll_interval,
                    cdm_conn_id=self.cdm_conn_id,
                    rules=self.rules,
                    stop_on_kill=True,
                    hook_params=self.hook_params,
                ),
                method_name="execute_complete",
                kwargs={"run": run.to_json(), "started_at": started_at},
            )
        deadline = started + self.timeout if self.timeout is not None else math.inf
        try:
            final = wait_for_run(
                self.hook,
                follower,
                self.rules,
                submission,
                poll_interval=self.poll_interval,
                deadline=deadline,
                log=self.log,
            )
        except CdmJobFailedError as err:
            note_run_id(context, run, (err.submission or {}).get("submission_id"))
            raise
        self.run_ref, succeeded = final
        note_run_id(context, run, self.run_ref.submission_id)
        if succeeded is None:
            raise self.give_up(self.run_ref, time.monotonic() - started)
        return record_outlet_extras(context, self, self.succeeded(self.run_ref, succeeded.to_json()), waited=True)

    def learn_run_id(self, run: RunRef, submission: Submission) -> tuple[RunRef, Submission]:
        """A start answer without a submission id (sparse: cdm-dialects.md row 12) of a task that does not
        wait: one status read, and the run it pins as ours by CDM's own creation date lends its id (the
        ``submission_id`` XCom). A waiting task learns it from its status answers at no extra call."""
        try:
            latest = self.hook.get_job_status(run.job_name, run.cluster_id)
        except CdmApiError as err:
            if not err.transient:
                raise
            return run, submission  # the wait learns it later
        if latest is None or latest.submission_id is None or run.pinned_relation(latest) != 0:
            return run, submission
        return dataclasses.replace(run, submission_id=latest.submission_id), latest

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        run: dict[str, Any] | None = None,
        started_at: float | None = None,
    ) -> dict[str, Any]:
        """Resume after the trigger: check its event, then succeed or raise as a polling wait would.

        ``run`` and ``started_at`` come back from the deferral; ``dag.test()`` does not pass them back,
        so the run is then read from this task's ``cdm_run`` XCom.
        """
        expected = deferred_run(context, run)
        self.run_ref = expected
        checked = check_event(event, expected)
        submission, status = checked["submission"], checked["status"]
        if checked["followed"] is not None:  # the trigger followed CDM's retry of the run
            self.run_ref = RunRef.from_json(checked["followed"])
        note_run_id(context, expected, (submission or {}).get("submission_id"))
        if status == "success":
            return record_outlet_extras(context, self, self.succeeded(expected, submission), waited=True)
        if status == "failed":
            raise failed(expected, submission, self.log, checked["message"])
        if status == "timeout":
            raise self.give_up(self.run_ref, time.time() - started_at if started_at is not None else None)
        message = f"Waiting for {describe_run(expected)} failed: {checked['message'] or 'no reason given'}"
        self.log.error("%s", message)
        self.on_kill()  # the task gives up on its run: it is stopped, as when the task is killed
        raise AirflowException(message)

    def succeeded(self, run: RunRef, submission: Mapping[str, Any]) -> dict[str, Any]:
        result = run_result(run, submission)
        self.log.info("%s %s", run_label(run.job_name, result["submission_id"]), outcome_text(submission))
        self.run_result = result
        return result

    def give_up(self, run: RunRef, elapsed_s: float | None) -> CdmJobTimeoutError:
        stopped = self.stop_on_timeout and stop_quietly(self.hook, run, self.log)  # the timeout is the error
        error = CdmJobTimeoutError(run, elapsed_s, self.timeout, stopped=stopped)
        self.log.error("%s", error)
        return error

    def on_kill(self) -> None:
        """Stop the run this task started or attached to, if it is still active (errors are logged)."""
        if self.run_ref is None:
            return
        hook = CdmHook(self.cdm_conn_id, **self.hook_params)  # not the task's session: it may be mid-request
        try:
            stop_quietly(hook, self.run_ref, self.log)
        finally:
            hook.close()

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Airflow resumes a deferred task with ``__fail__`` when it gives up on the trigger (its
        timeout, which is ``execution_timeout`` on Airflow 2, or a trigger that failed): stop the run
        first, as ``on_kill`` does, then fail as Airflow asks."""
        if next_method == AIRFLOW_FAIL_METHOD:
            try:
                self.run_ref = deferred_run(context, None)
                self.on_kill()
            except Exception as err:
                self.log.warning("Could not stop the CDM run this task deferred on: %s", err)
        return super().resume_execution(next_method, next_kwargs, context)
