"""The triggerer under CDM's quotas: N running jobs watched by CdmJobStatusTriggers in ONE asyncio loop
(the shared poller), side by side with per-job polling through the sync hook in a thread pool (the
peers' way: one status call per job per poll interval), in the same run.

Each side gets its own emulator process started with ``--quotas`` (the documented per-user limits,
so the two sides cannot eat into each other's quota) and runs in its own process (CPU and memory are
the watching side's own). Every emulator holds 2N jobs: the N watched ones interleaved with N
unrelated ones whose names share the watched names' prefix, so every list page (and any name filter)
carries unrelated jobs too. Each watched job runs a random 20-120 s (the admin API scripts it; one in
ten fails); set-up (creates, scripts, starts) runs with quotas switched off, then they are switched
back on before the watching starts. The real end of a run is the scripted one, from the emulator's
state. All scenarios run at the same time (N = 100 and 1,000, both sides: four emulators, four
watchers) so that ``make bench`` stays within its time budget; they share the machine's cores.

The shared side times every callback of its loop (as asyncio's debug mode does with
``slow_callback_duration`` = 0.1 s, by the wall clock and by CPU time) and reports how many held the
loop longer than 0.1 s, the longest, and the longest garbage collection (the triggerer's loop must
stay free). End -> event delays are reported for successes and failures apart: a failure costs one more
read (its error summary), which must not queue behind routine reads. Per-job polling models other
integrations: its calls are not paced by the client.

Run: ``python bench/triggerer.py [--jobs 100 1000] [--sides shared baseline] [--poll-interval 10]
[--baseline-cap 360]``.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    airflow_env,
    airflow_version,
    fmt,
    job_definition,
    median,
    percentile,
    progress,
    table,
    use_airflow_env,
)

SIDES = ("shared", "baseline")
SIDE_TITLES = {
    "shared": "shared poller (triggers in one loop)",
    "baseline": "per-job polling (sync hook, thread pool)",
}
OPERATIONS = ("job_status", "list_jobs", "list_submissions")
FAILED_EVERY = 10  # one watched job in ten is scripted to fail
BASELINE_THREADS = 100
# Set-up (creates, starts) is not paced by the client: the emulator's quotas are off meanwhile, and the
# runs' clocks tick from their start. The shared side's watcher gets the default (paced) again.
UNPACED_SETUP = {"AIRFLOW__CDM__CLIENT_PACING": "false"}
SLOW_CALLBACK_S = 0.1  # no callback may hold the shared side's loop longer than this


# --- the watching side (a child process) -----------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class LoopCallbacks:
    """How long the loop's callbacks (task steps included) ran: by the wall clock and by CPU time.

    The equivalent of asyncio's debug-mode report (``slow_callback_duration``) without debug mode's
    cost on every callback. The wall clock also counts the time other processes held the core; on a
    busy machine the loop thread's CPU time tells what a callback itself cost. A garbage collection
    runs inside whichever callback allocated last, so the collections' pauses are reported too.
    """

    def __init__(self) -> None:
        self.slow = {"wall": 0, "cpu": 0}  # callbacks longer than SLOW_CALLBACK_S
        self.longest = {"wall": 0.0, "cpu": 0.0}
        self.gc_longest_s = 0.0
        self.full_collections = 0
        self._gc_started = 0.0

    def install(self) -> None:
        import asyncio.events
        import gc

        run = asyncio.events.Handle._run

        def timed_run(handle: Any) -> None:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                run(handle)
            finally:
                self._took("wall", time.perf_counter() - wall)
                self._took("cpu", time.thread_time() - cpu)

        asyncio.events.Handle._run = timed_run  # type: ignore[method-assign,assignment]
        gc.callbacks.append(self._on_gc)

    def _took(self, clock: str, seconds: float) -> None:
        self.slow[clock] += seconds > SLOW_CALLBACK_S
        self.longest[clock] = max(self.longest[clock], seconds)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.thread_time()
            return
        self.gc_longest_s = max(self.gc_longest_s, time.thread_time() - self._gc_started)
        self.full_collections += info["generation"] == 2

    def to_json(self) -> dict[str, Any]:
        return {
            "slow": self.slow,
            "longest_s": self.longest,
            "gc_longest_s": self.gc_longest_s,
            "full_collections": self.full_collections,
        }


def watch_shared(spec: dict[str, Any]) -> dict[str, Any]:
    """Every run watched by its own CdmJobStatusTrigger, all in one asyncio loop (as the triggerer runs them)."""
    import asyncio

    from airflow_provider_cdm.client.rate_limit import QuotaLimiter
    from airflow_provider_cdm.triggers import _shared_poller
    from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger

    noticed: dict[str, float] = {}
    throttles = 0
    calls: dict[str, int] = {}
    deliver, throttled, stop = (
        _shared_poller.Subscription.deliver,
        QuotaLimiter.throttled,
        _shared_poller.SharedPoller.stop,
    )

    def noting_deliver(self: Any, answer: Any) -> None:  # when the triggerer first knew a run had ended
        name = self.run.job_name
        if name not in noticed:
            status = getattr(answer, "status", None)
            submission = getattr(answer, "submission", None)
            if (status is not None and status.is_terminal) or (submission is not None and submission.is_terminal):
                noticed[name] = time.time()
        deliver(self, answer)

    def counting_throttled(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal throttles
        throttles += 1
        throttled(self, *args, **kwargs)

    async def counting_stop(self: Any) -> None:
        for kind, count in self.calls.items():
            calls[kind] = calls.get(kind, 0) + count
        await stop(self)

    _shared_poller.Subscription.deliver = noting_deliver  # type: ignore[method-assign]
    QuotaLimiter.throttled = counting_throttled  # type: ignore[method-assign]
    _shared_poller.SharedPoller.stop = counting_stop  # type: ignore[method-assign]

    rss_start, cpu_start, began = _rss_mb(), _cpu_s(), time.time()
    events: dict[str, list[Any]] = {}

    callbacks = LoopCallbacks()
    callbacks.install()

    async def main() -> None:
        triggers = [
            CdmJobStatusTrigger(
                run=run,
                end_time=began + spec["cap_s"],
                poll_interval=spec["poll_interval"],
                cdm_conn_id=spec["conn_id"],
            )
            for run in spec["runs"]
        ]

        async def run_one(trigger: CdmJobStatusTrigger) -> None:
            try:
                async for event in trigger.run():
                    payload = event.payload
                    submission = payload.get("submission") or {}
                    events[trigger.run_ref.job_name] = [
                        time.time(),
                        payload["status"],
                        submission.get("submission_id"),
                        payload["message"],
                    ]
            finally:
                await trigger.cleanup()

        await asyncio.gather(*(run_one(trigger) for trigger in triggers))

    asyncio.run(main())
    return {
        "events": events,
        "noticed": noticed,
        "loop_callbacks": callbacks.to_json(),
        "limiter_429s": throttles,
        "poller_calls": calls,
        "cpu_s": _cpu_s() - cpu_start,
        "rss_start_mb": rss_start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "wall_s": time.time() - began,
    }


def watch_baseline(spec: dict[str, Any]) -> dict[str, Any]:
    """Per-job polling: one status call per job per interval through the sync hook (default retry policy)."""
    from airflow_provider_cdm.client.exceptions import CdmApiError, CdmThrottledError
    from airflow_provider_cdm.client.runs import RunRef, StatusRules, Verdict
    from airflow_provider_cdm.hooks.cdm import CdmHook

    rules = StatusRules()
    runs = [RunRef.from_json(run) for run in spec["runs"]]
    interval = spec["poll_interval"]
    local = threading.local()
    lock = threading.Lock()
    events: dict[str, list[Any]] = {}
    failures = {"throttled": 0, "other": 0}

    def poll(run: RunRef) -> bool:
        hook = getattr(local, "hook", None)
        if hook is None:
            hook = local.hook = CdmHook(spec["conn_id"])
        try:
            latest = hook.get_job_status(run.job_name, run.cluster_id)
        except CdmThrottledError:  # still 429 after the retry policy gave up: a failed poke
            with lock:
                failures["throttled"] += 1
            return False
        except CdmApiError:
            with lock:
                failures["other"] += 1
            return False
        verdict = rules.judge(latest, run)
        if latest is not None and verdict in (Verdict.SUCCEEDED, Verdict.FAILED):
            status = "success" if verdict is Verdict.SUCCEEDED else "failed"
            message = latest.error_summary or ""
            with lock:
                events[run.job_name] = [time.time(), status, latest.submission_id, message]
            return True
        return False

    rss_start, cpu_start, began = _rss_mb(), _cpu_s(), time.time()
    cap_at = began + spec["cap_s"]
    due = [(began, index) for index in range(len(runs))]
    pool = ThreadPoolExecutor(max_workers=min(len(runs), BASELINE_THREADS))
    running: dict[Future[bool], int] = {}
    while (due or running) and time.time() < cap_at:
        now = time.time()
        while due and due[0][0] <= now:
            _, index = heapq.heappop(due)
            running[pool.submit(poll, runs[index])] = index
        timeout = min(0.2, max(0.0, due[0][0] - now)) if due else 0.2
        if running:
            done, _ = wait(list(running), timeout=timeout, return_when=FIRST_COMPLETED)
        else:
            time.sleep(timeout)
            done = set()
        for future in done:
            index = running.pop(future)
            if not future.result():
                heapq.heappush(due, (time.time() + interval, index))
    return {
        "events": events,
        "noticed": {name: event[0] for name, event in events.items()},
        "failed_polls": failures,
        "cpu_s": _cpu_s() - cpu_start,
        "rss_start_mb": rss_start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "wall_s": time.time() - began,
    }


def watcher_main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    result = (watch_shared if spec["side"] == "shared" else watch_baseline)(spec)
    Path(out_path).write_text(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # baseline polls still inside their retry waits must not hold the exit up


# --- the orchestrator --------------------------------------------------------------------------------


@dataclass
class Scenario:
    jobs: int
    side: str
    emulator: Any
    conn_id: str
    workdir: Path
    runs: list[dict[str, Any]] = field(default_factory=list)
    setup_requests: dict[str, dict[str, int]] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    result: dict[str, Any] | None = None

    @property
    def result_path(self) -> Path:
        return self.workdir / f"{self.conn_id}.result.json"


def job_plan(jobs: int, seed: int, low: float, high: float) -> dict[str, dict[str, Any]]:
    """Watched job name -> script (outcome, duration, error summary); the same for both sides."""
    rng = random.Random(seed)
    plan = {}
    for index in range(jobs):
        name = f"job-{2 * index:04d}"
        failed = index % FAILED_EVERY == FAILED_EVERY - 1
        plan[name] = {
            "outcome": "FAILED" if failed else "SUCCEEDED",
            "duration_s": round(rng.uniform(low, high), 2),
            "error_summary": f"bench: scripted failure of {name}" if failed else None,
        }
    return plan


def _pool_map(conn_id: str, function: Any, items: list[Any], threads: int = 6) -> list[Any]:
    from airflow_provider_cdm.hooks.cdm import CdmHook

    local = threading.local()

    def call(item: Any) -> Any:
        hook = getattr(local, "hook", None)
        if hook is None:
            hook = local.hook = CdmHook(conn_id)
        return function(hook, item)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(call, items))


def create_and_script(scenario: Scenario, plan: dict[str, dict[str, Any]]) -> None:
    emulator = scenario.emulator
    emulator.set_faults(quotas=False)
    names = [f"job-{index:04d}" for index in range(2 * scenario.jobs)]  # watched: the even ones
    _pool_map(scenario.conn_id, lambda hook, name: hook.create_job(job_definition(name)), names)
    for name, script in plan.items():
        emulator.script_job(
            name, script["outcome"], duration_s=script["duration_s"], error_summary=script["error_summary"]
        )


def start_jobs(scenario: Scenario, plan: dict[str, dict[str, Any]]) -> None:
    from airflow_provider_cdm.client.runs import RunRef

    cluster = scenario.emulator.cluster_id
    submissions = _pool_map(scenario.conn_id, lambda hook, name: hook.start_job(name), list(plan))
    scenario.runs = [RunRef.of(submission, cluster).to_json() for submission in submissions]
    scenario.emulator.set_faults()  # quotas back on (as configured: --quotas)
    scenario.setup_requests = scenario.emulator.stats()["requests"]


def launch(scenario: Scenario, poll_interval: float, cap_s: float) -> None:
    spec = {
        "side": scenario.side,
        "conn_id": scenario.conn_id,
        "runs": scenario.runs,
        "poll_interval": poll_interval,
        "cap_s": cap_s,
    }
    spec_path = scenario.workdir / f"{scenario.conn_id}.spec.json"
    spec_path.write_text(json.dumps(spec))
    env = {key: value for key, value in os.environ.items() if key not in UNPACED_SETUP}
    env.update(airflow_env(), AIRFLOW__LOGGING__LOGGING_LEVEL="INFO")
    if scenario.side == "baseline":  # other integrations: no client-side pacing
        env.update(UNPACED_SETUP)
    env[f"AIRFLOW_CONN_{scenario.conn_id.upper()}"] = scenario.emulator.connection_json
    log = open(scenario.workdir / f"{scenario.conn_id}.log", "wb")  # noqa: SIM115 - closed with the process
    scenario.process = subprocess.Popen(
        [sys.executable, __file__, "--watch", str(spec_path), "--out", str(scenario.result_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )


def requests_delta(after: dict[str, dict[str, int]], before: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    delta: dict[str, dict[str, int]] = {}
    for operation, statuses in after.items():
        for status, count in statuses.items():
            diff = count - before.get(operation, {}).get(status, 0)
            if diff:
                delta.setdefault(operation, {})[status] = diff
    return delta


def analyse(scenario: Scenario, plan: dict[str, dict[str, Any]]) -> dict[str, Any]:
    result = scenario.result or {}
    state = scenario.emulator.state()
    ends: dict[str, float] = {}
    submission_ids: dict[str, int] = {}
    for cluster in state["clusters"]:
        for job in cluster["jobs"]:
            if job["name"] in plan and job["runs"]:
                run = job["runs"][-1]
                ends[job["name"]] = run["started_at"] + run["duration_s"]
                submission_ids[job["name"]] = run["submission_id"]
    events = result.get("events", {})
    correct = 0
    for name, script in plan.items():
        event = events.get(name)
        expected = "success" if script["outcome"] == "SUCCEEDED" else "failed"
        if (
            event
            and event[1] == expected
            and event[2] == submission_ids.get(name)
            and (expected == "success" or (script["error_summary"] or "") in event[3])
        ):
            correct += 1
    delays = [events[name][0] - ends[name] for name in plan if name in events and name in ends]
    by_outcome = {
        outcome: [
            events[name][0] - ends[name]
            for name, script in plan.items()
            if script["outcome"] == outcome and name in events and name in ends
        ]
        for outcome in ("SUCCEEDED", "FAILED")
    }
    noticed = result.get("noticed", {})
    notice_delays = [noticed[name] - ends[name] for name in plan if name in noticed and name in ends]
    requests = requests_delta(scenario.emulator.stats()["requests"], scenario.setup_requests)
    return {
        "requests": requests,
        "delays": delays,
        "success_delays": by_outcome["SUCCEEDED"],
        "failure_delays": by_outcome["FAILED"],
        "notice_delays": notice_delays,
        "correct": correct,
        "events": len(events),
        "missing": len(plan) - len(delays),
        "result": result,
    }


def calls_cell(requests: dict[str, dict[str, int]], operation: str) -> str:
    statuses = requests.get(operation, {})
    total = sum(statuses.values())
    throttled = statuses.get("429", 0)
    return f"{total:,} ({throttled:,} x 429)"


def spread(values: list[float]) -> str:
    return f"{fmt(median(values))} / {fmt(percentile(values, 0.95))} / {fmt(max(values) if values else None)}"


def loop_cell(result: dict[str, Any]) -> str:
    loop = result.get("loop_callbacks")
    if loop is None:
        return "n/a (threads)"
    slow, longest = loop["slow"], loop["longest_s"]
    return f"{slow['wall']:,} / {slow['cpu']:,} (longest {longest['wall']:.3f} / {longest['cpu']:.3f} s)"


def gc_cell(result: dict[str, Any]) -> str:
    loop = result.get("loop_callbacks")
    if loop is None:
        return "n/a"
    return f"{loop['gc_longest_s']:.3f} ({loop['full_collections']} full collections)"


def report(jobs: int, analyses: dict[str, dict[str, Any]], poll_interval: float, cap_s: dict[str, float]) -> str:
    sides = [side for side in SIDES if side in analyses]
    header = ["", *(SIDE_TITLES[side] for side in sides)]
    rows: list[list[str]] = []

    def row(label: str, cell: Any) -> None:
        rows.append([label, *(cell(analyses[side]) for side in sides)])

    for operation in OPERATIONS:
        row(f"`{operation}` calls (429s)", lambda a, op=operation: calls_cell(a["requests"], op))
    row(
        "all CDM calls / 429s",
        lambda a: (
            f"{sum(sum(s.values()) for s in a['requests'].values()):,} / "
            f"{sum(s.get('429', 0) for s in a['requests'].values()):,}"
        ),
    )
    row(
        "429s reaching the waiters",
        lambda a: (
            f"{sum(1 for e in a['result'].get('events', {}).values() if e[1] == 'error')} error events "
            f"(limiter backed off {a['result'].get('limiter_429s', 0)}x)"
            if "limiter_429s" in a["result"]
            else f"{a['result'].get('failed_polls', {}).get('throttled', 0):,} polls failed with 429 after retries"
        ),
    )
    row("events correct (run, status, error summary)", lambda a: f"{a['correct']:,} / {jobs:,}")
    row("runs whose end was not reported", lambda a: f"{a['missing']:,}")
    row("end → event, s: median / p95 / max", lambda a: spread(a["delays"]))
    row("successes: end → event, s: median / p95 / max", lambda a: spread(a["success_delays"]))
    row("failures: end → event, s: median / p95 / max", lambda a: spread(a["failure_delays"]))
    row("end → first terminal answer, s: median / p95 / max", lambda a: spread(a["notice_delays"]))
    row(f"loop callbacks over {SLOW_CALLBACK_S:g} s, wall clock / CPU time (longest)", lambda a: loop_cell(a["result"]))
    row("longest garbage collection, CPU s", lambda a: gc_cell(a["result"]))
    row("watching side CPU, s", lambda a: fmt(a["result"].get("cpu_s")))
    row(
        "watching side peak RSS, MB (at start)",
        lambda a: f"{fmt(a['result'].get('peak_rss_mb'), 0)} ({fmt(a['result'].get('rss_start_mb'), 0)})",
    )
    row("wall time, s (cap)", lambda a: f"{fmt(a['result'].get('wall_s'))} ({cap_s[a['side']]:g})")
    title = (
        f"### Triggerer: {jobs:,} watched jobs in a cluster of {2 * jobs:,}, quotas enforced, "
        f"poll interval {poll_interval:g} s (Airflow {airflow_version()})"
    )
    return f"{title}\n\n{table(header, rows)}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES), help="the watching sides to run")
    parser.add_argument("--min-duration", type=float, default=20.0)
    parser.add_argument("--max-duration", type=float, default=120.0)
    parser.add_argument("--poll-interval", type=float, default=10.0)
    parser.add_argument("--shared-cap", type=float, default=480.0, help="the triggers' deadline, s")
    parser.add_argument("--baseline-cap", type=float, default=360.0, help="when per-job polling gives up, s")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--keep", metavar="DIR", help="keep the watchers' logs and results in DIR")
    parser.add_argument("--watch", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    use_airflow_env(quiet=not args.watch)  # the watchers log as a triggerer does (INFO, to their log file)
    if args.watch:
        watcher_main(args.watch, args.out)
        return
    os.environ.update(UNPACED_SETUP)

    from airflow_provider_cdm.emulator.testing import run_emulator

    began = time.time()
    caps = {"shared": args.shared_cap, "baseline": args.baseline_cap}
    sides = [side for side in SIDES if side in args.sides]
    plans = {jobs: job_plan(jobs, args.seed, args.min_duration, args.max_duration) for jobs in args.jobs}
    with contextlib.ExitStack() as stack:
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            tmp = args.keep
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="cdm-bench-"))
        scenarios = []
        for jobs in args.jobs:
            for side in sides:
                emulator = stack.enter_context(run_emulator("--quotas", "--job-duration", "60", "--seed", "1"))
                conn_id = f"bench_{side}_{jobs}"
                os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = emulator.connection_json
                scenarios.append(Scenario(jobs, side, emulator, conn_id, Path(tmp)))
        for scenario in scenarios:
            progress(f"creating {2 * scenario.jobs} jobs for the {scenario.side} side (N={scenario.jobs})")
            create_and_script(scenario, plans[scenario.jobs])
        for scenario in scenarios:  # starts last, then the watchers at once: the runs' clocks are ticking
            start_jobs(scenario, plans[scenario.jobs])
            launch(scenario, args.poll_interval, caps[scenario.side])
        watched = sum(s.jobs for s in scenarios)
        progress(f"watching {watched} runs in {len(scenarios)} watchers (set-up took {time.time() - began:.0f} s)")
        hard_stop = time.time() + max(caps.values()) + 90
        for scenario in scenarios:
            assert scenario.process is not None
            try:
                scenario.process.wait(max(1.0, hard_stop - time.time()))
            except subprocess.TimeoutExpired:
                scenario.process.kill()
                scenario.process.wait()
            if scenario.result_path.exists():
                scenario.result = json.loads(scenario.result_path.read_text())
            else:
                log_tail = (scenario.workdir / f"{scenario.conn_id}.log").read_text(errors="replace")[-3000:]
                progress(f"the {scenario.side} watcher for N={scenario.jobs} produced no result:\n{log_tail}")
            progress(f"{scenario.side} N={scenario.jobs} done after {time.time() - began:.0f} s")
        analyses: dict[int, dict[str, dict[str, Any]]] = {}
        for scenario in scenarios:
            analysis = analyse(scenario, plans[scenario.jobs])
            analysis["side"] = scenario.side
            analyses.setdefault(scenario.jobs, {})[scenario.side] = analysis
    for jobs in args.jobs:
        print(report(jobs, analyses[jobs], args.poll_interval, caps))
        print()
    print(f"_Triggerer scenarios took {time.time() - began:.0f} s in all (set-up included)._\n", flush=True)


if __name__ == "__main__":
    main()
