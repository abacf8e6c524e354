"""The chaos harness: job lifecycles through the public API while an emulator process misbehaves.

A *phase* runs many lifecycles at once (a thread pool for the worker side, one asyncio loop for every
deferred task's trigger, as a triggerer runs them) while a :class:`Chaos` thread drives the emulator's
admin API: a base of injected faults (5xx, dropped connections before and after processing, broken
bodies) plus, per phase, bursts of 5xx, of latency beyond the client's read timeout or of quota 429s
(with and without ``Retry-After``), or token revocations. Each lifecycle creates a job, starts it,
waits for it and reads the result through one of the public paths (:data:`PATHS`); its runs are
scripted (some fail), so what Airflow saw can be checked against what was scripted, and what CDM saw
(the emulator's counters and state) against what should have happened: one create and one start per
job, no job left running.

Only the emulator's admin API and the public classes are used; the fault plan of each request is the
emulator's own seeded draw.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_cdm.client.exceptions import CdmApiError
from airflow_provider_cdm.client.models import Submission
from airflow_provider_cdm.client.runs import RunRef, StatusRules, Verdict
from airflow_provider_cdm.emulator.testing import EmulatorProcess
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators.cdm import (
    CdmCreateAndStartJobOperator,
    CdmCreateJobOperator,
    CdmJobFailedError,
    CdmStartJobOperator,
)
from airflow_provider_cdm.sensors.cdm import CdmJobStatusSensor
from tests.jobs import job_definition
from tests.unit.operators.helpers import RecordingTI, task_context

AKSK_CONN = "cdm_default"
IAM_CONN = "cdm_chaos_iam"  # the same emulator, IAM password auth (tokens that can be revoked)

# Fast retries so that a phase takes seconds: full jitter over 0.02 s doubling up to 0.3 s. Twelve
# attempts (the default is 8): at a 30% fault rate 8 attempts all fail once in ~15,000 calls, and a
# phase makes thousands; with 12, once in ~1.9 million.
RETRY_POLICY: dict[str, Any] = {"initial_backoff_s": 0.02, "max_backoff_s": 0.3, "max_attempts": 12}
CONNECT_TIMEOUT_S = 5.0
SYNC_POLL_S = 0.1  # poll interval of the polling operators, the sensor and the hook-level waits
TRIGGER_POLL_S = 0.2  # poll interval asked of the triggers (the shared poller paces them anyway)
TASK_TIMEOUT_S = 120.0  # each task's own timeout: far beyond any lifecycle, never the point here
LIFECYCLE_LIMIT_S = 150.0  # the harness gives up on a lifecycle after this (a hang is a wrong outcome)
WORKERS = 12  # concurrent worker-side lifecycles (deferred ones hand their wait to the trigger loop)

PATHS = (
    "hook",  # CdmHook: create, start, poll the status, read the run
    "start_poll",  # CdmCreateJobOperator, then CdmStartJobOperator polling
    "start_deferred",  # CdmCreateJobOperator, then CdmStartJobOperator deferrable: execute, trigger, execute_complete
    "create_and_start",  # CdmCreateAndStartJobOperator polling, two candidate clusters
    "create_and_start_deferred",  # the same, deferrable
    "sensor_poke",  # create, start without waiting, CdmJobStatusSensor poking on the submission id
    "sensor_deferred",  # the same with a deferrable sensor
)
OUTCOMES = ("SUCCEEDED", "FAILED", "FAILURE_ON_SUBMIT", "UNKNOWN")
OUTCOME_WEIGHTS = (0.6, 0.25, 0.075, 0.075)
WITH_SUMMARY = frozenset({"FAILED", "FAILURE_ON_SUBMIT"})
VARIABLES = {"date": "2026-11-22"}

# The base faults: shares of all CDM and IAM requests. The emulator draws reset, then 5xx, then a
# broken body, each with its own rate; :func:`base_faults` turns these shares into those rates.
CORE_SHARES = {"reset": 0.10, "error": 0.12, "malformed": 0.08}
CORE_KINDS = ("error", "reset_before", "reset_after", "malformed")
ERROR_STATUSES = [500, 502, 503, 504]

log = logging.getLogger(__name__)


def base_faults() -> dict[str, Any]:
    """``set_faults`` settings under which 30% of requests get one of the core faults."""
    remaining, rates = 1.0, {}
    for kind in ("reset", "error", "malformed"):  # the emulator's draw order (emulator/faults.py)
        rates[kind] = CORE_SHARES[kind] / remaining
        remaining -= CORE_SHARES[kind]
    return {
        "reset_rate": rates["reset"],
        "reset_phase": "random",
        "error_rate": rates["error"],
        "error_statuses": ERROR_STATUSES,
        "malformed_rate": rates["malformed"],
    }


# --- phases and lifecycles ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Burst:
    """Something switched on for ``on_s`` out of every ``period_s`` seconds (for the first ``until_s``)."""

    on_s: float
    period_s: float
    value: float = 0.0  # latency bursts: the latency
    until_s: float = float("inf")

    def is_on(self, elapsed: float) -> bool:
        return elapsed < self.until_s and elapsed % self.period_s < self.on_s

    def index(self, elapsed: float) -> int:
        return int(elapsed // self.period_s)


@dataclass(frozen=True)
class Phase:
    name: str
    summary: str
    seed: int
    lifecycles: int = 49  # seven of each path
    conn_id: str = AKSK_CONN
    read_timeout_s: float = 5.0
    durations: tuple[float, float] = (0.3, 1.0)
    outage: Burst | None = None  # every request not dropped answers 502 or 503
    latency: Burst | None = None
    throttle: Burst | None = None  # quota enforcement on, 429 APIG.0308; every other burst with Retry-After
    revoke_every_s: float | None = None

    @property
    def hook_params(self) -> dict[str, Any]:
        return {"timeout": [CONNECT_TIMEOUT_S, self.read_timeout_s], "retry_policy": dict(RETRY_POLICY)}


@dataclass(frozen=True)
class Lifecycle:
    phase: str
    index: int
    path: str
    job: str
    outcome: str
    duration_s: float
    error_summary: str | None


def plan(phase: Phase) -> list[Lifecycle]:
    """The phase's lifecycles: paths in turn, outcomes and durations drawn from the phase's seed."""
    rng = random.Random(phase.seed)
    lifecycles = []
    for index in range(phase.lifecycles):
        outcome = rng.choices(OUTCOMES, OUTCOME_WEIGHTS)[0]
        job = f"chaos_{phase.name}_{index:03d}"
        lifecycles.append(
            Lifecycle(
                phase=phase.name,
                index=index,
                path=PATHS[index % len(PATHS)],
                job=job,
                outcome=outcome,
                duration_s=round(rng.uniform(*phase.durations), 2),
                error_summary=f"scripted failure of {job}" if outcome in WITH_SUMMARY else None,
            )
        )
    return lifecycles


@dataclass
class Observed:
    """What Airflow saw at the end of a lifecycle: a result, a CDM failure, or something unexpected."""

    status: str | None = None
    submission_id: int | None = None
    rows_written: int | None = None
    message: str = ""
    error: str | None = None  # anything but a result or a CdmJobFailedError
    seconds: float = 0.0

    @classmethod
    def of_result(cls, value: Mapping[str, Any]) -> Observed:
        return cls(value.get("status"), value.get("submission_id"), value.get("rows_written"))

    @classmethod
    def of_failure(cls, err: CdmJobFailedError) -> Observed:
        submission = err.submission or {}
        return cls(submission.get("status"), submission.get("submission_id"), message=str(err))


# --- running deferred tasks' triggers in one event loop ------------------------------------------------


class TriggerLoop:
    """One asyncio loop on a thread of its own, running every deferred task's trigger (a triggerer)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="chaos-triggerer", daemon=True)
        self._thread.start()

    def run(self, trigger: Any, timeout: float) -> dict[str, Any]:
        """The trigger's one event (run to its end, then cleaned up as the triggerer does)."""
        return asyncio.run_coroutine_threadsafe(_events(trigger), self.loop).result(timeout)

    def close(self) -> None:
        async def drain() -> None:
            pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(drain(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()


async def _events(trigger: Any) -> dict[str, Any]:
    try:
        events = [event async for event in trigger.run()]
    finally:
        await trigger.cleanup()
    if len(events) != 1:
        raise AssertionError(f"the trigger fired {len(events)} events")
    return dict(events[0].payload)


def rebuilt(trigger: Any) -> Any:
    """The trigger as a triggerer gets it: from its serialized classpath and JSON kwargs."""
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))


