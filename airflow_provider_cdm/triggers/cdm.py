"""CdmJobStatusTrigger: waits in the triggerer for one CDM run to end, without blocking its event loop.

The trigger watches a run that a task already started (it never starts anything), so a trigger rebuilt
from :meth:`CdmJobStatusTrigger.serialize` after a triggerer restart simply resumes watching. Each
status answer is judged by :meth:`StatusRules.judge` against the run's :class:`RunRef`, the one place
that decides what a status means. Exactly one event is fired::

    {"status": "success" | "failed" | "timeout" | "error",
     "run": RunRef.to_json(), "submission": Submission.to_json() or None, "message": "..."}

The reads are shared: every trigger of one triggerer that watches jobs of one cluster through the same
connection subscribes to one poller (:mod:`._shared_poller`), which answers many jobs with one
list-jobs page, confirms a run that ended with a status call (or its run history), and keeps all
calls within CDM's per-user quotas (:mod:`airflow_provider_cdm.client.rate_limit`; ``[cdm]
triggerer_quota_share``, 0.6 by default, adapting to the 429s it sees). Each trigger still judges
every answer it receives itself, logs its progress (at INFO when the status changes, else about once
a minute), keeps its own deadline (with one last status read at it) and fires its own event.

Stopping the job when a user kills the task: on Airflow 3.3+ the triggerer calls :meth:`on_kill`
when a user marks or clears the deferred task, and the trigger stops the CDM run if ``stop_on_kill``
is set. It never stops anything in :meth:`cleanup` (which also runs on triggerer shutdown, restart
and redistribution). Older Airflow versions have no such hook: there the operator's own ``on_kill``
and timeout handling are what stop the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import importlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_cdm.triggers import OffLoopImports, on_an_event_loop

# Nothing of the provider at module level, and nothing imported when the triggerer builds a trigger:
# Airflow imports this module (``import_string`` of the classpath) and calls the constructor on its
# event loop, so the client modules (imported here they held a loaded triggerer's loop 0.30-0.34 s, 0.09-
# 0.15 s of it CPU; measured) are imported in a worker thread when ``run()`` starts (RUN_MODULES), and
# the arguments are checked then (see ``__init__``).
if TYPE_CHECKING:
    from airflow_provider_cdm.client.async_transport import AsyncTransport
    from airflow_provider_cdm.client.follow import Decision, RunFollower
    from airflow_provider_cdm.client.models import Submission
    from airflow_provider_cdm.client.runs import RunRef, StatusRules, Verdict
    from airflow_provider_cdm.client.settings import CdmSettings
    from airflow_provider_cdm.progress import ProgressLog
    from airflow_provider_cdm.triggers._shared_poller import Listed, Subscription


# on_kill() gets a bounded time from the triggerer (30 s by default): stay well inside it.
ON_KILL_TIMEOUT_S = 20.0
DEFAULT_CONN_ID = "cdm_default"  # CdmHook.default_conn_name (a test keeps them equal; the hook is not imported)
SHARED_POLLER_MODULE = "airflow_provider_cdm.triggers._shared_poller"
# What the wait uses, imported in a worker thread before it starts (the poller brings the client modules).
RUN_MODULES = (
    SHARED_POLLER_MODULE,
    "airflow_provider_cdm.client.async_transport",
    "airflow_provider_cdm.client.follow",
    "airflow_provider_cdm.hooks.cdm",
    "airflow_provider_cdm.progress",
)
RUN_IMPORTS = OffLoopImports(*RUN_MODULES)

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class _Arguments:
    """The trigger's arguments, checked (``hook_params`` as plain JSON)."""

    run_ref: RunRef
    end_time: float
    poll_interval: float
    cdm_conn_id: str
    rules_json: dict[str, list[str]] | None
    rules: StatusRules
    stop_on_kill: bool
    hook_params: dict[str, Any]


