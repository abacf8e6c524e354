"""Helpers shared by the trigger and async-transport tests (fixtures live in conftest)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_cdm.client.runs import RunRef
from airflow_provider_cdm.emulator.faults import FaultPlan
from airflow_provider_cdm.emulator.testing import EmulatorThread
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger
from tests.jobs import job_definition

JOB_DURATION_S = 0.3
# Fast, deterministic retries: 0.05, 0.1, 0.2 s; Retry-After up to 1 s is honoured.
FAST_RETRY: dict[str, Any] = {"max_attempts": 4, "initial_backoff_s": 0.05, "max_backoff_s": 1.0, "jitter": False}
HOOK_PARAMS: dict[str, Any] = {"retry_policy": FAST_RETRY}


class LoopTicks:
    """Counts how often the running loop got round to a 10 ms sleep while the block ran: proof it was not held."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            self.ticks += 1

    async def __aenter__(self) -> LoopTicks:
        self._task = asyncio.ensure_future(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


class ScriptedFaults:
    """The next CDM/IAM requests get these fault plans, in order; later ones none (admin calls never)."""

    def __init__(self, emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> None:
        self._plans: list[FaultPlan] = []
        monkeypatch.setattr(emulator.server.app.faults, "plan", self._next)

    def queue(self, *plans: FaultPlan) -> None:
        self._plans.extend(plans)

    def _next(self) -> FaultPlan:
        return self._plans.pop(0) if self._plans else FaultPlan()


def start_job(
    emulator: EmulatorThread, name: str, outcome: str | None = None, *, with_id: bool = True, **script: Any
) -> RunRef:
    """Create and start ``name`` with the sync hook (its runs scripted when ``outcome`` is given).

    The run's id is the one CDM gave it (``with_id``), as a start task knows it once CDM reported it,
    even where the start answer is sparse (the observed dialect: cdm-dialects.md row 12); without
    ``with_id``, the run as the start answer alone names it.
    """
    if outcome is not None:
        emulator.script_job(name, outcome, **script)
    hook = CdmHook()
    try:
        if name not in {job["name"] for cluster in emulator.state()["clusters"] for job in cluster["jobs"]}:
            hook.create_job(job_definition(name))
        submission = hook.start_job(name)
    finally:
        hook.close()
    run = RunRef.of(submission, emulator.cluster_id or "")
    if with_id and run.submission_id is None:
        run = dataclasses.replace(run, submission_id=emulator.runs(name)[-1]["submission_id"])
    return run


def make_trigger(run: RunRef, *, timeout_s: float = 10.0, **kwargs: Any) -> CdmJobStatusTrigger:
    values: dict[str, Any] = {"poll_interval": 0.05, "hook_params": HOOK_PARAMS}
    values.update(kwargs)
    return CdmJobStatusTrigger(run=run.to_json(), end_time=time.time() + timeout_s, **values)


def requests_of(emulator: EmulatorThread, operation: str) -> dict[str, int]:
    """``{http status: count}`` of one operation, from the emulator's stats."""
    return dict(emulator.stats()["requests"].get(operation, {}))


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
