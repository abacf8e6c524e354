"""A real Airflow 3 deployment against the CDM emulator with quotas, for the deployment test and its bench.

:func:`run_deployment` starts, on 127.0.0.1 with free ports: an emulator process (``--quotas``), a
PostgreSQL server in a temporary data dir (as the ``postgres`` system user when run as root: postgres
refuses root), then ``airflow db migrate`` and separate ``api-server``, ``scheduler`` (LocalExecutor),
``dag-processor`` and ``triggerer`` processes. It writes the DAG (``cdm_deployment_dag.py`` and its
JSON spec) into a temporary DAGs folder, scripts every job's run in the emulator (every
``fail_every``-th of each group fails), triggers one DAG run, optionally ``kill -9``s a triggerer
mid-run and starts another, waits for the run to end and collects what happened from both sides:
task-instance states and end dates and the ``trigger`` table from Airflow's database, task logs from
``AIRFLOW_HOME/logs``, counters (per client: ``sync`` workers, ``async`` triggerers), starts and runs
from the emulator's admin API. Every process is stopped by its PID (SIGTERM, then SIGKILL after a grace
period; anything left in its process group is killed and reported) and the temporary dirs are removed,
whatever happens.

The size comes from :class:`DeploymentSpec` (``DeploymentSpec.from_env()`` reads ``CDM_DEPLOYMENT_*``).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_provider_cdm.emulator.testing import EmulatorProcess, run_emulator
from tests.deployment.asset_watch import AssetWatchResult, run_asset_watch

DAG_FILE = Path(__file__).with_name("cdm_deployment_dag.py")
DAG_ID = "cdm_deployment"
RUN_ID = "deployment_run"
GROUPS = ("deferred", "polling", "poke", "reschedule")
ACTIVE_RUN_STATUSES = frozenset({"BOOTING", "RUNNING"})
# What a task that failed *because of* throttling logs: the exception (a 429 the client retried logs
# "APIG.0308" at INFO and costs time, never the task; a task that failed for its job may have one).
THROTTLE_MARKERS = ("CdmThrottledError",)
ERROR_MARKERS = ("Traceback (most recent call last)", '"error_detail"')  # plain and structured (JSON) logs
POSTGRES_USER = "postgres"  # the system user the server runs as when we are root
STOP_GRACE_S = 20.0
SWEEP_WAIT_S = 5.0  # how long a stopped leader's children get to exit on their own
START_TIMEOUT_S = 120.0
CLI_TIMEOUT_S = 300.0
TRIGGER_CLEANUP_S = 30.0  # the triggerer deletes triggers no task instance needs any more on its own pace
# Airflow 3.3.2's scheduler fails a task instance whose executor event (the worker's exit after a defer or a
# reschedule) it reads only after the instance was queued again: a deferred task whose trigger fired within
# the event's lag, or a rescheduling sensor whose next poke came as soon. Named in the scheduler's log.
_SCHEDULER_RACE = re.compile(
    rf"<TaskInstance: {DAG_ID}\.(?P<task>\S+) {RUN_ID}(?: map_index=(?P<index>\d+))? \[\w+\][^>]*> finished with "
    r"state \w+, but the task instance's state attribute is"
)
# What Airflow's triggerer logs when its event loop did not run for a while (a trigger blocked it, or the
# machine did not give the process the CPU).
_LOOP_BLOCKED = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z?\s"
    r".*?async thread was blocked for (?P<seconds>[0-9.]+) seconds",
    re.MULTILINE,
)
# Triggerers run under loop_watch.py, which records every callback that held their loop (see attribute_loop_blocks).
LOOP_WATCH = Path(__file__).with_name("loop_watch.py")
WATCHDOG_SLEEP_S = 0.1  # Airflow's watchdog sleeps this long and warns when it got back 0.2 s or more later
# A warning is the provider's when its code ran on the loop for this much CPU time within the block: on this
# loaded 2-core machine a step takes 3-5 times its CPU time (measured: 0.085 s of CPU took 0.34 s), so 30 ms
# sets the warning off. Importing the provider's client modules on the loop cost 0.05-0.14 s of CPU, the
# poller's count of frozen objects 0.04-0.05 s; one loop iteration of its watching, under 30 ms.
PROVIDER_BLOCK_S = 0.03
# A task's log per attempt, and beside it the log of each trigger that watched it (attempt=1.log.trigger.4.log).
_LOG_PATH = re.compile(
    r"task_id=(?P<task>[^/]+)(?:/map_index=(?P<index>-?\d+))?/attempt=\d+\.log(?:\.trigger\.\d+\.log)?$"
)


@dataclass(frozen=True)
class DeploymentSpec:
    """The deployment's size and pace; the defaults fit CI (a few minutes on 2 cores)."""

    deferred: int = 40  # mapped deferrable start tasks (one job each)
    polling: int = 10  # mapped non-deferrable start tasks: they poll in the worker
    poke: int = 5  # sensors in mode="poke" (each behind a non-waiting start of its job)
    reschedule: int = 3  # sensors in mode="reschedule"
    triggerers: int = 1
    # kill -9 a triggerer once a quarter of the deferred tasks have deferred (or ended), while triggers run in it
    kill_triggerer: bool = True
    poll_interval_s: float = 1.0  # poll_interval / poke_interval of every task but the rescheduling sensors
    # A poke interval or a job duration of a few seconds invites Airflow's scheduler race (_SCHEDULER_RACE)
    # on a loaded 2-core machine, where the executor's events lag by up to about ten seconds.
    reschedule_interval_s: float = 10.0
    min_duration_s: float = 10.0  # scripted job durations, uniform in [min, max]
    max_duration_s: float = 40.0
    fail_every: int = 10  # every fail_every-th job of each group fails (at least one per group: its last if smaller)
    parallelism: int = 24  # [core] parallelism and the DAG's max_active_tasks
    seed: int = 20261201
    run_timeout_s: float = 360.0  # the DAG run must end within this, else the result says "running"
    # After the DAG run, in the same deployment: CDM-scheduled runs as asset events (asset_watch.py)
    asset_watch: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> DeploymentSpec:
        """The defaults, then ``CDM_DEPLOYMENT_<FIELD>`` variables (``CDM_DEPLOYMENT_N`` is ``deferred``,
        ``CDM_DEPLOYMENT_SENSORS`` splits evenly into ``poke`` and ``reschedule``), then ``overrides``."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if "CDM_DEPLOYMENT_N" in environ:
            values["deferred"] = int(environ["CDM_DEPLOYMENT_N"])
        if "CDM_DEPLOYMENT_SENSORS" in environ:
            sensors = int(environ["CDM_DEPLOYMENT_SENSORS"])
            values.update(poke=sensors - sensors // 2, reschedule=sensors // 2)
        for spec_field in fields(cls):
            raw = environ.get(f"CDM_DEPLOYMENT_{spec_field.name.upper()}")
            if raw is None:
                continue
            kind = type(getattr(cls(), spec_field.name))
            values[spec_field.name] = raw.lower() in ("1", "true", "yes") if kind is bool else kind(raw)
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class PlannedJob:
    """One CDM job of the DAG and what its (only) run was scripted to do."""

    name: str
    group: str
    index: int  # map index (deferred, polling) or sensor number (poke, reschedule)
    fails: bool
    duration_s: float

    @property
    def error_summary(self) -> str:
        return f"scripted failure of {self.name}"


def plan_jobs(spec: DeploymentSpec) -> list[PlannedJob]:
    """Every job of the DAG, deterministic for a seed: names, groups, scripted outcomes and durations."""
    rng = random.Random(spec.seed)
    jobs: list[PlannedJob] = []
    for group in GROUPS:
        size = getattr(spec, group)
        failing = min(size, spec.fail_every) - 1  # so that every way of waiting sees a failure too
        for index in range(size):
            fails = index % spec.fail_every == failing
            duration = round(rng.uniform(spec.min_duration_s, spec.max_duration_s), 1)
            jobs.append(PlannedJob(f"{group}_{index:04d}", group, index, fails, duration))
    return jobs


TaskKey = tuple[str, int]  # (task_id, map_index); -1 for a task that is not mapped


def expected_states(jobs: list[PlannedJob]) -> dict[TaskKey, str]:
    """Each task instance's final state as the scripts decide it."""
    expected: dict[TaskKey, str] = {}
    for job in jobs:
        expected[(f"create_{job.group}", job.index)] = "success"
        if job.group not in ("deferred", "polling"):
            expected[(f"start_{job.group}_{job.index}", -1)] = "success"  # returns at once: the sensor waits
    for key, job in job_of_task(jobs).items():
        expected[key] = "failed" if job.fails else "success"
    return expected