# --- the paths ---------------------------------------------------------------------------------------


@dataclass
class Env:
    """What every lifecycle of a phase shares."""

    emulator: EmulatorProcess
    phase: Phase
    clusters: list[str]
    triggerer: TriggerLoop

    @property
    def conn_id(self) -> str:
        return self.phase.conn_id

    @property
    def hook_params(self) -> dict[str, Any]:
        return self.phase.hook_params


def run_lifecycle(lc: Lifecycle, env: Env) -> Observed:
    began = time.monotonic()
    try:
        observed = _PATH_RUNNERS[lc.path](lc, env)
    except CdmJobFailedError as err:
        observed = Observed.of_failure(err)
    except Exception as err:
        log.exception("Lifecycle %s (%s) ended unexpectedly", lc.job, lc.path)
        observed = Observed(error=f"{type(err).__name__}: {err}"[:400])
    observed.seconds = time.monotonic() - began
    return observed


def _common(env: Env) -> dict[str, Any]:
    return {"cdm_conn_id": env.conn_id, "hook_params": env.hook_params}


def _closing(operator: Any) -> None:
    if "hook" in operator.__dict__:
        operator.hook.close()


def _execute(make: Callable[[], Any], ti: RecordingTI, env: Env) -> Any:
    """Run a task as Airflow would: execute; when it defers, the trigger in the triggerer's loop, then
    the method it named on a fresh instance of the task (a resumed task is a new process)."""
    context = task_context(ti)
    operator = make()
    try:
        return operator.execute(context)
    except TaskDeferred as deferred:
        event = env.triggerer.run(rebuilt(deferred.trigger), LIFECYCLE_LIMIT_S)
        resumed = make()
        try:
            return getattr(resumed, deferred.method_name)(context, event=event, **(deferred.kwargs or {}))
        finally:
            _closing(resumed)
    finally:
        _closing(operator)


