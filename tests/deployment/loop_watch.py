"""Run ``airflow ARGS`` with every asyncio callback that holds its loop timed and, while it holds it, sampled.

The deployment harness starts its triggerers as ``python tests/deployment/loop_watch.py triggerer`` with
``CDM_LOOP_WATCH_DIR`` set. Airflow's trigger runner (a forked child of the triggerer) then writes, for
every iteration of the loop (``_run_once``) whose callbacks (tasks' steps, timers, I/O callbacks, run
back to back: one long step, or many short ones, as when dozens of triggers start at once) held it
for at least ``SLOW_S``, one JSON line to ``CDM_LOOP_WATCH_DIR/loop-watch-<parent-pid>-<pid>.jsonl``:
when it ended, its wall and CPU time (``time.thread_time``), how long the thread waited in the kernel's
run queue for a CPU meanwhile (``/proc/self/task/<tid>/schedstat``), the garbage collections in it, its
longest callback (task name and coroutine), and the loop thread's stacks sampled every
``SAMPLE_EVERY_S`` while it ran (how many of them were in this provider's code, and the most frequent
frames). Airflow's own "Triggerer's async thread was blocked for N seconds" warning names no culprit;
these lines let the harness attribute each warning (``attribute_loop_blocks`` in ``harness.py``).

The cost when nothing is slow: three clock reads per callback and a counter per iteration. Nothing of
the provider is imported here.
"""

from __future__ import annotations

import asyncio.base_events
import asyncio.events
import gc
import json
import os
import sys
import threading
import time
from collections import Counter
from typing import Any

SLOW_S = 0.05  # a burst this long is recorded (Airflow warns from a 0.1 s overrun of its 0.1 s sleep)
SAMPLE_AFTER_S = 0.01  # the sampler looks at the loop thread once a burst has run this long
SAMPLE_EVERY_S = 0.005
PROVIDER_MARK = f"{os.sep}airflow_provider_cdm{os.sep}"
MAX_STACK = 40  # innermost frames kept per sample
TOP_FRAMES = 12


class _Burst:
    """The callbacks of one iteration of the loop (``_run_once``): what was ready, run back to back. A timer
    due meanwhile (Airflow's watchdog) runs only in the next iteration, after them."""

    def __init__(self, iteration: int, started: float, gc_s: float) -> None:
        self.iteration = iteration
        self.started = started
        self.ended = started
        self.cpu_s = 0.0
        self.gc_at_start = gc_s
        self.callbacks = 0
        self.slowest: tuple[float, Any] = (0.0, None)  # (wall, handle) of its longest callback
        self.samples: list[tuple[str, ...]] = []
        self.sched_start: tuple[int, int] | None = None  # (ns on a CPU, ns waiting for one) at the first look
        self.generations: list[int] = []