def job_of_task(jobs: list[PlannedJob]) -> dict[TaskKey, PlannedJob]:
    """The job each waiting task (start with wait, or sensor) watches."""
    found: dict[TaskKey, PlannedJob] = {}
    for job in jobs:
        key = (job.group, job.index) if job.group in ("deferred", "polling") else (f"{job.group}_{job.index}", -1)
        found[key] = job
    return found


@dataclass
class TaskLog:
    """What one task instance's log files (all attempts) say."""

    throttled: bool = False  # names CdmThrottledError (the task gave up on throttling)
    errors: bool = False  # holds a traceback (plain or structured)
    text: str = ""


@dataclass
class DeploymentResult:
    """Everything collected from one deployment run."""

    spec: DeploymentSpec
    jobs: list[PlannedJob]
    expected: dict[TaskKey, str]
    states: dict[TaskKey, str | None]
    end_dates: dict[TaskKey, datetime | None]
    dag_run_state: str | None
    triggers_left: int
    stats: dict[str, Any]
    emulator_state: dict[str, Any]
    logs: dict[TaskKey, TaskLog]
    timings_s: dict[str, float] = field(default_factory=dict)
    triggerer_killed: bool = False
    triggers_assigned_at_kill: int = 0  # triggers running in the triggerers when one was killed
    leftover_processes: list[str] = field(default_factory=list)
    surviving_processes: list[str] = field(default_factory=list)
    scheduler_races: list[TaskKey] = field(default_factory=list)  # failed by Airflow (see _SCHEDULER_RACE)
    # Airflow's "Triggerer's async thread was blocked for N seconds" warnings: (triggerer log, N)
    loop_blocked: list[tuple[str, float]] = field(default_factory=list)
    # each of them attributed from loop_watch.py's records (LoopBlock.cause)
    loop_blocks: list[LoopBlock] = field(default_factory=list)
    loop_watched: list[str] = field(default_factory=list)  # the triggerers loop_watch.py watched
    asset_watch: AssetWatchResult | None = None  # the asset-watch scenario's outcome (spec.asset_watch)

    @property
    def expected_dag_run_state(self) -> str:
        return "failed" if any(job.fails for job in self.jobs) else "success"

    def wrong_states(self) -> dict[TaskKey, tuple[str, str | None]]:
        """Task instances whose final state is not what their job was scripted to do (or that are missing)."""
        keys = set(self.expected) | set(self.states)
        return {
            key: (self.expected.get(key, "<none>"), self.states.get(key))
            for key in sorted(keys)
            if self.expected.get(key) != self.states.get(key)
        }

    def throttled_failures(self) -> list[TaskKey]:
        """Task instances that did not succeed and whose log names CdmThrottledError (failed by a 429)."""
        return sorted(
            key for key, state in self.states.items() if state != "success" and self.logs.get(key, TaskLog()).throttled
        )

    def errors_in_successes(self) -> list[TaskKey]:
        """Task instances expected to succeed whose log holds a traceback."""
        return sorted(
            key for key, state in self.expected.items() if state == "success" and self.logs.get(key, TaskLog()).errors
        )

    def failures_without_cdm_reason(self) -> list[TaskKey]:
        """Scripted failures whose log does not carry CDM's error summary (failed for another reason)."""
        return sorted(
            key
            for key, job in job_of_task(self.jobs).items()
            if job.fails and job.error_summary not in self.logs.get(key, TaskLog()).text
        )

    def starts(self) -> dict[str, int]:
        counted: dict[str, int] = self.stats.get("starts", {})
        return {job.name: int(counted.get(job.name, 0)) for job in self.jobs}

    def duplicate_starts(self) -> dict[str, int]:
        return {name: count for name, count in self.starts().items() if count > 1}

    def never_started(self) -> list[str]:
        return sorted(name for name, count in self.starts().items() if count == 0)

    def runs(self) -> dict[str, list[dict[str, Any]]]:
        """Every job's runs as the emulator recorded them."""
        return {
            job["name"]: job["runs"] for cluster in self.emulator_state.get("clusters", []) for job in cluster["jobs"]
        }

    def left_running(self) -> list[str]:
        """Jobs with a run still BOOTING or RUNNING in CDM after the DAG run ended."""
        return sorted(
            name for name, runs in self.runs().items() if any(run["status"] in ACTIVE_RUN_STATUSES for run in runs)
        )

    def provider_loop_blocks(self) -> list[LoopBlock]:
        """The warnings the provider's code caused: it ran PROVIDER_BLOCK_S of CPU time or more in the block."""
        return [block for block in self.loop_blocks if block.cause == "provider"]

    def calls_by_client(self) -> dict[str, tuple[int, int]]:
        """(requests, 429 answers) per client: ``sync`` (workers), ``async`` (triggerers), ``other``."""
        clients: dict[str, dict[str, int]] = self.stats.get("clients", {})
        return {client: (sum(statuses.values()), statuses.get("429", 0)) for client, statuses in clients.items()}

    def end_lags_s(self, groups: tuple[str, ...] = GROUPS) -> list[float]:
        """Seconds from each job's scripted end (its run's start + duration) to its waiting task's end."""
        runs = self.runs()
        lags = []
        for key, job in job_of_task(self.jobs).items():
            ended = self.end_dates.get(key)
            job_runs = runs.get(job.name) or []
            if job.group not in groups or ended is None or not job_runs or job_runs[0]["stopped"]:
                continue
            run = job_runs[0]
            lags.append(ended.timestamp() - (run["started_at"] + run["duration_s"]))
        return lags

    def summary(self) -> str:
        """A short account for assertion messages and the test's output."""
        counted = Counter(state for state in self.states.values())
        calls = ", ".join(
            f"{client}: {total} calls, {throttled} x 429"
            for client, (total, throttled) in sorted(self.calls_by_client().items())
        )
        return (
            f"dag run {self.dag_run_state} (expected {self.expected_dag_run_state}); task states {dict(counted)}; "
            f"{calls}; wrong {len(self.wrong_states())}, throttled failures {len(self.throttled_failures())}, "
            f"duplicate starts {len(self.duplicate_starts())}, never started {len(self.never_started())}, "
            f"left running {len(self.left_running())}, triggers left {self.triggers_left}; "
            f"failed by Airflow's scheduler race {self.scheduler_races}; "
            f"triggerer loop blocked {self.loop_blocked} ({'; '.join(b.summary() for b in self.loop_blocks)}); "
            f"triggerer killed: {self.triggerer_killed} "
            f"({self.triggers_assigned_at_kill} triggers assigned then); "
            f"processes killed after their leader stopped {len(self.leftover_processes)}; timings {self.timings_s}"
        )