def _create(lc: Lifecycle, env: Env) -> None:
    def create() -> CdmCreateJobOperator:
        return CdmCreateJobOperator(task_id="create", job=job_definition(lc.job), **_common(env))

    _execute(create, RecordingTI("create"), env)


def _read_through_outages(hook: CdmHook, job: str) -> Submission | None:
    """The job's status, read again while CDM answers transiently (as a hook user's loop does)."""
    deadline = time.monotonic() + TASK_TIMEOUT_S
    while True:
        try:
            return hook.get_job_status(job)
        except CdmApiError as err:
            if not err.transient or time.monotonic() > deadline:
                raise
            time.sleep(SYNC_POLL_S)


def _hook_path(lc: Lifecycle, env: Env) -> Observed:
    hook = CdmHook(env.conn_id, **env.hook_params)
    try:
        hook.create_job(job_definition(lc.job))
        cluster = hook.resolve_cluster_id()
        submission = hook.start_job(lc.job, variables=VARIABLES)
        run = RunRef.of(submission, cluster)
        if run.submission_id is None:  # a sparse start answer (row 12): a user's loop reads the status once
            latest_now = _read_through_outages(hook, lc.job)
            if latest_now is not None and latest_now.submission_id is not None and run.pinned_relation(latest_now) == 0:
                run, submission = dataclasses.replace(run, submission_id=latest_now.submission_id), latest_now
        rules = StatusRules()
        deadline = time.monotonic() + TASK_TIMEOUT_S
        latest = submission
        while (verdict := rules.judge(latest, run)) is Verdict.WAITING:
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run.submission_id} of {lc.job} did not end in {TASK_TIMEOUT_S:g} s")
            time.sleep(SYNC_POLL_S)
            try:
                latest = hook.get_job_status(lc.job)
            except CdmApiError as err:  # a hook user's loop outlasts an outage as the operators do
                if not err.transient:
                    raise
        if verdict is Verdict.SUPERSEDED or latest is None:
            raise AssertionError(f"run {run.submission_id} of {lc.job} was superseded by {latest}")
        return Observed(
            latest.status_text,
            latest.submission_id,
            latest.rows_written,
            message=latest.error_summary or "",
        )
    finally:
        hook.close()


