"""What Airflow's triggerer does on its event loop with this trigger costs next to nothing.

The triggerer imports the trigger's module (``import_string`` of its classpath) and calls its
constructor on its event loop; a deployment's replacement triggerer does so for every trigger it
adopts at once. Measured in the deployment test (tests/deployment/loop_watch.py): with the client
modules imported at module level, that import held the loop for 0.4-0.8 s on the loaded CI machine
(Airflow's "Triggerer's async thread was blocked" warning at each triggerer's first trigger). So the
module imports nothing of the provider, the constructor on a loop imports and checks nothing, and
``run()`` imports what the wait needs in a worker thread before it checks the arguments.

Each check runs in a fresh interpreter: this test session has imported the provider already.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.triggers import cdm

ROOT = Path(__file__).resolve().parents[3]

# Records every module of the provider imported after the trigger's module, and whether on the loop's
# thread (the main thread runs asyncio.run below); prints the result as JSON.
PROBE = """
import asyncio, json, sys, threading
import airflow.triggers.base  # imported by the triggerer long before any trigger

before = set(sys.modules)
from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger
module_imports = sorted(m for m in set(sys.modules) - before if m.startswith("airflow_provider_cdm"))

on_the_loop = []

class Recorder:
    def find_spec(self, name, path=None, target=None):
        if name.startswith("airflow_provider_cdm") and threading.current_thread() is threading.main_thread():
            on_the_loop.append(name)
        return None

sys.meta_path.insert(0, Recorder())
KWARGS = json.loads(sys.argv[1])

async def main():
    trigger = CdmJobStatusTrigger(**KWARGS)  # as the triggerer rebuilds it from serialize()
    constructed = list(on_the_loop)
    events = [event.payload async for event in trigger.run()]  # no connection: an error event
    return constructed, events

constructed, events = asyncio.run(main())
print(json.dumps({"module": module_imports, "constructor": constructed, "run": on_the_loop, "events": events}))
"""


def _probe(kwargs: dict[str, Any]) -> dict[str, Any]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW_CONN_")}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(kwargs)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def _kwargs(**changes: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "run": {"job_name": "orders", "cluster_id": "c1", "submission_id": 7, "not_before_ms": None},
        "end_time": 4_000_000_000.0,
        "poll_interval": 5.0,
        "cdm_conn_id": "cdm_nowhere",
        "rules": None,
        "stop_on_kill": False,
        "hook_params": {},
    }
    kwargs.update(changes)
    return kwargs


def test_the_triggerer_imports_and_builds_the_trigger_without_importing_the_provider_on_its_loop() -> None:
    found = _probe(_kwargs())
    # the module and its packages, nothing else (the top package may be imported already: Airflow's providers)
    assert set(found["module"]) <= {"airflow_provider_cdm", "airflow_provider_cdm.triggers", cdm.__name__}
    assert found["constructor"] == []
    assert found["run"] == []  # every module the wait needs came in a worker thread
    [event] = found["events"]
    assert event["status"] == "error" and "cdm_nowhere" in event["message"], event


def test_arguments_the_triggerer_cannot_use_end_the_wait_with_an_error_event() -> None:
    """On the loop the constructor checks nothing (nothing is imported yet); run() checks and reports."""
    found = _probe(_kwargs(poll_interval=0))
    [event] = found["events"]
    assert event["status"] == "error" and "poll_interval" in event["message"], event
    assert event["run"]["job_name"] == "orders"
    assert found["run"] == []


def test_the_default_connection_is_the_hooks() -> None:
    assert CdmHook.default_conn_name == cdm.DEFAULT_CONN_ID


@pytest.mark.asyncio
async def test_triggers_that_start_together_share_one_import_and_later_ones_hop_to_no_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A replacement triggerer starts dozens of triggers in one go: one import in a worker thread serves them
    all (every thread hop costs the loop a wake-up and the GIL back), and once done no trigger hops again."""
    hops: list[str] = []

    async def counted(name: str) -> Any:
        hops.append(name)
        await asyncio.sleep(0.01)  # the import takes a while: the other triggers arrive meanwhile
        return importlib.import_module(name)

    monkeypatch.setattr(cdm.RUN_IMPORTS, "import_one", counted)
    monkeypatch.setattr(cdm.RUN_IMPORTS, "done", False)
    monkeypatch.setattr(cdm.RUN_IMPORTS, "_importing", weakref.WeakKeyDictionary())
    await asyncio.gather(*(cdm.RUN_IMPORTS.ensure() for _ in range(45)))
    assert hops == list(cdm.RUN_MODULES)
    await cdm.RUN_IMPORTS.ensure()
    assert hops == list(cdm.RUN_MODULES)


@pytest.mark.asyncio
async def test_a_failed_import_is_tried_again_by_the_next_trigger(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []

    async def flaky(name: str) -> Any:
        attempts.append(name)
        if len(attempts) == 1:
            raise ImportError("not yet")
        return importlib.import_module(name)

    monkeypatch.setattr(cdm.RUN_IMPORTS, "import_one", flaky)
    monkeypatch.setattr(cdm.RUN_IMPORTS, "done", False)
    monkeypatch.setattr(cdm.RUN_IMPORTS, "_importing", weakref.WeakKeyDictionary())
    with pytest.raises(ImportError):
        await cdm.RUN_IMPORTS.ensure()
    await cdm.RUN_IMPORTS.ensure()
    assert cdm.RUN_IMPORTS.done


@pytest.mark.parametrize(("level", "counted"), [(logging.INFO, False), (logging.DEBUG, True)])
def test_the_poller_counts_the_frozen_objects_only_when_that_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, level: int, counted: bool
) -> None:
    """``gc.get_freeze_count()`` walks every frozen object (the triggerer's whole heap: 30-100 ms, measured
    on the loop at the first poller's start); evaluated for a DEBUG line nobody reads, it held the loop."""
    from airflow_provider_cdm.triggers import _shared_poller

    calls: list[str] = []
    monkeypatch.setattr(_shared_poller, "_FROZEN", False)
    monkeypatch.setattr(_shared_poller.gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(_shared_poller.gc, "get_freeze_count", lambda: calls.append("count") or 0)
    caplog.set_level(level, logger=_shared_poller.log.name)
    _shared_poller._freeze_long_lived_objects()
    assert calls == (["freeze", "count"] if counted else ["freeze"])