# --- the triggerers' loops ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LoopBlock:
    """One "async thread was blocked" warning of a triggerer, attributed from loop_watch.py's records.

    The records are loop_watch.py's: the loop iterations whose callbacks (task steps, timers, I/O
    callbacks) ran 50 ms or more and ended within the block. ``provider_s`` is the CPU time of this
    provider's code in them: their CPU time without garbage collections, times the share of their stack
    samples with a frame in ``airflow_provider_cdm``. The rest: ``airflow_cpu_s`` (CPU in other code:
    Airflow's, the standard library's), ``gc_s`` (garbage collections), ``cpu_wait_s`` (runnable, no CPU
    given: the run-queue waits in those iterations, plus the part of the block no recorded iteration
    covers, where the idle loop woke late), ``blocked_call_s`` (off a CPU and not in the run queue: a
    blocking call, a wait for the GIL, or a run-queue wait before the sampler's first look). Time off a
    CPU inside the provider's frames is in ``blocked_call_s`` too, and not counted against the provider:
    it cannot be told from a wait for the GIL or a write of Airflow's log handler, and the provider
    makes no blocking call on the loop by design (its I/O is httpx's, asynchronous).
    """

    triggerer: str
    at: str
    seconds: float
    provider_s: float
    airflow_cpu_s: float
    gc_s: float
    cpu_wait_s: float
    blocked_call_s: float
    callbacks: tuple[str, ...]  # the bursts of callbacks that ran in the block (the longest callback of each)
    frames: tuple[str, ...]  # their most frequent frames: provider's first, then the innermost

    @property
    def cause(self) -> str:
        if self.provider_s >= PROVIDER_BLOCK_S:
            return "provider"
        parts = {
            "Airflow's code": self.airflow_cpu_s,
            "garbage collection": self.gc_s,
            "waiting for a CPU": self.cpu_wait_s,
            "a blocking call": self.blocked_call_s,
        }
        return max(parts, key=lambda name: parts[name])

    def summary(self) -> str:
        return (
            f"{self.triggerer} {self.at} {self.seconds:.2f} s: {self.cause} "
            f"(provider's code CPU {self.provider_s:.3f} s, "
            f"Airflow's code CPU {self.airflow_cpu_s:.3f} s, gc {self.gc_s:.3f} s, waiting for a CPU "
            f"{self.cpu_wait_s:.3f} s, blocking calls {self.blocked_call_s:.3f} s; "
            f"{', '.join(self.callbacks) or 'no burst of callbacks of 50 ms or more'}; frames {list(self.frames)})"
        )