def _start_path(lc: Lifecycle, env: Env, *, deferrable: bool) -> Observed:
    _create(lc, env)

    def start() -> CdmStartJobOperator:
        return CdmStartJobOperator(
            task_id="migrate",
            job_name=lc.job,
            variables=VARIABLES,
            poll_interval=TRIGGER_POLL_S if deferrable else SYNC_POLL_S,
            timeout=TASK_TIMEOUT_S,
            deferrable=deferrable,
            **_common(env),
        )

    return Observed.of_result(_execute(start, RecordingTI("migrate"), env))


def _create_and_start_path(lc: Lifecycle, env: Env, *, deferrable: bool) -> Observed:
    def copy() -> CdmCreateAndStartJobOperator:
        return CdmCreateAndStartJobOperator(
            task_id="copy",
            job=job_definition(lc.job),
            clusters=env.clusters,
            variables=VARIABLES,
            poll_interval=TRIGGER_POLL_S if deferrable else SYNC_POLL_S,
            timeout=TASK_TIMEOUT_S,
            deferrable=deferrable,
            **_common(env),
        )

    return Observed.of_result(_execute(copy, RecordingTI("copy"), env))


def _sensor_path(lc: Lifecycle, env: Env, *, deferrable: bool) -> Observed:
    _create(lc, env)
    started = _execute(
        lambda: CdmStartJobOperator(
            task_id="start", job_name=lc.job, variables=VARIABLES, wait_for_completion=False, **_common(env)
        ),
        RecordingTI("start"),
        env,
    )

    def wait() -> CdmJobStatusSensor:
        return CdmJobStatusSensor(
            task_id="wait",
            job_name=lc.job,
            submission_id=str(started["submission_id"]),  # as a rendered XCom template
            poke_interval=TRIGGER_POLL_S if deferrable else SYNC_POLL_S,
            timeout=TASK_TIMEOUT_S,
            mode="poke",
            deferrable=deferrable,
            **_common(env),
        )

    return Observed.of_result(_execute(wait, RecordingTI("wait"), env))


_PATH_RUNNERS: dict[str, Callable[[Lifecycle, Env], Observed]] = {
    "hook": _hook_path,
    "start_poll": lambda lc, env: _start_path(lc, env, deferrable=False),
    "start_deferred": lambda lc, env: _start_path(lc, env, deferrable=True),
    "create_and_start": lambda lc, env: _create_and_start_path(lc, env, deferrable=False),
    "create_and_start_deferred": lambda lc, env: _create_and_start_path(lc, env, deferrable=True),
    "sensor_poke": lambda lc, env: _sensor_path(lc, env, deferrable=False),
    "sensor_deferred": lambda lc, env: _sensor_path(lc, env, deferrable=True),
}
assert set(_PATH_RUNNERS) == set(PATHS)