class CdmJobStatusTrigger(BaseTrigger):
    """Polls the status of one CDM run until it ends, the deadline passes, or CDM refuses to answer.

    :param run: the watched run, ``RunRef.to_json()`` (job_name, cluster_id, submission_id, not_before_ms).
    :param end_time: wall-clock deadline, epoch seconds (``time.time()`` based).
    :param poll_interval: seconds between status reads.
    :param cdm_conn_id: the CDM connection.
    :param rules: ``StatusRules.to_json()``; None for the defaults.
    :param stop_on_kill: stop the CDM run when a user kills the deferred task (Airflow 3.3+).
    :param hook_params: JSON-only ``CdmHook`` keyword overrides (region, project_id, timeout, verify,
        retry_policy as a dict, ...).
    """

    def __init__(
        self,
        *,
        run: Mapping[str, Any],
        end_time: float,
        poll_interval: float = 10.0,
        cdm_conn_id: str = DEFAULT_CONN_ID,
        rules: Mapping[str, Any] | None = None,
        stop_on_kill: bool = False,
        hook_params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call,unused-ignore]
        self._given: dict[str, Any] = {
            "run": run,
            "end_time": end_time,
            "poll_interval": poll_interval,
            "cdm_conn_id": cdm_conn_id,
            "rules": rules,
            "stop_on_kill": stop_on_kill,
            "hook_params": hook_params,
        }
        self._arguments: _Arguments | None = None
        self._transport: AsyncTransport | None = None
        self._secrets: tuple[str, ...] = ()
        self._follower: RunFollower | None = None  # the wait's, once it runs
        if not on_an_event_loop():
            # At defer time (the worker has no running loop): arguments that cannot work fail the task
            # before it waits. The triggerer rebuilds the trigger from serialize() on its event loop:
            # checked when run() starts, once RUN_MODULES were imported off the loop.
            self._checked()

    def _checked(self) -> _Arguments:
        if self._arguments is None:
            self._arguments = _check_arguments(**self._given)
        return self._arguments

    @property
    def run_ref(self) -> RunRef:
        return self._checked().run_ref

    @property
    def end_time(self) -> float:
        return self._checked().end_time

    @property
    def poll_interval(self) -> float:
        return self._checked().poll_interval

    @property
    def cdm_conn_id(self) -> str:
        return self._checked().cdm_conn_id

    @property
    def rules_json(self) -> dict[str, list[str]] | None:
        return self._checked().rules_json

    @property
    def rules(self) -> StatusRules:
        return self._checked().rules

    @property
    def stop_on_kill(self) -> bool:
        return self._checked().stop_on_kill

    @property
    def hook_params(self) -> dict[str, Any]:
        return self._checked().hook_params

    def serialize(self) -> tuple[str, dict[str, Any]]:
        cls = type(self)
        arguments = self._checked()
        return (
            f"{cls.__module__}.{cls.__qualname__}",
            {
                "run": arguments.run_ref.to_json(),
                "end_time": arguments.end_time,
                "poll_interval": arguments.poll_interval,
                "cdm_conn_id": arguments.cdm_conn_id,
                "rules": arguments.rules_json,
                "stop_on_kill": arguments.stop_on_kill,
                "hook_params": dict(arguments.hook_params),
            },
        )

    # --- the wait ----------------------------------------------------------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the run ends or the deadline passes; yields exactly one event."""
        try:
            await RUN_IMPORTS.ensure()
            self._checked()
            event = await self._watch()
        except Exception as err:
            message = f"Could not watch {self._describe()}: {self._redact(str(err))}"
            self.log.error("%s", message)
            event = self._event("error", None, message)
        yield TriggerEvent(event)  # type: ignore[no-untyped-call,unused-ignore]

    async def _watch(self) -> dict[str, Any]:
        """The event's payload; CDM's errors (after the retry policy gave up) are raised.

        The job is read by the loop's shared poller (:mod:`._shared_poller`) for every trigger of the
        same connection and cluster; this trigger judges each answer it receives on its own.
        """
        _shared_poller = importlib.import_module(SHARED_POLLER_MODULE)  # whole: run() imported it off the loop
        async with _shared_poller.subscribe(
            conn_id=self.cdm_conn_id,
            hook_params=self.hook_params,
            run=self.run_ref,
            rules=self.rules,
            poll_interval=self.poll_interval,
            load_settings=self._load_settings,
            on_token=_amask_secret,
        ) as watch:
            self._secrets = watch.settings.secrets()
            return await self._wait(watch)

    async def _wait(self, watch: Subscription) -> dict[str, Any]:
        from airflow_provider_cdm.client.exceptions import CdmJobNotFoundError
        from airflow_provider_cdm.client.follow import RunFollower
        from airflow_provider_cdm.client.runs import EVENT_ERROR, Verdict
        from airflow_provider_cdm.triggers._shared_poller import Listed, ReadFailed

        follower = self._follower = RunFollower(self.run_ref, self.rules)
        submission: Submission | None = None
        listed: str | None = None
        last_read = False  # the deadline passed: one more status read was asked for
        while True:
            if last_read:
                budget = self._read_budget(watch.settings)
            else:
                budget = self.end_time - time.time()
                if budget <= 0:
                    watch.read_now()
                    last_read = True
                    continue
            try:
                answer = await _within(budget, watch.next_answer())
            except _Expired:
                if last_read:
                    why = "CDM did not answer the last status read in time"
                    return self._timeout_event(submission, why, listed=listed)
                continue
            if isinstance(answer, ReadFailed):
                gone = follower.on_gone() if isinstance(answer.error, CdmJobNotFoundError) else None
                if gone is None:
                    raise answer.error
                return self._decided(gone)
            if isinstance(answer, Listed):
                listed = answer.status_text
                self._log_listed(answer)
                continue  # progress only: a run read decides
            submission = answer.submission
            if not await self._learn_options(watch, follower, submission):
                continue  # the job's options could not be read yet: judged at the next answer
            decision = follower.on_answer(submission)
            if follower.run != watch.run:
                watch.retarget(follower.run)  # the run's id, once CDM reported it (sparse start answers)
            self._log_progress(submission, decision.verdict, source=answer.source)
            if decision.verdict is Verdict.SUPERSEDED and submission is not None:
                ours = await self._from_history(watch.transport, follower.run)
                if ours is None:
                    return self._event(
                        EVENT_ERROR,
                        submission,
                        f"{self._describe()} is no longer CDM's latest run (run {submission.submission_id} is) "
                        "and is not in the job's run history: its outcome is unknown",
                    )
                if not await self._learn_options(watch, follower, ours):
                    continue
                decision = follower.on_history(ours, submission)
                watch.retarget(follower.run)  # CDM's retry, when it followed ours
                self._log_progress(decision.submission, decision.verdict, source="run history")
            if decision.verdict is Verdict.FAILED or (
                decision.verdict is Verdict.SUCCEEDED and decision.submission is not None
            ):
                return self._decided(decision)
            if decision.message:
                self._progress.report(decision.message, "%s: %s", self._describe(), decision.message)
            if last_read or time.time() >= self.end_time:
                return self._timeout_event(decision.submission, listed=listed)

    def _decided(self, decision: Decision) -> dict[str, Any]:
        """The success or failed event of a decision about the run (CDM's retry, perhaps)."""
        from airflow_provider_cdm.client.runs import EVENT_FAILED, EVENT_SUCCESS, Verdict

        submission = decision.submission
        if decision.verdict is Verdict.SUCCEEDED and submission is not None:
            return self._event(EVENT_SUCCESS, submission, decision.message or self._success_message(submission))
        message = decision.message or (self._failure_message(submission) if submission else "no details")
        return self._event(EVENT_FAILED, submission, message)

    async def _learn_options(self, watch: Subscription, follower: RunFollower, submission: Submission | None) -> bool:
        """Read the job's options when judging ``submission`` needs them; False when they are still unknown
        because CDM could not answer (a job already gone leaves them unknown, and that is known)."""
        from airflow_provider_cdm.api.job_options import JobOptions
        from airflow_provider_cdm.client import operations as ops
        from airflow_provider_cdm.client.exceptions import CdmApiError, CdmJobNotFoundError

        if not follower.needs_options(submission):
            return True
        run = follower.run
        try:
            job = await watch.transport.execute(ops.show_job(run.cluster_id, run.job_name))
        except CdmJobNotFoundError:
            return True
        except CdmApiError as err:
            if not err.transient:
                raise
            self.log.info("%s: the job's options are unreadable for now (%s); judging later", self._describe(), err)
            return False
        follower.learn(JobOptions.of_definition(job.definition()))
        return True

    async def _load_settings(self) -> CdmSettings:
        from airflow_provider_cdm.client.async_transport import aload_settings
        from airflow_provider_cdm.hooks.cdm import CdmHook

        return await aload_settings(self.cdm_conn_id, hook=CdmHook, **self.hook_params)

    def _read_budget(self, settings: CdmSettings) -> float:
        """How long the last status read (asked for at the deadline) may take: one attempt's time."""
        return settings.connect_timeout_s + settings.read_timeout_s

    async def _from_history(self, transport: AsyncTransport, run: RunRef) -> Submission | None:
        """``run`` as the run history reports it (None when the history does not hold it)."""
        from airflow_provider_cdm.api.endpoints import LIST_PAGE_SIZE_RANGE
        from airflow_provider_cdm.client import operations as ops

        page_size = LIST_PAGE_SIZE_RANGE[1]
        pages = transport.iter_pages(
            lambda page_no: ops.list_submissions(run.cluster_id, run.job_name, page_no=page_no, page_size=page_size),
            page_size,
        )
        async with contextlib.aclosing(pages):  # found early: read no further page
            async for item in pages:
                if run.relation(item) == 0:
                    return item
        return None

    # --- kill and cleanup --------------------------------------------------------------------------

    async def on_kill(self) -> None:
        """Airflow 3.3+: a user marked or cleared the deferred task; stop the run if ``stop_on_kill``.

        Only the watched run is stopped: when CDM's active run is another one (ours ended, someone
        started the job again), nothing is stopped. Errors are logged, not raised.
        """
        try:
            await RUN_IMPORTS.ensure()
            stop_on_kill = self.stop_on_kill
        except Exception as err:
            self.log.warning("Could not stop %s: %s", self._describe(), self._redact(str(err)))
            return
        if not stop_on_kill:
            self.log.info("Task killed; leaving %s running (stop_on_kill is false)", self._describe())
            return
        try:
            await _within(ON_KILL_TIMEOUT_S, self._stop_our_run())
        except _Expired:
            self.log.warning("Could not stop %s within %g s", self._describe(), ON_KILL_TIMEOUT_S)
        except Exception as err:
            self.log.warning("Could not stop %s: %s", self._describe(), self._redact(str(err)))

    async def _stop_our_run(self) -> None:
        from airflow_provider_cdm.client import operations as ops
        from airflow_provider_cdm.client.exceptions import CdmJobNotRunningError

        transport = await self._get_transport()
        run = self.run_ref
        latest = await transport.execute(ops.job_status(run.cluster_id, run.job_name))
        if latest is None or not latest.is_active or run.relation(latest) != 0:
            state = "no run" if latest is None else f"run {latest.submission_id} {latest.status_text}"
            self.log.info("Task killed; not stopping %s: CDM's latest is %s", self._describe(), state)
            return
        try:
            refusals = await transport.execute(ops.stop_job(run.cluster_id, run.job_name))
        except CdmJobNotRunningError as err:  # Cdm.0053: it ended between the status read and the stop
            self.log.info("Task killed; %s had ended already (%s)", self._describe(), err)
            return
        if refusals:
            reasons = "; ".join(message.message for message in refusals)
            self.log.warning("Task killed; CDM did not stop %s: %s", self._describe(), reasons)
        else:
            self.log.info("Task killed; stopped %s", self._describe())

    async def cleanup(self) -> None:
        """Close the HTTP client. Never stops the CDM run: this also runs on triggerer restarts."""
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.aclose()

    # --- helpers -----------------------------------------------------------------------------------

    async def _get_transport(self) -> AsyncTransport:
        """This trigger's own transport (on_kill), paced by the same process-wide limiter as the poller."""
        if self._transport is None:
            settings = await self._load_settings()
            self._secrets = settings.secrets()
            if self._transport is None:
                from airflow_provider_cdm.client.async_transport import AsyncTransport
                from airflow_provider_cdm.client.rate_limit import ROLE_TRIGGERER, shared_limiter
                from airflow_provider_cdm.options import client_pacing, triggerer_quota_share

                limiter = (
                    shared_limiter(settings, triggerer_quota_share(), role=ROLE_TRIGGERER) if client_pacing() else None
                )
                self._transport = AsyncTransport(settings, on_token=_amask_secret, limiter=limiter)
        return self._transport

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _run_json(self) -> Any:
        """The watched run as JSON; as given when the arguments could not be checked (an error event)."""
        if self._arguments is not None:
            return self._arguments.run_ref.to_json()
        run = self._given["run"]
        return dict(run) if isinstance(run, Mapping) else run

    def _describe(self) -> str:
        run = self._run_json()
        if not isinstance(run, Mapping):
            return "a CDM run"
        submission_id = run.get("submission_id")
        which = f"run {submission_id}" if submission_id is not None else "the latest run"
        return f"{which} of CDM job {run.get('job_name')!r} (cluster {run.get('cluster_id')})"

    def _event(self, status: str, submission: Submission | None, message: str) -> dict[str, Any]:
        event = {
            "status": status,
            "run": self._run_json(),
            "submission": submission.to_json() if submission is not None else None,
            "message": message,
        }
        follower = self._follower
        if follower is not None and follower.run.submission_id != self.run_ref.submission_id:
            event["followed"] = follower.run.to_json()  # CDM's retry took over, or the run's id became known
        return event

    def _timeout_event(
        self, submission: Submission | None, why: str | None = None, *, listed: str | None = None
    ) -> dict[str, Any]:
        from airflow_provider_cdm.client.runs import EVENT_TIMEOUT
        from airflow_provider_cdm.progress import progress_text

        deadline = datetime.fromtimestamp(self.end_time, tz=timezone.utc).isoformat(timespec="seconds")
        if submission is not None:
            last = progress_text(submission.to_json())
        elif listed is not None:
            last = f"{listed} in the job list"
        else:
            last = "no run reported yet"
        message = f"{self._describe()} did not end before the deadline {deadline} (last seen: {last})"
        return self._event(EVENT_TIMEOUT, submission, f"{message}; {why}" if why else message)

    def _success_message(self, submission: Submission) -> str:
        from airflow_provider_cdm.progress import outcome_text, run_label

        return f"{run_label(self.run_ref.job_name, submission.submission_id)} {outcome_text(submission.to_json())}"

    def _failure_message(self, submission: Submission) -> str:
        summary = submission.error_summary or "CDM gave no error summary"
        return f"{self._describe()} ended {submission.status_text}: {summary}"

    @functools.cached_property
    def _progress(self) -> ProgressLog:
        """Progress lines: at INFO when the status changes, else about once a minute; DEBUG in between."""
        from airflow_provider_cdm.progress import ProgressLog

        return ProgressLog(self.log)

    def _label(self, submission_id: int | None) -> str:
        from airflow_provider_cdm.progress import run_label

        return run_label(self.run_ref.job_name, submission_id, latest=self.run_ref.submission_id is None)

    def _log_listed(self, listed: Listed) -> None:
        from airflow_provider_cdm.progress import progress_text

        label = self._label(self.run_ref.submission_id)
        if listed.status_text is None:
            self._progress.report(None, "%s: no run yet", label)
            return
        text = progress_text({"status": listed.status_text, "rows_written": listed.rows_written})
        self._progress.report(listed.status_text, "%s: %s", label, text)

    def _log_progress(self, submission: Submission | None, verdict: Verdict, *, source: str = "status") -> None:
        from airflow_provider_cdm.progress import progress_text

        if submission is None:
            self._progress.report(None, "%s: no run yet", self._label(self.run_ref.submission_id))
            return
        label = self._label(submission.submission_id)
        self._progress.report(submission.status_text, "%s: %s", label, progress_text(submission.to_json()))
        self.log.debug(
            "%s: read from the %s; CDM run %s, verdict %s",
            self._describe(),
            source,
            submission.submission_id,
            verdict.value,
        )