def _callback_name(record: Mapping[str, Any]) -> str:
    """A burst of callbacks: how long, its CPU, how many callbacks, and the longest of them."""
    callback = record.get("callback", {})
    slowest = f"{callback['task']} ({callback.get('coro')})" if "task" in callback else str(callback.get("handle"))[:80]
    return (
        f"{record.get('callbacks', 1)} callback(s) {record['wall_s']:.3f} s, CPU {record['cpu_s']:.3f} s, "
        f"the longest {record.get('slowest_s', record['wall_s']):.3f} s: {slowest}"
    )


def attribute_loop_blocks(
    warnings: list[tuple[str, datetime, float]], records: Mapping[str, list[Mapping[str, Any]]]
) -> list[LoopBlock]:
    """Each warning ``(triggerer, logged at (UTC), seconds)`` with the loop_watch.py records of that
    triggerer's callbacks that ended within it (from ``seconds`` before the warning to the warning)."""
    blocks = []
    for triggerer, logged, seconds in warnings:
        end = logged.timestamp()
        inside = [
            record
            for record in records.get(triggerer, [])
            if "end" in record and end - seconds - 0.05 <= record["end"] <= end + 0.05
        ]
        provider = airflow_cpu = gc_s = runqueue = blocked_call = wall = 0.0
        provider_frames: Counter[str] = Counter()
        innermost: Counter[str] = Counter()
        for record in inside:
            if record["samples"]:
                share = record["provider_samples"] / record["samples"]
            else:
                share = 1.0 if "airflow_provider_cdm" in str(record["callback"].get("file")) else 0.0
            code_cpu = max(0.0, record["cpu_s"] - record["gc_s"])
            waited = record.get("runqueue_s") or 0.0  # None: the sampler did not look (a short callback)
            provider += code_cpu * share
            airflow_cpu += code_cpu * (1 - share)
            gc_s += record["gc_s"]
            runqueue += waited
            blocked_call += max(0.0, record["wall_s"] - record["cpu_s"] - waited)
            wall += record["wall_s"]
            provider_frames.update(dict(record["provider_frames"]))
            innermost.update(dict(record["innermost"]))
        frames = [frame for frame, _ in provider_frames.most_common(3) + innermost.most_common(3)]
        outside = max(0.0, seconds - WATCHDOG_SLEEP_S - wall)
        blocks.append(
            LoopBlock(
                triggerer=triggerer,
                at=logged.isoformat(timespec="milliseconds"),
                seconds=seconds,
                provider_s=round(provider, 3),
                airflow_cpu_s=round(airflow_cpu, 3),
                gc_s=round(gc_s, 3),
                cpu_wait_s=round(runqueue + outside, 3),
                blocked_call_s=round(blocked_call, 3),
                callbacks=tuple(_callback_name(record) for record in inside),
                frames=tuple(_short_frame(frame) for frame in frames),
            )
        )
    return blocks