# --- the chaos: fault settings that change while the lifecycles run ------------------------------------


class Chaos:
    """Drives the emulator's faults for a phase: the base faults all along, the phase's bursts on top,
    and token revocations; counts what it did (429s by whether their burst sent Retry-After)."""

    TICK_S = 0.02

    def __init__(self, emulator: EmulatorProcess, phase: Phase) -> None:
        self._emulator = emulator
        self._phase = phase
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"chaos-{phase.name}", daemon=True)
        self._settings_now: dict[str, Any] = {}
        self._quota_mark: int | None = None  # the emulator's 429 count when the current throttle burst began
        self.revocations = 0
        self.bursts: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()  # 429s: "Retry-After", "no Retry-After"
        self.error: BaseException | None = None

    def __enter__(self) -> Chaos:
        self._emulator.set_faults(**base_faults(), seed=self._phase.seed)  # the only reseed of the phase
        self._began = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._emulator.clear_faults()
        self._end_throttle_burst()
        if self.error is not None and exc[0] is None:
            raise self.error

    def _settings(self, elapsed: float) -> dict[str, Any]:
        settings = base_faults()
        phase = self._phase
        if phase.outage is not None and phase.outage.is_on(elapsed):
            settings.update(error_rate=1.0, error_statuses=[502, 503])
        if phase.latency is not None and phase.latency.is_on(elapsed):
            settings["latency_s"] = phase.latency.value
        if phase.throttle is not None:
            on = phase.throttle.is_on(elapsed)
            settings["quotas"] = on
            if on and phase.throttle.index(elapsed) % 2:
                settings["retry_after_s"] = 1.0
        return settings

    def _switch(self, wanted: dict[str, Any]) -> None:
        before = self._settings_now
        switches = (("latency_s", "latency"), ("quotas", "throttle"))
        began = {label for key, label in switches if wanted.get(key) and not before.get(key)}
        if wanted.get("error_rate") == 1.0 and before.get("error_rate") != 1.0:
            began.add("outage")
        if "throttle" in began:
            self._quota_mark = self._quota_count()
        self._emulator.set_faults(**wanted)  # no seed: the draws go on
        if before.get("quotas") and not wanted.get("quotas"):
            self._end_throttle_burst()
        self.bursts.update(began)
        self._settings_now = wanted

    def _quota_count(self) -> int:
        return int(self._emulator.stats()["faults"].get("quota", 0))

    def _end_throttle_burst(self) -> None:
        if self._quota_mark is None:
            return
        kind = "Retry-After" if self._settings_now.get("retry_after_s") is not None else "no Retry-After"
        self.throttled[kind] += self._quota_count() - self._quota_mark
        self._quota_mark = None

    def _run(self) -> None:
        try:
            next_revocation = self._phase.revoke_every_s
            while not self._stop.wait(self.TICK_S):
                elapsed = time.monotonic() - self._began
                wanted = self._settings(elapsed)
                if wanted != self._settings_now:
                    self._switch(wanted)
                if next_revocation is not None and elapsed >= next_revocation:
                    self._emulator.revoke_tokens()
                    self.revocations += 1
                    next_revocation += self._phase.revoke_every_s or 0.0
        except BaseException as err:
            self.error = err


