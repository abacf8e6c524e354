"""CdmJobRunEventTrigger without CDM: which runs are new and ended (client.run_watch), its arguments,
its serialization and shared-stream key, and when its watermarks are written (the dedup design)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import pytest

from airflow_provider_cdm.api.statuses import JobStatus
from airflow_provider_cdm.client.exceptions import CdmConfigError
from airflow_provider_cdm.client.models import Job, Submission
from airflow_provider_cdm.client.run_watch import (
    Watermark,
    baseline_of_history,
    baseline_of_listed,
    history_needed,
    new_ended_runs,
    reaches,
    result_figures,
    run_figures,
)
from airflow_provider_cdm.triggers._run_sweeps import Selection, Sweep, Watcher
from airflow_provider_cdm.triggers.events import CdmJobRunEventTrigger

T0 = 1_796_000_000_000  # epoch ms


def run(submission_id: int | None, status: str, created_ms: int | None = None, **fields: Any) -> Submission:
    data: dict[str, Any] = {"job-name": "orders", "submission-id": submission_id, "status": status}
    if created_ms is not None or submission_id is not None:
        data["creation-date"] = created_ms if created_ms is not None else T0 + 1000 * (submission_id or 0)
    data.update(fields)
    return Submission.from_api(data)


def listed(status: str | None, created_ms: int | None = None, name: str = "orders") -> Job:
    data: dict[str, Any] = {"name": name, "status": status}
    if created_ms is not None:
        data["execute_create_date"] = created_ms
    return Job.from_api(data)


# --- which runs are new and ended ----------------------------------------------------------------------


def test_new_ended_runs_are_those_after_the_watermark_oldest_first_whatever_the_pages_order() -> None:
    history = [run(7, "RUNNING"), run(6, "SUCCEEDED"), run(5, "FAILED"), run(4, "SUCCEEDED")]
    assert [r.submission_id for r in new_ended_runs(history, Watermark(4))] == [5, 6]
    assert [r.submission_id for r in new_ended_runs(reversed(history), Watermark(4))] == [5, 6]
    assert new_ended_runs(history, Watermark(6)) == []  # 7 is still running: judged when it ended


def test_a_run_under_way_holds_back_the_later_ones() -> None:
    history = [run(3, "SUCCEEDED"), run(2, "RUNNING"), run(1, "SUCCEEDED")]
    assert [r.submission_id for r in new_ended_runs(history, Watermark())] == [1]


def test_runs_without_ids_are_placed_by_cdms_creation_date() -> None:
    mark = Watermark(None, T0 + 5000)
    history = [run(None, "SUCCEEDED", T0 + 6000), run(None, "SUCCEEDED", T0 + 5000), run(None, "SUCCEEDED", T0 + 4000)]
    assert [r.creation_date.timestamp() * 1000 for r in new_ended_runs(history, mark)] == [T0 + 6000]  # type: ignore[union-attr]
    assert not Watermark(None, None).is_origin or new_ended_runs([run(None, "SUCCEEDED")], Watermark(5)) == []


def test_never_executed_is_no_run() -> None:
    assert new_ended_runs([run(None, "NEVER_EXECUTED", T0)], Watermark()) == []
    assert baseline_of_history([run(None, "NEVER_EXECUTED", T0)]) == Watermark()


def test_the_baseline_is_the_newest_run_ended_before_any_under_way() -> None:
    assert baseline_of_history([run(3, "RUNNING"), run(2, "SUCCEEDED"), run(1, "FAILED")]) == Watermark(2, T0 + 2000)
    assert baseline_of_history([]) == Watermark()
    assert baseline_of_listed(listed("NEW")) == Watermark()
    assert baseline_of_listed(listed("SUCCEEDED", T0)) == Watermark(None, T0)
    assert baseline_of_listed(listed("RUNNING", T0)) == Watermark(None, T0 - 1)  # reported when it ends
    assert baseline_of_listed(listed("SUCCEEDED")) is None  # no date: the history decides


def test_the_history_is_read_only_when_the_list_shows_a_run_that_ended_after_the_watermark() -> None:
    mark = Watermark(4, T0 + 4000)
    assert history_needed(listed("SUCCEEDED", T0 + 5000), mark)
    assert not history_needed(listed("SUCCEEDED", T0 + 4000), mark)
    assert not history_needed(listed("RUNNING", T0 + 5000), mark)
    assert not history_needed(listed("NEW"), mark)
    assert history_needed(listed("SUCCEEDED"), mark)  # no date in the entry
    assert history_needed(None, mark)  # not in the list


def test_a_page_reaches_the_watermark_when_it_holds_a_run_at_or_before_it() -> None:
    assert reaches([run(6, "SUCCEEDED"), run(5, "SUCCEEDED")], Watermark(5))
    assert not reaches([run(7, "SUCCEEDED"), run(6, "SUCCEEDED")], Watermark(5))
    assert reaches([], Watermark())


def test_watermarks_round_trip_and_foreign_values_are_refused() -> None:
    mark = Watermark(12, T0)
    assert Watermark.from_json(json.loads(json.dumps(mark.to_json()))) == mark
    assert Watermark.from_json({"submission_id": "12"}) is None
    assert Watermark.from_json("12") is None


def test_figures_of_a_run_and_of_a_task_result() -> None:
    counted = {"ROWS_READ": 10, "ROWS_WRITTEN": 9, "BYTES_READ": 100, "BYTES_WRITTEN": 90}
    counters = {"org.apache.sqoop.submission.counter.SqoopCounters": counted}
    ended = run(3, "SUCCEEDED", T0, **{"execute-date": T0, "last-update-date": T0 + 2500, "counters": counters})
    figures = run_figures("c1", ended, job_name="orders")
    assert figures == {
        "job_name": "orders", "cluster_id": "c1", "submission_id": 3, "status": "SUCCEEDED",
        "rows_read": 10, "rows_written": 9, "bytes_read": 100, "bytes_written": 90,
        "started_at": figures["started_at"], "ended_at": figures["ended_at"], "duration_s": 2.5,
    }  # fmt: skip
    json.dumps(figures)
    assert result_figures({"job_name": "j", "started_at": None})["duration_s"] is None


# --- arguments ------------------------------------------------------------------------------------------


def test_arguments_are_checked_at_dag_parse() -> None:
    with pytest.raises(CdmConfigError, match="exactly one"):
        CdmJobRunEventTrigger()
    with pytest.raises(CdmConfigError, match="exactly one"):
        CdmJobRunEventTrigger(job_names=["a"], name_filter="a")
    with pytest.raises(CdmConfigError, match="statuses"):
        CdmJobRunEventTrigger(job_names="a", statuses=["RUNNING"])
    with pytest.raises(CdmConfigError, match="statuses"):
        CdmJobRunEventTrigger(job_names="a", statuses=["DONE"])
    with pytest.raises(CdmConfigError, match="poll_interval"):
        CdmJobRunEventTrigger(job_names="a", poll_interval=0)
    with pytest.raises(CdmConfigError):
        CdmJobRunEventTrigger(job_names=["a/b"])
    with pytest.raises(CdmConfigError, match="hook_params"):
        CdmJobRunEventTrigger(job_names="a", hook_params={"nope": 1})


def test_serialize_is_json_and_rebuilds_the_same_trigger() -> None:
    trigger = CdmJobRunEventTrigger(job_names=["b", "a", "b"], statuses=["failed", "SUCCEEDED"], poll_interval=5)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_cdm.triggers.events.CdmJobRunEventTrigger"
    assert kwargs["job_names"] == ["a", "b"] and kwargs["statuses"] == ["FAILED", "SUCCEEDED"]
    assert json.loads(json.dumps(kwargs)) == kwargs
    again = CdmJobRunEventTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)


def test_the_watermark_key_survives_a_new_poll_interval_but_not_a_new_selection() -> None:
    def key(**kwargs: Any) -> str:
        return str(CdmJobRunEventTrigger(**kwargs).serialize()[1]["watermark_key"])

    assert key(job_names="a", poll_interval=5) == key(job_names="a", poll_interval=50, hook_params={"timeout": 9})
    assert key(job_names="a") != key(job_names="b") != key(name_filter="a")
    assert key(job_names="a") != key(job_names="a", statuses=["FAILED"])
    assert key(job_names="a", watermark_key="mine") == "mine"


def test_siblings_of_one_selection_and_pace_share_a_stream_key() -> None:
    one = CdmJobRunEventTrigger(job_names=["a", "b"], poll_interval=5)
    assert (
        one.shared_stream_key()
        == CdmJobRunEventTrigger(job_names=["b", "a"], poll_interval=5, statuses=["FAILED"]).shared_stream_key()
    )
    assert one.shared_stream_key() != CdmJobRunEventTrigger(job_names=["a"], poll_interval=5).shared_stream_key()
    assert hash(one.shared_stream_key())


def test_built_on_a_running_loop_the_arguments_wait_for_run() -> None:
    async def build() -> CdmJobRunEventTrigger:
        return CdmJobRunEventTrigger(job_names=["a/b"])  # the triggerer builds it on its loop

    trigger = asyncio.run(build())
    with pytest.raises(CdmConfigError):
        trigger.serialize()


# --- when the watermarks are written --------------------------------------------------------------------


class MemoryStore:
    name = "memory"

    def __init__(self, value: object = None) -> None:
        self.value = value
        self.saves: list[dict[str, Any]] = []

    async def load(self) -> object:
        return json.loads(json.dumps(self.value))

    async def save(self, value: dict[str, Any]) -> None:
        self.value = json.loads(json.dumps(value))
        self.saves.append(self.value)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class NoTransport:
    async def execute(self, call: Any) -> Any:
        raise AssertionError(f"no read expected, got {call}")


SELECTION = Selection("c1", ("orders",), None, "NORMAL_JOB")


def sweep_with(*history: Submission, entry: Job | None = None) -> Sweep:
    return Sweep({"orders": entry or listed("SUCCEEDED", T0 + 99_000)}, {"orders": tuple(history)})


async def events_of(watcher: Watcher, sweep: Sweep) -> list[dict[str, Any]]:
    return [payload async for payload in watcher.take(sweep)]


def test_a_reported_runs_watermark_is_written_only_after_the_commit_delay() -> None:
    async def scenario() -> None:
        store, clock = (
            MemoryStore({"format": 1, "started_ms": 1, "jobs": {"orders": Watermark(4).to_json()}}),
            FakeClock(),
        )
        watcher = Watcher(
            SELECTION, frozenset({JobStatus.SUCCEEDED}), NoTransport(), store, commit_after_s=5, clock=clock
        )  # type: ignore[arg-type]
        await watcher.open()
        payloads = await events_of(watcher, sweep_with(run(6, "SUCCEEDED"), run(5, "FAILED"), run(4, "SUCCEEDED")))
        assert [p["submission_id"] for p in payloads] == [6]
        await watcher.commit_due()  # run 5 (not reported) is due at once, run 6 is not
        assert store.value["jobs"]["orders"]["submission_id"] == 5  # type: ignore[index]
        clock.now += 4.9
        assert not await watcher.commit_due()
        clock.now += 0.2
        assert await watcher.commit_due()
        assert store.value["jobs"]["orders"]["submission_id"] == 6  # type: ignore[index]
        # the same sweep again reports nothing: the watermark is this process's at once
        assert await events_of(watcher, sweep_with(run(6, "SUCCEEDED"), run(5, "FAILED"))) == []
        await watcher.close()

    asyncio.run(scenario())


def test_a_restart_before_the_commit_reports_the_run_again_and_after_it_does_not() -> None:
    async def scenario() -> None:
        stored = {"format": 1, "started_ms": 1, "jobs": {"orders": Watermark(4).to_json()}}
        for restart_after_s, expected in ((1.0, [5]), (6.0, [])):
            store, clock = MemoryStore(stored), FakeClock()
            first = Watcher(
                SELECTION, frozenset({JobStatus.SUCCEEDED}), NoTransport(), store, commit_after_s=5, clock=clock
            )  # type: ignore[arg-type]
            await first.open()
            assert [
                p["submission_id"] for p in await events_of(first, sweep_with(run(5, "SUCCEEDED"), run(4, "SUCCEEDED")))
            ] == [5]
            clock.now += restart_after_s
            await first.commit_due()
            await first.close()  # the triggerer stops: what is not due stays unwritten
            second = Watcher(
                SELECTION, frozenset({JobStatus.SUCCEEDED}), NoTransport(), store, commit_after_s=5, clock=clock
            )  # type: ignore[arg-type]
            await second.open()
            again = await events_of(second, sweep_with(run(5, "SUCCEEDED"), run(4, "SUCCEEDED")))
            assert [p["submission_id"] for p in again] == expected, restart_after_s
            await second.close()

    asyncio.run(scenario())


def test_the_first_run_takes_a_baseline_and_reports_nothing_that_ended_before() -> None:
    async def scenario() -> None:
        store, clock = MemoryStore(None), FakeClock()
        watcher = Watcher(SELECTION, frozenset({JobStatus.SUCCEEDED}), NoTransport(), store, clock=clock)  # type: ignore[arg-type]
        await watcher.open()
        sweep = Sweep(
            {"orders": listed("SUCCEEDED", T0 + 3000)}, {"orders": (run(3, "SUCCEEDED"), run(2, "SUCCEEDED"))}
        )
        assert await events_of(watcher, sweep) == []
        await watcher.commit_due()
        assert store.value["jobs"] == {"orders": {"submission_id": None, "created_ms": T0 + 3000}}  # type: ignore[index]
        assert isinstance(store.value["started_ms"], int)  # type: ignore[index]
        later = sweep_with(run(4, "SUCCEEDED"), run(3, "SUCCEEDED"), entry=listed("SUCCEEDED", T0 + 4000))
        assert [p["submission_id"] for p in await events_of(watcher, later)] == [4]
        await watcher.close()

    asyncio.run(scenario())


def test_the_triggerer_builds_it_and_reads_its_stream_key_without_importing_the_client() -> None:
    """On the triggerer's loop the trigger is built, serialized and its ``shared_stream_key()`` read before
    anything runs off the loop: none of them may import the client modules (they would hold the loop)."""
    import subprocess
    import sys

    code = """