def _short_frame(frame: str) -> str:
    path, _, rest = frame.partition(":")
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            path = path.rpartition(marker)[2]
            break
    return f"{path}:{rest}"


def read_loop_watch(directory: Path, leaders: Mapping[int, str]) -> dict[str, list[dict[str, Any]]]:
    """loop_watch.py's records per triggerer (by the PID of the triggerer process the harness started)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(directory.glob("loop-watch-*-*.jsonl")):
        parent = int(path.stem.split("-")[2])
        if parent in leaders:
            lines = path.read_text(errors="replace").splitlines()
            found.setdefault(leaders[parent], []).extend(json.loads(line) for line in lines if line.strip())
    return found


def loop_watched(records: Mapping[str, list[Mapping[str, Any]]]) -> list[str]:
    """The triggerers whose loop loop_watch.py watched (it wrote its first line in their trigger runner)."""
    return sorted(name for name, lines in records.items() if any("watching" in line for line in lines))


def read_loop_warnings(log_dir: Path) -> list[tuple[str, datetime, float]]:
    """Airflow's "async thread was blocked" warnings of every triggerer log: (triggerer, when, seconds)."""
    from datetime import timezone

    return [
        (log.stem, datetime.fromisoformat(found["at"]).replace(tzinfo=timezone.utc), float(found["seconds"]))
        for log in sorted(log_dir.glob("triggerer*.log"))
        for found in _LOOP_BLOCKED.finditer(log.read_text(errors="replace"))
    ]


# --- processes ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _process_group(pgid: int) -> list[tuple[int, str]]:
    """The live processes (pid, command) of a process group, read from /proc."""
    members = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        name, _, rest = text.rpartition(")")
        parts = rest.split()
        if len(parts) > 2 and parts[0] != "Z" and int(parts[2]) == pgid:
            members.append((int(stat.split("/")[2]), name.partition("(")[2]))
    return members