def fill_quota_windows(emulator: EmulatorProcess, conn_id: str) -> None:
    """With quotas on and no other fault, use up the per-minute quota of every group a lifecycle calls
    (calls CDM refuses, for a job or a cluster that does not exist, still count), then switch quotas
    off again. Each later throttle burst then answers 429 to every call of those groups (until the
    window slides, 60 s on)."""
    from airflow_provider_cdm.api import endpoints

    emulator.set_faults(quotas=True)
    hook = CdmHook(conn_id, retry_policy={"max_attempts": 1})
    cluster, job = hook.resolve_cluster_id(), "chaos_filler"
    calls: list[tuple[Any, Callable[[], Any]]] = [
        (endpoints.JOB_STATUS, lambda: hook.get_job_status(job, cluster)),
        (endpoints.SHOW_JOB, lambda: hook.get_job(job, cluster)),  # and list jobs: one quota group
        (endpoints.LIST_SUBMISSIONS, lambda: hook.list_submissions(job, cluster)),
        (endpoints.START_JOB, lambda: hook.start_job(job, cluster)),
        (endpoints.CREATE_AND_START_JOB, lambda: hook.create_and_start_job(job_definition(job), ["chaos-none"])),
    ]
    try:
        for endpoint, call in calls:
            for _ in range(endpoint.quota_per_minute):
                try:
                    call()
                except CdmApiError:
                    pass
        answered = emulator.stats()["requests"]
        for endpoint, _ in calls:
            assert sum(answered[endpoint.name].values()) >= endpoint.quota_per_minute, endpoint.name
    finally:
        hook.close()
        emulator.set_faults(quotas=False)


# --- what the client logged ----------------------------------------------------------------------------


class ClientLog(logging.Handler):
    """Counts the client's retries, token refreshes and reconciliations from its log records."""

    KINDS: ClassVar[dict[str, str]] = {
        "retries": "CDM %s %s failed (attempt %d of at most %d): %s; retrying in %.1f s",
        "token refreshes": "CDM %s %s: token refused, fetching a new one",
    }
    RECONCILED_LOGGER = "airflow_provider_cdm.client.reconcile"

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        for kind, template in self.KINDS.items():
            if record.msg == template:
                self.counts[kind] += 1
        if record.name == self.RECONCILED_LOGGER and record.levelno == logging.INFO:
            self.counts["reconciled"] += 1  # a lost create or start answer resolved without a re-send