class _Expired(Exception):
    """The time given to an awaitable ran out."""


async def _within(seconds: float, awaitable: Awaitable[T]) -> T:
    """``await awaitable``, or raise :class:`_Expired` after ``seconds`` (it is then cancelled).

    Not ``asyncio.wait_for``: before Python 3.12 that swallows a cancellation of the caller which
    arrives as the awaited result does, and a cancelled trigger would go on polling.
    """
    task = asyncio.ensure_future(awaitable)
    try:
        await asyncio.wait({task}, timeout=seconds)
    finally:
        if not task.done():  # timed out, or the caller was cancelled: stop the work, let it unwind
            task.cancel()
            await asyncio.wait({task})
    if task.cancelled():
        raise _Expired
    return task.result()


async def _amask_secret(secret: str) -> None:
    """Mask a fetched IAM token in the logs without blocking the loop (async API on Airflow 3)."""
    try:
        from airflow.sdk.log import amask_secret  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Airflow 2: masking is in-process, no I/O
        from airflow_provider_cdm._compat import mask_secret

        mask_secret(secret)
        return
    await amask_secret(secret)


# --- argument checks (at defer time, in the worker: a bad trigger fails the task before it waits) ---


def _check_arguments(
    *,
    run: object,
    end_time: object,
    poll_interval: object,
    cdm_conn_id: object,
    rules: object,
    stop_on_kill: object,
    hook_params: object,
) -> _Arguments:
    from airflow_provider_cdm.client.exceptions import CdmConfigError
    from airflow_provider_cdm.client.runs import StatusRules

    run_ref = _run_ref(run)
    checked_end_time = _number("end_time", end_time)
    checked_interval = _number("poll_interval", poll_interval)
    if checked_interval <= 0:
        raise CdmConfigError("poll_interval", f"got {poll_interval!r}", "a number of seconds > 0")
    if not isinstance(cdm_conn_id, str) or not cdm_conn_id:
        raise CdmConfigError("cdm_conn_id", f"got {cdm_conn_id!r}", "a connection id")
    rules_json = _rules_json(rules)
    if not isinstance(stop_on_kill, bool):
        raise CdmConfigError("stop_on_kill", f"got {stop_on_kill!r}", "true or false")
    return _Arguments(
        run_ref=run_ref,
        end_time=checked_end_time,
        poll_interval=checked_interval,
        cdm_conn_id=cdm_conn_id,
        rules_json=rules_json,
        rules=StatusRules.from_json(rules_json) if rules_json is not None else StatusRules(),
        stop_on_kill=stop_on_kill,
        hook_params=_hook_params(hook_params),
    )