class _Watch:
    def __init__(self) -> None:
        self.pid = 0
        self.loop_thread: int | None = None
        self.schedstat = ""  # /proc path of the loop thread's scheduler counters (Linux)
        self.current: Any = None  # the handle running on the loop thread now
        self.burst: _Burst | None = None
        self.iteration = 0  # the loop thread's _run_once calls
        self.gc_s = 0.0  # garbage collection time on the loop thread, cumulative
        self._gc_started = 0.0
        self.out: Any = None

    def start_in_this_process(self) -> None:
        """Once per process (the trigger runner is forked: threads and files are not inherited)."""
        self.pid = os.getpid()
        self.loop_thread = threading.get_ident()
        self.schedstat = f"/proc/self/task/{threading.get_native_id()}/schedstat"
        self.burst = None
        directory = os.environ.get("CDM_LOOP_WATCH_DIR")
        name = f"loop-watch-{os.getppid()}-{self.pid}.jsonl"  # the parent: the triggerer the harness started
        self.out = open(os.path.join(directory, name), "a", buffering=1) if directory else None  # noqa: SIM115
        if self.out is not None:  # the harness checks that every triggerer that warned was watched
            self.out.write(json.dumps({"watching": time.time(), "pid": self.pid}) + "\n")
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)
        threading.Thread(target=self._sample, name="cdm-loop-watch", daemon=True).start()

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if threading.get_ident() != self.loop_thread:
            return
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_s += time.perf_counter() - self._gc_started
            if self.burst is not None and len(self.burst.generations) < 1000:
                self.burst.generations.append(info.get("generation", -1))

    def _sample(self) -> None:
        while True:
            time.sleep(SAMPLE_EVERY_S)
            burst = self.burst
            if burst is None or self.current is None or time.perf_counter() - burst.started < SAMPLE_AFTER_S:
                continue
            if burst.sched_start is None:
                burst.sched_start = self._sched()
            frame = sys._current_frames().get(self.loop_thread)  # type: ignore[arg-type]
            stack = []
            while frame is not None and len(stack) < MAX_STACK:
                code = frame.f_code
                stack.append(f"{code.co_filename}:{frame.f_lineno}:{code.co_name}")
                frame = frame.f_back
            if self.burst is burst and self.current is not None:
                burst.samples.append(tuple(stack))

    def _sched(self) -> tuple[int, int]:
        """The loop thread's nanoseconds on a CPU and waiting in a run queue for one (0, 0 without /proc)."""
        try:
            with open(self.schedstat) as counters:
                on_cpu, waiting = counters.read().split()[:2]
            return int(on_cpu), int(waiting)
        except (OSError, ValueError):
            return 0, 0

    def record(self, burst: _Burst) -> None:
        if self.out is None:
            return
        samples = burst.samples
        runqueue = None
        if burst.sched_start is not None:  # from the sampler's first look (SAMPLE_AFTER_S in) to now
            runqueue = round((self._sched()[1] - burst.sched_start[1]) / 1e9, 4)
        provider = sum(1 for stack in samples if any(PROVIDER_MARK in frame for frame in stack))
        innermost: Counter[str] = Counter(stack[0] for stack in samples if stack)
        frames: Counter[str] = Counter(frame for stack in samples for frame in set(stack))
        provider_frames: Counter[str] = Counter(
            next(frame for frame in stack if PROVIDER_MARK in frame)
            for stack in samples
            if any(PROVIDER_MARK in frame for frame in stack)
        )
        slowest_s, slowest = burst.slowest
        line = {
            "end": time.time() - (time.perf_counter() - burst.ended),
            "wall_s": round(burst.ended - burst.started, 4),  # first callback's start to the last one's end
            "cpu_s": round(burst.cpu_s, 4),
            # waiting in the run queue (runnable, no CPU given) meanwhile: the machine, not the code
            "runqueue_s": runqueue,
            "gc_s": round(self.gc_s - burst.gc_at_start, 4),
            "gc_collections": {str(gen): count for gen, count in sorted(Counter(burst.generations).items())},
            "callbacks": burst.callbacks,
            "callback": _describe(slowest),  # the longest of them
            "slowest_s": round(slowest_s, 4),
            "samples": len(samples),
            "provider_samples": provider,
            "innermost": innermost.most_common(TOP_FRAMES),
            "frames": frames.most_common(TOP_FRAMES * 2),
            "provider_frames": provider_frames.most_common(TOP_FRAMES),
            "example_stack": list(samples[len(samples) // 2]) if samples else [],
        }
        self.out.write(json.dumps(line) + "\n")


def _describe(handle: Any) -> dict[str, Any]:
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        code = getattr(coro, "cr_code", None) or getattr(coro, "ag_code", None)
        return {
            "task": owner.get_name(),
            "coro": getattr(coro, "__qualname__", repr(coro)),
            "file": code.co_filename if code is not None else None,
        }
    try:
        text = repr(handle)
    except Exception:  # a repr that fails must not break the loop
        text = object.__repr__(handle)
    return {"handle": text[:300]}


WATCH = _Watch()
_original_run = asyncio.events.Handle._run


def _timed_run(self: asyncio.events.Handle) -> None:
    watch = WATCH
    if watch.pid != os.getpid():
        watch.start_in_this_process()
    if threading.get_ident() != watch.loop_thread:  # another loop (a thread's own): not the triggerer's
        _original_run(self)
        return
    started = time.perf_counter()
    burst = watch.burst
    if burst is None or burst.iteration != watch.iteration:  # a new iteration: the last one's burst is over
        if burst is not None and burst.ended - burst.started >= SLOW_S:
            watch.record(burst)
        burst = watch.burst = _Burst(watch.iteration, started, watch.gc_s)
    cpu = time.thread_time()
    watch.current = self
    try:
        _original_run(self)
    finally:
        watch.current = None
        ended = time.perf_counter()
        burst.ended = ended
        burst.cpu_s += time.thread_time() - cpu
        burst.callbacks += 1
        if ended - started > burst.slowest[0]:
            burst.slowest = (ended - started, self)


_original_run_once = asyncio.base_events.BaseEventLoop._run_once


def _counted_run_once(self: asyncio.base_events.BaseEventLoop) -> None:
    if threading.get_ident() == WATCH.loop_thread:
        WATCH.iteration += 1
    _original_run_once(self)


def install() -> None:
    asyncio.events.Handle._run = _timed_run  # type: ignore[method-assign]
    asyncio.base_events.BaseEventLoop._run_once = _counted_run_once  # type: ignore[method-assign]


def main() -> None:
    # This file's folder is sys.path[0] when run as a script: Airflow must not import from it.
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    install()
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *sys.argv[1:]]
    airflow_main()


if __name__ == "__main__":
    main()
