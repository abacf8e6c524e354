"""CdmJobRunEventTrigger without CDM: which runs are new and ended (client.run_watch), its arguments,
its serialization and shared-stream key, and when its watermarks are written (the dedup design)."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any, ClassVar

import pytest

from airflow_provider_cdm.api.statuses import JobStatus
from airflow_provider_cdm.client.exceptions import CdmConfigError, CdmThrottledError
from airflow_provider_cdm.client.models import Job, Page, Submission
from airflow_provider_cdm.client.run_watch import (
    Watermark,
    baseline_of_history,
    baseline_of_listed,
    entry_may_show_an_end,
    history_needed,
    new_ended_runs,
    reaches,
    result_figures,
    run_figures,
)
from airflow_provider_cdm.triggers._run_sweeps import Selection, Sweep, Watcher, read_history, sweeps
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
    assert not history_needed(listed("RUNNING", T0 + 4000), mark)  # not after the watermark
    assert not history_needed(listed("NEW"), mark)
    assert history_needed(listed("SUCCEEDED"), mark)  # no date in the entry
    assert history_needed(None, mark)  # not in the list


def test_a_run_repeated_by_a_history_that_moved_between_pages_counts_once() -> None:
    assert [r.submission_id for r in new_ended_runs([run(12, "SUCCEEDED"), run(11, "SUCCEEDED"), run(11, "SUCCEEDED")],
                                                    Watermark(10))] == [11, 12]  # fmt: skip
    dated = [run(None, "SUCCEEDED", T0 + 6000), run(None, "SUCCEEDED", T0 + 6000)]
    assert len(new_ended_runs(dated, Watermark(None, T0 + 5000))) == 1


def test_a_run_under_way_newer_than_the_watermark_asks_for_the_history() -> None:
    """Run 11 ended and run 12 started between two looks: the list shows 12 under way; 11 must not wait for 12."""
    mark = Watermark(10, T0 + 10_000)
    assert history_needed(listed("RUNNING", T0 + 12_000), mark)
    assert not history_needed(listed("RUNNING", T0 + 10_000), mark)
    assert history_needed(listed("RUNNING", T0 + 12_000), Watermark())  # nothing dealt with yet
    assert history_needed(listed("RUNNING", T0 + 12_000), Watermark(10))  # no date to compare


def test_a_changed_entry_may_show_an_end_when_its_run_ended_or_a_new_run_started() -> None:
    ended, started = listed("SUCCEEDED", T0 + 1000), listed("RUNNING", T0 + 3000)
    assert entry_may_show_an_end(started, ended)  # a new run: the one before may have ended within the look
    assert entry_may_show_an_end(listed("SUCCEEDED", T0 + 3000), started)
    assert not entry_may_show_an_end(listed("SUCCEEDED", T0 + 1000), ended)  # unchanged
    assert not entry_may_show_an_end(listed("RUNNING", T0 + 3000), listed("BOOTING", T0 + 3000))  # same run
    assert not entry_may_show_an_end(listed("NEW"), None)


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


# --- what the reviewer found: repeats, floods, extra reads, odd names ------------------------------------


class Reads:
    """A CDM answering the job list and the run history from fixed pages (newest first), counting calls."""

    def __init__(
        self,
        history: dict[str, list[list[Submission]]] | None = None,
        jobs: list[list[Job]] | None = None,
        fail: Exception | None = None,
    ) -> None:
        self.history = history or {}
        self.jobs = jobs or []  # one listing per call
        self.fail = fail
        self.calls: list[tuple[str, dict[str, str]]] = []

    async def execute(self, call: Any) -> Any:
        query = dict(call.query)
        self.calls.append((call.endpoint.name, query))
        if self.fail is not None:
            raise self.fail
        if call.endpoint.name == "list_jobs":
            return Page(tuple(self.jobs.pop(0) if self.jobs else ()), None)
        pages = self.history.get(query["jname"], [])
        page_no = int(query["page_no"])
        return Page(tuple(pages[page_no - 1]) if page_no <= len(pages) else (), None)

    def count(self, endpoint: str = "list_submissions") -> int:
        return sum(1 for name, _ in self.calls if name == endpoint)


def throttled() -> CdmThrottledError:
    return CdmThrottledError("too many requests", http_status=429)


def watcher_of(reads: Reads, store: MemoryStore, selection: Selection = SELECTION) -> Watcher:
    return Watcher(selection, frozenset({JobStatus.SUCCEEDED}), reads, store, clock=FakeClock())  # type: ignore[arg-type]


def marked(**jobs: Watermark) -> MemoryStore:
    return MemoryStore({"format": 1, "started_ms": 1, "jobs": {name: m.to_json() for name, m in jobs.items()}})


def test_read_history_drops_a_run_repeated_when_the_history_moved_between_two_pages() -> None:
    # run 21 was created between the two reads: page 2 starts with page 1's last run (11) again
    pages = [[run(i, "SUCCEEDED") for i in range(20, 10, -1)], [run(i, "SUCCEEDED") for i in range(11, 1, -1)]]
    runs = asyncio.run(read_history(Reads({"orders": pages}), "c1", "orders", Watermark(5)))  # type: ignore[arg-type]
    assert [r.submission_id for r in runs] == list(range(20, 1, -1))


def test_a_first_look_without_the_job_list_takes_the_baselines_at_the_next_one() -> None:
    async def scenario() -> None:
        old_runs = [[run(i, "SUCCEEDED") for i in range(10, 0, -1)]]
        store = MemoryStore(None)
        watcher = watcher_of(Reads({"orders": old_runs}), store, Selection("c1", None, "ord", "NORMAL_JOB"))
        await watcher.open()
        assert await events_of(watcher, Sweep({}, listed_ok=False)) == []
        await watcher.commit_due()
        assert store.saves == []  # no "started" written: the next look is still the first
        assert await events_of(watcher, Sweep({"orders": listed("SUCCEEDED", T0 + 10_000)})) == []
        await watcher.commit_due()
        assert store.value["jobs"] == {"orders": {"submission_id": None, "created_ms": T0 + 10_000}}  # type: ignore[index]
        await watcher.close()

    asyncio.run(scenario())


def test_a_failed_baseline_read_is_taken_again_not_read_as_a_new_job() -> None:
    async def scenario() -> None:
        reads = Reads({"orders": [[run(i, "SUCCEEDED") for i in range(10, 0, -1)]]}, fail=throttled())
        store = MemoryStore(None)
        watcher = watcher_of(reads, store)
        await watcher.open()
        no_date = Sweep({"orders": listed("SUCCEEDED")})  # the entry cannot tell: the history decides
        assert await events_of(watcher, no_date) == []
        assert "orders" not in watcher.marks
        reads.fail = None
        assert await events_of(watcher, no_date) == []  # a baseline, not ten old runs
        assert watcher.marks["orders"] == Watermark(10, T0 + 10_000)
        await watcher.close()

    asyncio.run(scenario())


def test_a_job_missing_from_a_complete_list_and_listed_later_has_every_run_reported() -> None:
    async def scenario() -> None:
        reads = Reads({"fresh": [[run(2, "SUCCEEDED"), run(1, "SUCCEEDED")]]})
        watcher = watcher_of(reads, MemoryStore(None), Selection("c1", None, "f", "NORMAL_JOB"))
        await watcher.open()
        assert await events_of(watcher, Sweep({})) == []  # a complete list: no "fresh" yet
        later = Sweep({"fresh": listed("SUCCEEDED", T0 + 2000, name="fresh")})
        assert [p["submission_id"] for p in await events_of(watcher, later)] == [1, 2]
        await watcher.close()

    asyncio.run(scenario())


def test_a_look_without_the_job_list_reads_no_history() -> None:
    async def scenario() -> None:
        names = tuple(f"job{i}" for i in range(30))
        reads = Reads()
        watcher = watcher_of(
            reads, marked(**{n: Watermark(1, T0) for n in names}), Selection("c1", names, None, "NORMAL_JOB")
        )
        await watcher.open()
        assert await events_of(watcher, Sweep({}, listed_ok=False)) == []
        assert reads.calls == []
        await watcher.close()

    asyncio.run(scenario())


def test_a_run_that_ended_while_the_next_started_is_reported_without_waiting_for_the_next() -> None:
    async def scenario() -> None:
        history = [[run(12, "RUNNING"), run(11, "SUCCEEDED"), run(10, "SUCCEEDED")]]
        reads = Reads({"orders": history})
        watcher = watcher_of(reads, marked(orders=Watermark(10, T0 + 10_000)))
        await watcher.open()
        busy = Sweep({"orders": listed("RUNNING", T0 + 12_000)})
        assert [p["submission_id"] for p in await events_of(watcher, busy)] == [11]
        assert await events_of(watcher, busy) == [] and reads.count() == 1  # once per entry, not at every look
        history[0][0] = run(12, "SUCCEEDED")
        done = Sweep({"orders": listed("SUCCEEDED", T0 + 12_000)})
        assert [p["submission_id"] for p in await events_of(watcher, done)] == [12]
        await watcher.close()

    asyncio.run(scenario())


def test_an_entry_whose_history_showed_nothing_new_is_not_read_again_until_it_changes() -> None:
    async def scenario() -> None:
        # the list's date is not the history's creation date, and the mark has none: history_needed stays True
        reads = Reads({"orders": [[run(10, "SUCCEEDED")]]})
        watcher = watcher_of(reads, marked(orders=Watermark(10)))
        await watcher.open()
        entry = Sweep({"orders": listed("SUCCEEDED", T0 + 10_001)})
        for _ in range(3):
            assert await events_of(watcher, entry) == []
        assert reads.count() == 1
        assert await events_of(watcher, Sweep({"orders": listed("SUCCEEDED", T0 + 11_001)})) == []
        assert reads.count() == 2
        await watcher.close()

    asyncio.run(scenario())


def test_a_job_name_cdms_history_call_refuses_is_skipped_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        reads = Reads({"orders": [[run(5, "SUCCEEDED"), run(4, "SUCCEEDED")]]})
        store = marked(orders=Watermark(4, T0 + 4000))
        watcher = watcher_of(reads, store, Selection("c1", None, "o", "NORMAL_JOB"))
        await watcher.open()
        odd = {name: listed("SUCCEEDED", name=name) for name in ("all", "orders ")}  # no date: history needed
        for expected in ([5], []):
            sweep = Sweep({**odd, "orders": listed("SUCCEEDED", T0 + 5000)})
            assert [p["submission_id"] for p in await events_of(watcher, sweep)] == expected
        assert watcher.marks["orders"] == Watermark(5, T0 + 5000)
        await watcher.close()

    with caplog.at_level("WARNING"):
        asyncio.run(scenario())
    warned = [r for r in caplog.records if "cannot be watched" in r.getMessage()]
    assert sorted(str(r.args[0]) for r in warned) == ["all", "orders "]  # type: ignore[index]


def test_the_shared_poll_survives_an_odd_name_and_warns_of_a_job_gone_during_a_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> list[Sweep]:
        running = [listed("RUNNING", T0, name="all"), listed("RUNNING", T0, name="once")]
        ended = [listed("SUCCEEDED", T0, name="all")]  # "once" was deleted when its run ended
        reads = Reads(jobs=[running, ended])
        stream = sweeps(reads, Selection("c1", None, "o", "NORMAL_JOB"), 0.0)  # type: ignore[arg-type]
        taken = [await stream.__anext__(), await stream.__anext__()]
        await stream.aclose()  # type: ignore[attr-defined]
        return taken

    with caplog.at_level("WARNING"):
        taken = asyncio.run(scenario())
    assert list(taken[1].listed) == ["all"] and taken[1].histories == {}
    gone = [r for r in caplog.records if "is gone while a run" in r.getMessage()]
    assert [r.args[0] for r in gone] == ["once"]  # type: ignore[index]


def test_the_shared_poll_reads_a_history_when_a_new_run_started_once_per_entry() -> None:
    async def scenario() -> list[Sweep]:
        ended, started = listed("SUCCEEDED", T0 + 1000), listed("RUNNING", T0 + 3000)  # run 2 ended unseen
        done = listed("SUCCEEDED", T0 + 3000)
        looks = [[ended], [started], [started], [done], [done]]
        reads = Reads({"orders": [[run(3, "RUNNING"), run(2, "SUCCEEDED")]]}, jobs=looks)
        stream = sweeps(reads, SELECTION, 0.0)  # type: ignore[arg-type]
        taken = [await stream.__anext__() for _ in range(len(looks))]
        await stream.aclose()  # type: ignore[attr-defined]
        assert reads.count() == 2
        return taken

    taken = asyncio.run(scenario())
    assert [list(sweep.histories) for sweep in taken] == [[], ["orders"], [], ["orders"], []]


def test_watermarks_of_another_cluster_are_set_aside_for_a_new_baseline(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        store = MemoryStore(
            {"format": 1, "started_ms": 1, "cluster_id": "old", "jobs": {"orders": Watermark(90).to_json()}}
        )
        watcher = watcher_of(Reads(), store)
        await watcher.open()
        assert watcher.marks == {} and watcher.started_ms is None
        assert await events_of(watcher, Sweep({"orders": listed("SUCCEEDED", T0 + 3000)})) == []
        await watcher.commit_due()
        assert store.value["cluster_id"] == "c1"  # type: ignore[index]
        assert store.value["jobs"] == {"orders": {"submission_id": None, "created_ms": T0 + 3000}}  # type: ignore[index]
        await watcher.close()

    with caplog.at_level("WARNING"):
        asyncio.run(scenario())
    assert any("those of cluster old" in r.getMessage() for r in caplog.records)


def test_the_stream_key_carries_no_hook_params_in_clear() -> None:
    secret = {"proxies": {"https": "http://user:s3cret@proxy:3128"}}
    key = CdmJobRunEventTrigger(job_names="a", hook_params=secret).shared_stream_key()
    assert "s3cret" not in repr(key)
    assert key == CdmJobRunEventTrigger(job_names="a", hook_params=dict(secret)).shared_stream_key()
    assert key != CdmJobRunEventTrigger(job_names="a").shared_stream_key()


def test_run_imports_the_provider_off_the_loop() -> None:
    """``run()`` on the triggerer's loop: every provider module it needs is imported in a worker thread."""
    import subprocess
    import sys

    code = """
import asyncio, sys, threading
from airflow_provider_cdm.triggers.events import CdmJobRunEventTrigger
on_the_loop = []
class Recorder:
    def find_spec(self, name, path=None, target=None):
        if name.startswith("airflow_provider_cdm") and threading.current_thread() is threading.main_thread():
            on_the_loop.append(name)
        return None
async def main():
    trigger = CdmJobRunEventTrigger(job_names=["a"], cdm_conn_id="no_such_connection", cluster_id="c1")
    sys.meta_path.insert(0, Recorder())
    try:
        async for _ in trigger.run():
            break
    except Exception as err:
        print("ended:", type(err).__name__)
asyncio.run(main())
print(repr(sorted(set(on_the_loop))))
"""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW_CONN_")}
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert answer.returncode == 0, answer.stderr[-3000:]
    assert answer.stdout.strip().splitlines()[-1] == "[]", answer.stdout