class Processes:
    """Child processes, each the leader of its own session; stopped by PID in reverse start order."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._started: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.leftovers: list[str] = []  # children that outlived their stopped leader (then killed)
        self.survivors: list[str] = []  # what even SIGKILL did not end

    def start(self, name: str, argv: list[str], env: Mapping[str, str], **popen: Any) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                argv,
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **popen,
            )
        self._started.append((name, process))
        return process

    def log_text(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return self.log_text(name)[-chars:]

    def kill9(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL that one PID (the crash under test); its group is swept at the end like any other."""
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self, name: str, process: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM, SIGKILL after ``grace_s``; then SIGKILL whatever is left in its process group (and note it)."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)
        members = self._wait_group_empty(process.pid, SWEEP_WAIT_S)
        for pid, command in members:
            self.leftovers.append(f"{name}: pid {pid} ({command}) outlived its leader")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if members and self._wait_group_empty(process.pid, SWEEP_WAIT_S):
            self.survivors.append(f"{name}: process group {process.pid} survived SIGKILL")

    @staticmethod
    def _wait_group_empty(pgid: int, wait_s: float) -> list[tuple[int, str]]:
        """The group's live members once it is empty or ``wait_s`` has passed."""
        deadline = time.monotonic() + wait_s
        while (members := _process_group(pgid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        return members

    def stop_all(self) -> None:
        while self._started:
            name, process = self._started.pop()
            self.stop(name, process)


# --- PostgreSQL ---------------------------------------------------------------------------------------


def postgres_bin_dir() -> Path:
    """Debian's newest /usr/lib/postgresql/<major>/bin (scripts/ensure_postgresql.sh installs it)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
    if not found:
        raise RuntimeError("no /usr/lib/postgresql/*/bin/initdb: run scripts/ensure_postgresql.sh (as root)")
    return Path(found[-1]).parent


def _as_postgres_user(argv: list[str]) -> list[str]:
    """Root runs the server's commands as the postgres system user (postgres refuses root); others as themselves."""
    return ["runuser", "-u", POSTGRES_USER, "--", *argv] if os.geteuid() == 0 else argv


def start_postgres(processes: Processes, workdir: Path) -> str:
    """A throw-away PostgreSQL server on 127.0.0.1 (TCP only, no fsync) with an ``airflow`` database; returns
    its SQLAlchemy URL. The server is one of ``processes`` (stopped with them)."""
    import psycopg2

    bin_dir = postgres_bin_dir()
    data = workdir / "pgdata"
    data.mkdir()
    if os.geteuid() == 0:
        user = pwd.getpwnam(POSTGRES_USER)
        os.chown(workdir, user.pw_uid, user.pw_gid)
        os.chown(data, user.pw_uid, user.pw_gid)
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8", "--no-sync"]
    subprocess.run(_as_postgres_user(initdb), check=True, capture_output=True, timeout=CLI_TIMEOUT_S)
    port = free_port()
    server = [
        str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", "",
        "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300",
    ]  # fmt: skip
    process = processes.start("postgres", _as_postgres_user(server), os.environ)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            connection = psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="postgres")
            break
        except psycopg2.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start:\n{processes.log_tail('postgres')}") from None
            time.sleep(0.2)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("CREATE DATABASE airflow")
    connection.close()
    return f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"


class AirflowDb:
    """Read-only queries on the deployment's metadata database."""

    def __init__(self, url: str) -> None:
        import psycopg2

        host_port = url.rsplit("@", 1)[1].split("/", 1)[0]
        host, port = host_port.split(":")
        self._connection = psycopg2.connect(host=host, port=int(port), user="airflow", dbname="airflow")
        self._connection.autocommit = True

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with self._connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def scalar(self, sql: str, *params: object) -> Any:
        found = self.rows(sql, *params)
        return found[0][0] if found else None

    def close(self) -> None:
        self._connection.close()


# --- Airflow --------------------------------------------------------------------------------------------


def airflow_env(
    home: Path, dags: Path, db_url: str, api_port: int, connection: str, spec: DeploymentSpec
) -> dict[str, str]:
    """The environment of every Airflow process: its own home and database, none of this test process's AIRFLOW_*."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    api_url = f"http://127.0.0.1:{api_port}"
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW_CONN_CDM_DEFAULT": connection,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(spec.parallelism),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "120",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "5",
            # A killed triggerer's triggers go to another one once its heartbeat is this old.
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "PYTHONWARNINGS": "ignore",
        }
    )
    return env


def airflow_cli(env: Mapping[str, str], *args: str) -> str:
    """``airflow ARGS`` in the deployment's environment; raises with its output when it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=dict(env), capture_output=True, text=True,
        timeout=CLI_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _wait(what: str, ready: Any, processes: Processes, watched: Mapping[str, subprocess.Popen[bytes]]) -> None:
    """Poll ``ready()`` until true; fail early, with the log tail, when a watched process exits."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        for name, process in watched.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited {process.returncode} while waiting for {what}:\n"
                                   f"{processes.log_tail(name)}")  # fmt: skip
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {name}\n{processes.log_tail(name)}" for name in watched)
            raise RuntimeError(f"no {what} after {START_TIMEOUT_S} s:\n{tails}")
        time.sleep(0.5)


def _api_healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=2) as answer:
            return bool(json.load(answer)["metadatabase"]["status"] == "healthy")
    except (OSError, urllib.error.URLError, ValueError, KeyError):
        return False


def read_task_logs(log_root: Path) -> dict[TaskKey, TaskLog]:
    """Every task instance's log files of the run (all attempts, their triggers'), with the markers found in them."""
    found: dict[TaskKey, TaskLog] = {}
    for path in sorted(log_root.glob(f"dag_id={DAG_ID}/run_id={RUN_ID}/**/attempt=*.log*")):
        matched = _LOG_PATH.search(path.as_posix())
        if not matched:
            continue
        key = (matched["task"], int(matched["index"] or -1))
        text = path.read_text(errors="replace")
        log = found.setdefault(key, TaskLog())
        log.text += text
        log.throttled = log.throttled or any(marker in text for marker in THROTTLE_MARKERS)
        log.errors = log.errors or any(marker in text for marker in ERROR_MARKERS)
    return found


def _triggers_left(db: AirflowDb) -> int:
    """Rows left in the ``trigger`` table once the triggerer's periodic clean-up had its chance."""
    deadline = time.monotonic() + TRIGGER_CLEANUP_S
    while (left := int(db.scalar("SELECT count(*) FROM trigger"))) and time.monotonic() < deadline:
        time.sleep(1.0)
    return left


