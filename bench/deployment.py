"""A real Airflow 3 deployment under CDM's quotas: who calls, who gets 429s, what goes wrong, how late tasks end.

Each scenario is one DAG run on a fresh deployment built by the deployment test's harness
(``tests/deployment/harness.py``: PostgreSQL, LocalExecutor, separate api-server, scheduler,
dag-processor and triggerer processes on 127.0.0.1, the emulator with ``--quotas``; every tenth job of
each kind scripted to fail). The scenarios: N mapped deferrable ``CdmStartJobOperator`` tasks plus S sensors
(half ``poke``, half ``reschedule``) with 1 and with 2 triggerers; then the same N beside W
``CdmJobStatusSensor(mode="poke")`` and W polling (non-deferrable) ``CdmStartJobOperator`` tasks, all
on the same CDM user's quota. Calls are split by the provider's User-Agent: ``sync`` (workers) and
``async`` (triggerers). Job end is the run's scripted end (the emulator's run record: start + duration),
task end the task instance's ``end_date``.

Run: ``python bench/deployment.py [--n 300] [--sensors 20] [--triggerers 1 2] [--workers 100]`` (long at
full size: each scenario is one DAG run of about N * 2 + W * 2 task executions on this machine's cores),
or ``--quick`` for a small run of every scenario.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, airflow_version, fmt, median, percentile, progress, table

sys.path.insert(0, str(ROOT))

from tests.deployment.harness import DeploymentResult, DeploymentSpec, run_deployment

QUICK = {"n": 30, "sensors": 4, "workers": 8}


def scenarios(args: argparse.Namespace) -> list[tuple[str, DeploymentSpec]]:
    """(title, spec) of every scenario the options ask for."""
    common = {
        "poll_interval_s": args.poll_interval,
        "min_duration_s": args.min_duration,
        "max_duration_s": args.max_duration,
        "parallelism": args.parallelism,
        "run_timeout_s": args.run_timeout,
        "kill_triggerer": False,
    }
    poke, reschedule = args.sensors - args.sensors // 2, args.sensors // 2
    found = [
        (
            f"N={args.n} deferred + {args.sensors} sensors, {count} triggerer{'s' if count > 1 else ''}",
            DeploymentSpec(deferred=args.n, polling=0, poke=poke, reschedule=reschedule, triggerers=count, **common),
        )
        for count in args.triggerers
    ]
    if args.workers:
        found.append(
            (
                f"N={args.n} deferred beside {args.workers} poke sensors + {args.workers} polling starts",
                DeploymentSpec(deferred=args.n, polling=args.workers, poke=args.workers, reschedule=0, **common),
            )
        )
    return found


def _seconds(values: list[float]) -> tuple[str, str]:
    return fmt(median(values)), fmt(percentile(values, 0.95))


def report(results: list[tuple[str, DeploymentResult]]) -> str:
    """The three tables: outcomes, calls per side, job end -> task end."""
    outcomes = []
    calls = []
    lags = []
    for title, result in results:
        outcomes.append(
            [
                title,
                fmt(len(result.expected)),
                fmt(len(result.wrong_states())),
                fmt(len(result.throttled_failures())),
                fmt(len(result.duplicate_starts())),
                fmt(len(result.never_started())),
                fmt(len(result.left_running())),
                fmt(result.triggers_left),
                f"{len(result.loop_blocks)} ({len(result.provider_loop_blocks())})",
                f"{result.dag_run_state} ({result.expected_dag_run_state} expected)",
                fmt(result.timings_s.get("dag run")),
            ]
        )
        by_client = result.calls_by_client()
        sync, async_ = by_client.get("sync", (0, 0)), by_client.get("async", (0, 0))
        calls.append([title, fmt(sync[0]), fmt(sync[1]), fmt(async_[0]), fmt(async_[1])])
        lags.append(
            [
                title,
                *_seconds(result.end_lags_s(("deferred",))),
                *_seconds(result.end_lags_s(("polling", "poke", "reschedule"))),
            ]
        )
    return "\n\n".join(
        [
            f"### Real deployment under quotas (Airflow {airflow_version()}, LocalExecutor, PostgreSQL)",
            table(
                [
                    "scenario",
                    "task instances",
                    "wrong outcomes",
                    "failed by throttling",
                    "duplicate starts",
                    "jobs never started",
                    "jobs left running",
                    "triggers left",
                    "triggerer loop warnings (the provider's)",
                    "DAG run",
                    "DAG run s",
                ],
                outcomes,
            ),
            table(
                ["scenario", "worker calls", "worker 429s", "triggerer calls", "triggerer 429s"],
                calls,
            ),
            table(
                [
                    "scenario",
                    "deferred: job end -> task end, median s",
                    "p95 s",
                    "workers (polling, sensors): median s",
                    "p95 s",
                ],
                lags,
            ),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="mapped deferrable start tasks (one CDM job each)")
    parser.add_argument("--sensors", type=int, default=20, help="sensors beside them, half poke, half reschedule")
    parser.add_argument("--triggerers", type=int, nargs="+", default=[1, 2], help="triggerer processes per scenario")
    parser.add_argument("--workers", type=int, default=100, help="poke sensors and polling starts (0: no scenario)")
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--min-duration", type=float, default=10.0)
    parser.add_argument("--max-duration", type=float, default=60.0)
    parser.add_argument("--parallelism", type=int, default=32)
    parser.add_argument("--run-timeout", type=float, default=3600.0, help="each DAG run's limit, s")
    parser.add_argument("--quick", action="store_true", help=f"a small run of every scenario: {QUICK}")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
        args.parallelism, args.run_timeout = 16, 600.0
    began = time.monotonic()
    results = []
    for title, spec in scenarios(args):
        progress(f"{title}: starting a deployment")
        result = run_deployment(spec)
        progress(f"{title}: {result.summary()}")
        results.append((title, result))
    print(report(results))
    for title, result in results:  # what held the triggerers' loops (tests/deployment/loop_watch.py)
        for block in result.loop_blocks:
            print(f"- {title}: {block.summary()}")
    print(f"\n_Deployment scenarios took {time.monotonic() - began:.0f} s in all (set-up included)._\n", flush=True)


if __name__ == "__main__":
    main()