def _number(name: str, value: object) -> float:
    from airflow_provider_cdm.client.exceptions import CdmConfigError

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CdmConfigError(name, f"got {value!r}", "a number")
    return float(value)


def _run_ref(run: object) -> RunRef:
    from airflow_provider_cdm.client import operations as ops
    from airflow_provider_cdm.client.exceptions import CdmConfigError
    from airflow_provider_cdm.client.runs import RunRef

    expected = "RunRef.to_json(): job_name, cluster_id, submission_id, not_before_ms"
    if not isinstance(run, Mapping):
        raise CdmConfigError("run", f"got a {type(run).__name__}", expected)
    for key in ("submission_id", "not_before_ms"):
        value = run.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise CdmConfigError(f"run.{key}", f"got {value!r}", "an integer or null")
    try:
        ref = RunRef.from_json(run)
    except KeyError as missing:
        raise CdmConfigError("run", f"has no {missing}", expected) from None
    ops.job_status(ref.cluster_id, ref.job_name)  # refuses names that cannot go into a path
    return ref


def _rules_json(rules: object) -> dict[str, list[str]] | None:
    if rules is None:
        return None
    from airflow_provider_cdm.client.exceptions import CdmConfigError
    from airflow_provider_cdm.client.runs import StatusRules

    if not isinstance(rules, Mapping):
        raise CdmConfigError("rules", f"got a {type(rules).__name__}", "StatusRules.to_json() or null")
    try:
        return StatusRules.from_json(rules).to_json()
    except ValueError as err:
        raise CdmConfigError("rules", str(err), "StatusRules.to_json() or null") from None


def _hook_params(params: object) -> dict[str, Any]:
    """CdmHook keyword overrides as plain JSON (tuples become lists, a RetryPolicy its fields)."""
    if params is None:
        return {}
    from airflow_provider_cdm.client.exceptions import CdmConfigError
    from airflow_provider_cdm.client.retry import RetryPolicy
    from airflow_provider_cdm.client.settings import settings_keywords

    allowed = settings_keywords()
    if not isinstance(params, Mapping):
        raise CdmConfigError("hook_params", f"got a {type(params).__name__}", "a JSON object")
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise CdmConfigError("hook_params", f"unknown keys {unknown}", f"any of {sorted(allowed)}")
    checked: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, RetryPolicy):
            value = dataclasses.asdict(value)
        try:
            checked[key] = json.loads(json.dumps(value))
        except (TypeError, ValueError):
            raise CdmConfigError(
                f"hook_params[{key!r}]", f"a {type(value).__name__} is not JSON", "JSON values only"
            ) from None
    return checked