def _script_jobs(emulator: EmulatorProcess, jobs: list[PlannedJob]) -> None:
    for job in jobs:
        if job.fails:
            emulator.script_job(job.name, "FAILED", duration_s=job.duration_s, error_summary=job.error_summary)
        else:
            emulator.script_job(job.name, "SUCCEEDED", duration_s=job.duration_s)


def _write_dag(dags: Path, spec: DeploymentSpec, jobs: list[PlannedJob]) -> None:
    body = {
        "dag_id": DAG_ID,
        "poll_interval_s": spec.poll_interval_s,
        "reschedule_interval_s": spec.reschedule_interval_s,
        "task_timeout_s": spec.run_timeout_s,
        "parallelism": spec.parallelism,
        "jobs": {group: [job.name for job in jobs if job.group == group] for group in GROUPS},
    }
    shutil.copyfile(DAG_FILE, dags / DAG_FILE.name)
    (dags / DAG_FILE.name).with_suffix(".json").write_text(json.dumps(body, indent=1))


_DEPLOYMENTS: dict[tuple[DeploymentSpec, bool], DeploymentResult] = {}


def run_deployment(spec: DeploymentSpec, *, keep_dir: bool = False) -> DeploymentResult:
    """The deployment of ``spec``, run once per test session: every test module of the deployment reads it."""
    key = (spec, keep_dir)
    if key not in _DEPLOYMENTS:
        _DEPLOYMENTS[key] = _deploy(spec, keep_dir=keep_dir)
    return _DEPLOYMENTS[key]