import asyncio, sys
from airflow_provider_cdm.triggers.events import CdmJobRunEventTrigger
kwargs = {"job_names": ["b", "a"], "name_filter": None, "cluster_id": None, "statuses": ["SUCCEEDED"],
          "poll_interval": 5.0, "cdm_conn_id": "cdm_default", "hook_params": {}, "job_type": "NORMAL_JOB",
          "watermark_key": "k"}
async def on_the_loop():
    trigger = CdmJobRunEventTrigger(**kwargs)
    assert trigger.serialize()[1] == kwargs  # the shared-stream manager serializes it when it subscribes
    return trigger.shared_stream_key()
key = asyncio.run(on_the_loop())
loaded = sorted(name for name in sys.modules if name.startswith("airflow_provider_cdm.client"))
print(repr((key, loaded)))
"""
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    key, loaded = eval(answer.stdout.strip().splitlines()[-1])  # noqa: S307 - our own repr
    assert loaded == []
    assert key == CdmJobRunEventTrigger(job_names=["a", "b"], poll_interval=5).shared_stream_key()


def test_the_store_is_the_assets_when_it_answers_else_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_cdm.triggers import _run_sweeps

    class OneAsset:
        def __init__(self) -> None:
            self.values: dict[str, Any] = {}

        async def aget(self, key: str, default: Any = None) -> Any:
            return self.values.get(key, default)

        async def aset(self, key: str, value: Any) -> None:
            self.values[key] = value

    class SeveralAssets:
        async def aget(self, key: str, default: Any = None) -> Any:
            raise ValueError("Task has 2 concrete inlets and outlets")

    class FakeVariable:
        values: ClassVar[dict[str, Any]] = {}

        @classmethod
        def get(cls, key: str, default: Any = None, deserialize_json: bool = False) -> Any:
            assert deserialize_json
            return cls.values.get(key, default)

        @classmethod
        def set(cls, key: str, value: Any, serialize_json: bool = False) -> None:
            assert serialize_json
            cls.values[key] = value

    monkeypatch.setattr(_run_sweeps.VariableStore, "_variable", staticmethod(lambda: FakeVariable))

    async def scenario() -> None:
        asset = OneAsset()
        chosen = await _run_sweeps.choose_store(asset, "k")
        assert isinstance(chosen, _run_sweeps.AssetStateStore)
        await chosen.save({"jobs": {}})
        assert asset.values == {"k": {"jobs": {}}} and await chosen.load() == {"jobs": {}}
        for store in (SeveralAssets(), None):
            chosen = await _run_sweeps.choose_store(store, "k")
            assert isinstance(chosen, _run_sweeps.VariableStore), store
        await chosen.save({"jobs": {"a": {"submission_id": 1, "created_ms": None}}})
        assert FakeVariable.values["k"] == {"jobs": {"a": {"submission_id": 1, "created_ms": None}}}
        assert await chosen.load() == FakeVariable.values["k"]

    asyncio.run(scenario())