@contextmanager
def client_log() -> Iterator[ClientLog]:
    logger = logging.getLogger("airflow_provider_cdm")
    handler, level = ClientLog(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# --- the figures ---------------------------------------------------------------------------------------


@dataclass
class PhaseFigures:
    phase: str
    summary: str
    lifecycles: int
    paths: Counter[str]
    outcomes: Counter[str]
    requests: int
    faults: Counter[str]
    revocations: int
    throttled: Counter[str]
    bursts: Counter[str]
    client: Counter[str]
    wrong: list[str] = field(default_factory=list)
    duplicate_starts: int = 0
    duplicate_creates: int = 0
    left_running: int = 0
    seconds: float = 0.0

    @property
    def core_faults(self) -> int:
        return sum(self.faults.get(kind, 0) for kind in CORE_KINDS)

    @property
    def all_faults(self) -> int:
        return self.core_faults + self.faults.get("latency", 0) + self.faults.get("quota", 0)


def _delta(after: Mapping[str, Mapping[str, int]], before: Mapping[str, Mapping[str, int]]) -> int:
    total = 0
    for operation, codes in after.items():
        for code, count in codes.items():
            total += count - before.get(operation, {}).get(code, 0)
    return total


def verify(
    lifecycles: list[Lifecycle],
    observed: dict[str, Observed],
    state: Mapping[str, Any],
    stats: Mapping[str, Any],
    stats_before: Mapping[str, Any],
) -> tuple[list[str], int, int, int]:
    """Wrong outcomes (with reasons), duplicate starts, duplicate creates and jobs left running."""
    jobs: dict[str, list[dict[str, Any]]] = {}
    left_running = 0
    for cluster in state["clusters"]:
        for job in cluster["jobs"]:
            jobs.setdefault(job["name"], []).append(job)
            left_running += bool(job["active"])
    starts, creates = Counter(stats.get("starts", {})), Counter(stats.get("creates", {}))
    starts.subtract(stats_before.get("starts", {}))
    creates.subtract(stats_before.get("creates", {}))
    wrong = []
    for lc in lifecycles:
        seen = observed.get(lc.job) or Observed(error="no verdict")
        problems = []
        if seen.error:
            problems.append(seen.error)
        elif seen.status != lc.outcome:
            problems.append(f"Airflow saw {seen.status}, scripted {lc.outcome}")
        runs = [run for job in jobs.get(lc.job, []) for run in job["runs"]]
        if len(runs) == 1:
            run = runs[0]
            if run["status"] != lc.outcome or run["stopped"]:
                problems.append(f"CDM's run ended {run['status']} (stopped: {run['stopped']}), scripted {lc.outcome}")
            if not seen.error and seen.submission_id != run["submission_id"]:
                problems.append(f"Airflow reported run {seen.submission_id}, CDM ran {run['submission_id']}")
        elif not runs:
            problems.append("CDM never ran the job")
        if not seen.error and lc.outcome == "SUCCEEDED" and not seen.rows_written:
            problems.append("no rows written in the result")
        if not seen.error and lc.error_summary and lc.error_summary not in seen.message:
            problems.append(f"CDM's error summary is not in {seen.message[:200]!r}")
        if problems:
            wrong.append(f"{lc.job} [{lc.path}]: " + "; ".join(problems))
    duplicate_starts = sum(max(0, count - 1) for count in starts.values())
    duplicate_creates = sum(max(0, count - 1) for count in creates.values())
    return wrong, duplicate_starts, duplicate_creates, left_running


def _worker_thread() -> None:
    """Airflow 2 keeps the caller check of ``execute`` in a thread-local that only its main thread sets
    up (a worker runs a task in the main thread of its process); set it up in this pool thread too."""
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

    if AIRFLOW_V_3_0_PLUS:
        return
    from airflow.models.baseoperator import ExecutorSafeguard

    if not hasattr(ExecutorSafeguard._sentinel, "callers"):
        ExecutorSafeguard._sentinel.callers = {}


def run_phase(emulator: EmulatorProcess, phase: Phase, clusters: list[str]) -> PhaseFigures:
    """Run the phase's lifecycles under its chaos; its figures (the caller asserts on them)."""
    from airflow_provider_cdm.client.auth import TOKEN_CACHE
    from airflow_provider_cdm.client.rate_limit import reset_shared_limiters

    emulator.reset()
    emulator.clear_faults()
    TOKEN_CACHE.clear()
    reset_shared_limiters()
    lifecycles = plan(phase)
    for lc in lifecycles:
        emulator.script_job(lc.job, lc.outcome, duration_s=lc.duration_s, error_summary=lc.error_summary)
    if phase.throttle is not None:
        fill_quota_windows(emulator, phase.conn_id)
    stats_before = emulator.stats()
    triggerer = TriggerLoop()
    env = Env(emulator, phase, clusters, triggerer)
    observed: dict[str, Observed] = {}
    began = time.monotonic()
    try:
        with client_log() as client, Chaos(emulator, phase) as chaos:
            with ThreadPoolExecutor(WORKERS, f"chaos-{phase.name}", initializer=_worker_thread) as pool:
                futures = {lc.job: pool.submit(run_lifecycle, lc, env) for lc in lifecycles}
                for job, future in futures.items():
                    try:
                        observed[job] = future.result(timeout=LIFECYCLE_LIMIT_S + 30)
                    except Exception as err:
                        observed[job] = Observed(error=f"no verdict: {type(err).__name__}")
    finally:
        triggerer.close()
    seconds = time.monotonic() - began
    stats, state = emulator.stats(), emulator.state()
    wrong, duplicate_starts, duplicate_creates, left_running = verify(lifecycles, observed, state, stats, stats_before)
    faults = Counter(stats.get("faults", {}))
    faults.subtract(stats_before.get("faults", {}))
    return PhaseFigures(
        phase=phase.name,
        summary=phase.summary,
        lifecycles=len(lifecycles),
        paths=Counter(lc.path for lc in lifecycles),
        outcomes=Counter(lc.outcome for lc in lifecycles),
        requests=_delta(stats["requests"], stats_before["requests"]),
        faults=+faults,
        revocations=chaos.revocations,
        throttled=chaos.throttled,
        bursts=chaos.bursts,
        client=client.counts,
        wrong=wrong,
        duplicate_starts=duplicate_starts,
        duplicate_creates=duplicate_creates,
        left_running=left_running,
        seconds=seconds,
    )


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "n/a"


def render(figures: list[PhaseFigures], airflow_version: str) -> str:
    """The figures as a markdown table, one row per phase and a total."""
    columns = (
        "phase", "lifecycles", "requests", "5xx", "reset before", "reset after", "bad body",
        "latency > read timeout", "429 quota (Retry-After / none)", "token revocations",
        "faulted (5xx, resets, bad bodies / all kinds)",
        "client retries", "token refreshes", "reconciled", "wrong outcomes", "duplicate starts",
        "duplicate creates", "left running", "seconds",
    )  # fmt: skip

    def row(name: str, items: list[PhaseFigures]) -> str:
        faults: Counter[str] = Counter()
        client: Counter[str] = Counter()
        throttled: Counter[str] = Counter()
        for item in items:
            faults.update(item.faults)
            client.update(item.client)
            throttled.update(item.throttled)
        requests = sum(item.requests for item in items)
        core = sum(item.core_faults for item in items)
        every = sum(item.all_faults for item in items)
        cells = (
            name,
            sum(item.lifecycles for item in items),
            requests,
            faults["error"],
            faults["reset_before"],
            faults["reset_after"],
            faults["malformed"],
            faults["latency"],
            f"{faults['quota']} ({throttled['Retry-After']} / {throttled['no Retry-After']})",
            sum(item.revocations for item in items),
            f"{_pct(core, requests)} / {_pct(every, requests)}",
            client["retries"],
            client["token refreshes"],
            client["reconciled"],
            sum(len(item.wrong) for item in items),
            sum(item.duplicate_starts for item in items),
            sum(item.duplicate_creates for item in items),
            sum(item.left_running for item in items),
            f"{sum(item.seconds for item in items):.1f}",
        )
        return "| " + " | ".join(str(cell) for cell in cells) + " |"

    lines = [
        f"Chaos suite, Airflow {airflow_version}: base faults on {sum(CORE_SHARES.values()):.0%} of requests "
        f"(5xx {CORE_SHARES['error']:.0%}, dropped connection {CORE_SHARES['reset']:.0%}, bad body "
        f"{CORE_SHARES['malformed']:.0%}); retry policy {RETRY_POLICY}; {WORKERS} worker threads, one trigger loop.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines += [row(item.phase, [item]) for item in figures]
    if len(figures) > 1:
        lines.append(row("**total**", figures))
    steady = [item for item in figures if not item.bursts.get("outage")]
    steady_requests = sum(item.requests for item in steady)
    lines.append("")
    lines.append(
        f"Base faults measured over the phases without 5xx bursts: "
        f"{_pct(sum(item.core_faults for item in steady), steady_requests)} of {steady_requests} requests "
        f"(drawn per request by the emulator at {sum(CORE_SHARES.values()):.0%})."
    )
    for item in figures:
        paths = ", ".join(f"{path} {count}" for path, count in sorted(item.paths.items()))
        outcomes = ", ".join(f"{outcome} {count}" for outcome, count in sorted(item.outcomes.items()))
        bursts = ", ".join(f"{kind} {count}" for kind, count in sorted(item.bursts.items()))
        lines.append(
            f"- {item.phase}: {item.summary}. Paths: {paths}. Scripted: {outcomes}."
            + (f" Bursts: {bursts}." if bursts else "")
        )
    return "\n".join(lines) + "\n"