def _deploy(spec: DeploymentSpec, *, keep_dir: bool = False) -> DeploymentResult:
    """Run the DAG once on a fresh deployment and collect the outcome (see the module docstring); then,
    with ``spec.asset_watch``, the asset-watch scenario in the same deployment (``asset_watch.py``).

    ``keep_dir`` leaves the temporary dir (Airflow home, logs, PostgreSQL data) for a post-mortem; its
    path is printed on stderr.
    """
    jobs = plan_jobs(spec)
    timings: dict[str, float] = {}
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="cdm-deployment-"))
    home, dags = workdir / "home", workdir / "dags"
    home.mkdir()
    dags.mkdir()
    processes = Processes(workdir)
    killed = False
    assigned_at_kill = 0
    try:
        with contextlib.ExitStack() as stack:
            emulator = stack.enter_context(run_emulator("--quotas", "--seed", str(spec.seed)))
            stack.callback(processes.stop_all)  # Airflow and PostgreSQL stop before the emulator does
            db_url = start_postgres(processes, workdir)
            timings["postgres"] = time.monotonic() - began
            api_port = free_port()
            env = airflow_env(home, dags, db_url, api_port, emulator.connection_json, spec)
            airflow_cli(env, "db", "migrate")
            timings["db migrate"] = time.monotonic() - began
            _script_jobs(emulator, jobs)
            _write_dag(dags, spec, jobs)
            airflow = [sys.executable, "-m", "airflow"]
            watched_triggerer = [sys.executable, str(LOOP_WATCH), "triggerer"]
            loop_watch_dir = workdir / "loop-watch"
            loop_watch_dir.mkdir()
            triggerer_env = {**env, "CDM_LOOP_WATCH_DIR": str(loop_watch_dir)}
            leaders: dict[int, str] = {}
            api = processes.start(
                "api-server", [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(api_port), "-w", "1"], env
            )
            services = {
                "api-server": api,
                "scheduler": processes.start("scheduler", [*airflow, "scheduler"], env),
                "dag-processor": processes.start("dag-processor", [*airflow, "dag-processor"], env),
            }
            triggerers = [
                processes.start(f"triggerer-{i}", watched_triggerer, triggerer_env) for i in range(spec.triggerers)
            ]
            leaders.update({process.pid: f"triggerer-{i}" for i, process in enumerate(triggerers)})
            db = AirflowDb(db_url)
            stack.callback(db.close)
            _wait("healthy api-server", lambda: _api_healthy(f"http://127.0.0.1:{api_port}"), processes, services)
            _wait(
                "serialized DAG",
                lambda: db.scalar("SELECT count(*) FROM serialized_dag WHERE dag_id = %s", DAG_ID) > 0,
                processes,
                services,
            )
            timings["services up"] = time.monotonic() - began
            airflow_cli(env, "dags", "trigger", DAG_ID, "--run-id", RUN_ID)
            triggered = time.monotonic()
            dag_run_state = None
            while time.monotonic() - triggered < spec.run_timeout_s:
                dag_run_state = db.scalar("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", DAG_ID, RUN_ID)
                if dag_run_state in ("success", "failed"):
                    break
                if spec.kill_triggerer and not killed and spec.deferred:
                    deferred_now, reached = db.rows(
                        "SELECT count(*) FILTER (WHERE state = 'deferred'),"
                        " count(*) FILTER (WHERE state IN ('deferred', 'success', 'failed'))"
                        " FROM task_instance WHERE dag_id = %s AND run_id = %s AND task_id = 'deferred'",
                        DAG_ID,
                        RUN_ID,
                    )[0]
                    assigned = db.scalar("SELECT count(*) FROM trigger WHERE triggerer_id IS NOT NULL")
                    if deferred_now and assigned and reached >= max(1, spec.deferred // 4):
                        processes.kill9(triggerers[0])
                        assigned_at_kill = int(assigned)
                        killed = True
                        timings["triggerer killed"] = time.monotonic() - triggered
                        triggerers[0] = processes.start("triggerer-replacement", watched_triggerer, triggerer_env)
                        leaders[triggerers[0].pid] = "triggerer-replacement"
                time.sleep(1.0)
            timings["dag run"] = time.monotonic() - triggered
            rows = db.rows(
                "SELECT task_id, map_index, state, end_date FROM task_instance WHERE dag_id = %s AND run_id = %s",
                DAG_ID,
                RUN_ID,
            )
            triggers_left = _triggers_left(db)
            asset_watch_result = None
            if spec.asset_watch:  # after the count: its watcher's trigger lives as long as its DAG

                def kill_triggerers() -> None:
                    for process in triggerers:
                        processes.kill9(process)

                def start_triggerers() -> None:
                    for i in range(len(triggerers)):
                        name = f"triggerer-asset-watch-{len(leaders)}"
                        triggerers[i] = processes.start(name, watched_triggerer, triggerer_env)
                        leaders[triggerers[i].pid] = name

                def restart_triggerers() -> None:
                    kill_triggerers()
                    start_triggerers()

                watch_began = time.monotonic()
                asset_watch_result = run_asset_watch(
                    emulator=emulator,
                    db=db,
                    dags=dags,
                    restart_triggerer=restart_triggerers,
                    kill_triggerer=kill_triggerers,
                    start_triggerer=start_triggerers,
                )
                timings["asset watch"] = time.monotonic() - watch_began
            emulator_state = emulator.state()
            stats = emulator.stats()
            logs = read_task_logs(home / "logs")
        # after stop_all: the triggerers are gone and their records complete
        warnings = read_loop_warnings(processes.log_dir)
        watch_records = read_loop_watch(loop_watch_dir, leaders)
        loop_blocks = attribute_loop_blocks(warnings, watch_records)
        result = DeploymentResult(
            spec=spec,
            jobs=jobs,
            expected=expected_states(jobs),
            states={(task, index): state for task, index, state, _ in rows},
            end_dates={(task, index): ended for task, index, _, ended in rows},
            dag_run_state=dag_run_state,
            triggers_left=triggers_left,
            stats=stats,
            emulator_state=emulator_state,
            logs=logs,
            timings_s={name: round(seconds, 1) for name, seconds in timings.items()},
            triggerer_killed=killed,
            triggers_assigned_at_kill=assigned_at_kill,
            leftover_processes=processes.leftovers,
            surviving_processes=processes.survivors,
            loop_blocked=[(name, seconds) for name, _, seconds in warnings],
            loop_blocks=loop_blocks,
            loop_watched=loop_watched(watch_records),
            asset_watch=asset_watch_result,
            scheduler_races=sorted(
                {
                    (race["task"], int(race["index"] or -1))
                    for race in _SCHEDULER_RACE.finditer(processes.log_text("scheduler"))
                }
            ),
        )
        result.timings_s["total"] = round(time.monotonic() - began, 1)
        return result
    finally:
        processes.stop_all()
        if keep_dir:
            print(f"[deployment] kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
