"""The emulator's state machine without HTTP, on a clock the tests move."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_cdm.api import endpoints, errors
from airflow_provider_cdm.emulator.config import DEFAULT_CLUSTERS
from airflow_provider_cdm.emulator.errors import ApiError
from airflow_provider_cdm.emulator.models import CdmBackend
from airflow_provider_cdm.emulator.quotas import QuotaLimiter
from airflow_provider_cdm.emulator.runs import COUNTER_GROUP, STOPPED_BY_USER, Outcome, Script, _Volume

from .helpers import RUNNING_1, RUNNING_2, STOPPED, FakeClock, job_definition

USER = "tester"
COUNTER_NAMES = {
    "BYTES_WRITTEN", "BYTES_READ", "TOTAL_FILES", "TOTAL_SIZE", "ROWS_READ",
    "ROWS_WRITTEN", "ROWS_WRITTEN_SKIPPED", "FILES_WRITTEN", "FILES_READ", "FILES_SKIPPED",
}  # fmt: skip


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend(clock: FakeClock) -> CdmBackend:
    return CdmBackend(DEFAULT_CLUSTERS, clock=clock, job_duration_s=10.0, seed=7)


def created(backend: CdmBackend, name: str, cluster: str = RUNNING_1, **kwargs: Any) -> None:
    assert backend.create_job(cluster, job_definition(name, **kwargs), USER) == {"name": name, "validation-result": []}


def start(backend: CdmBackend, name: str, variables: dict[str, str] | None = None) -> dict[str, Any]:
    submissions = backend.start_job(RUNNING_1, name, variables or {}, USER)["submissions"]
    assert len(submissions) == 1
    result: dict[str, Any] = submissions[0]
    return result


def latest(backend: CdmBackend, name: str) -> dict[str, Any]:
    result: dict[str, Any] = backend.job_status(RUNNING_1, name)["submissions"][0]
    return result


def code_of(call: Any, *args: Any) -> str:
    with pytest.raises(ApiError) as raised:
        call(*args)
    return raised.value.error.code


def test_a_run_boots_then_runs_with_rising_progress_then_succeeds_with_counters(
    backend: CdmBackend, clock: FakeClock
) -> None:
    created(backend, "nightly")
    assert backend.job_status(RUNNING_1, "nightly") == {"submissions": []}
    assert backend.show_job(RUNNING_1, "nightly")["jobs"][0]["status"] == "NEW"

    started_ms = int(clock() * 1000)
    first = start(backend, "nightly")
    assert (first["status"], first["progress"], first["job-name"]) == ("BOOTING", 0.0, "nightly")
    assert first["creation-date"] == first["execute-date"] == started_ms
    assert first["last-udpate-user"] == first["creation-user"] == USER

    progress = []
    for _ in range(4):  # boot is min(1 s, 20% of 10 s); then 9 s of running
        clock.advance(2.0)
        now = latest(backend, "nightly")
        assert now["status"] == "RUNNING"
        progress.append(now["progress"])
    assert progress == sorted(progress) and len(set(progress)) == 4
    assert 0 < progress[0] < progress[-1] < 100

    clock.advance(2.0)
    done = latest(backend, "nightly")
    assert (done["status"], done["progress"]) == ("SUCCEEDED", 100.0)
    assert done["last-update-date"] == started_ms + 10_000
    counters = done["counters"][COUNTER_GROUP]
    assert set(counters) == COUNTER_NAMES
    assert counters["ROWS_WRITTEN"] == done["write_rows"] > 0
    assert "error-summary" not in done
    assert backend.show_job(RUNNING_1, "nightly")["jobs"][0]["status"] == "SUCCEEDED"


def test_counters_are_deterministic_per_job_name(clock: FakeClock) -> None:
    def counters_of(name: str) -> dict[str, int]:
        backend = CdmBackend(DEFAULT_CLUSTERS, clock=clock, job_duration_s=0.0)
        created(backend, name)
        result: dict[str, int] = start(backend, name)["counters"][COUNTER_GROUP]
        return result

    assert counters_of("orders") == counters_of("orders")
    assert counters_of("orders") != counters_of("customers")


def test_scripted_failure_carries_the_summary_and_no_counters(backend: CdmBackend, clock: FakeClock) -> None:
    backend.set_script("etl", Script(Outcome.FAILED, 3.0, "disk full"))
    created(backend, "etl")
    start(backend, "etl")
    clock.advance(3.0)
    failed = latest(backend, "etl")
    assert (failed["status"], failed["progress"], failed["error-summary"]) == ("FAILED", -1.0, "disk full")
    assert "disk full" in failed["error-details"] and "counters" not in failed


def test_failure_on_submit_answers_the_start_with_the_failed_submission(backend: CdmBackend) -> None:
    backend.set_script("etl", Script(Outcome.FAILURE_ON_SUBMIT, 5.0, "no resources"))
    created(backend, "etl")
    answer = start(backend, "etl")
    assert (answer["status"], answer["progress"]) == ("FAILURE_ON_SUBMIT", -1.0)
    assert answer["error-summary"] == "no resources"
    assert start(backend, "etl")["status"] == "FAILURE_ON_SUBMIT"  # nothing active, so it can start again


def test_unknown_outcome_ends_unknown_without_error_fields(backend: CdmBackend, clock: FakeClock) -> None:
    backend.set_script("etl", Script(Outcome.UNKNOWN, 2.0))
    created(backend, "etl")
    start(backend, "etl")
    clock.advance(1.5)
    assert latest(backend, "etl")["status"] == "RUNNING"
    clock.advance(1.0)
    unknown = latest(backend, "etl")
    assert (unknown["status"], unknown["progress"]) == ("UNKNOWN", -1.0)
    assert "error-summary" not in unknown and "counters" not in unknown


def test_stuck_run_stalls_below_100_until_stopped(backend: CdmBackend, clock: FakeClock) -> None:
    backend.set_script("etl", Script(Outcome.STUCK, 5.0))
    created(backend, "etl")
    start(backend, "etl")
    clock.advance(5.0)
    stalled = latest(backend, "etl")
    clock.advance(3600.0)
    later = latest(backend, "etl")
    assert later["status"] == "RUNNING" and later["progress"] == stalled["progress"] < 100
    assert later["last-update-date"] == stalled["last-update-date"]
    assert code_of(backend.start_job, RUNNING_1, "etl", {}, USER) == "Cdm.0052"
    assert backend.stop_job(RUNNING_1, "etl") == {"validation-result": []}
    assert latest(backend, "etl")["error-summary"] == STOPPED_BY_USER


def test_second_start_is_refused_while_a_run_is_active_and_allowed_after(backend: CdmBackend, clock: FakeClock) -> None:
    created(backend, "etl")
    first = start(backend, "etl")
    clock.advance(5.0)
    assert code_of(backend.start_job, RUNNING_1, "etl", {}, USER) == errors.CDM_JOB_RUNNING.code
    clock.advance(5.0)
    second = start(backend, "etl")
    assert second["submission-id"] > first["submission-id"]


def test_stop_ends_an_active_run_as_failed_and_refuses_an_idle_job(backend: CdmBackend, clock: FakeClock) -> None:
    created(backend, "etl")
    assert code_of(backend.stop_job, RUNNING_1, "etl") == "Cdm.0053"  # never started
    start(backend, "etl")
    clock.advance(4.0)
    backend.stop_job(RUNNING_1, "etl")
    stopped = latest(backend, "etl")
    assert (stopped["status"], stopped["progress"], stopped["error-summary"]) == ("FAILED", -1.0, STOPPED_BY_USER)
    clock.advance(60.0)
    assert latest(backend, "etl")["status"] == "FAILED"  # stays stopped, never SUCCEEDED
    assert code_of(backend.stop_job, RUNNING_1, "etl") == "Cdm.0053"


def test_delete_and_update_refuse_a_job_with_an_active_run(backend: CdmBackend, clock: FakeClock) -> None:
    created(backend, "etl")
    start(backend, "etl")
    assert code_of(backend.delete_job, RUNNING_1, "etl") == "Cdm.0322"
    assert code_of(backend.update_job, RUNNING_1, "etl", job_definition("etl"), USER) == "Cdm.0322"
    clock.advance(10.0)
    backend.delete_job(RUNNING_1, "etl")
    assert code_of(backend.job_status, RUNNING_1, "etl") == "Cdm.0100"


def test_not_found_codes_follow_the_architecture_decisions(backend: CdmBackend) -> None:
    missing = "ghost"
    for call, args in [
        (backend.start_job, (RUNNING_1, missing, {}, USER)),
        (backend.stop_job, (RUNNING_1, missing)),
        (backend.job_status, (RUNNING_1, missing)),
        (backend.show_job, (RUNNING_1, missing)),
        (backend.delete_job, (RUNNING_1, missing)),
        (backend.list_submissions, (RUNNING_1, missing)),
    ]:
        assert code_of(call, *args) == "Cdm.0100", call
    assert code_of(backend.update_job, RUNNING_1, missing, job_definition(missing), USER) == "Cdm.0319"
    assert code_of(backend.show_cluster, "no-such-cluster") == "Cdm.0001"
    assert code_of(backend.create_job, "no-such-cluster", job_definition("x"), USER) == "Cdm.0001"
    created(backend, "taken")
    assert code_of(backend.create_job, RUNNING_1, job_definition("taken"), USER) == "Cdm.0104"


def test_start_in_a_stopped_cluster_cannot_be_submitted(backend: CdmBackend) -> None:
    created(backend, "etl", cluster=STOPPED)
    with pytest.raises(ApiError) as raised:
        backend.start_job(STOPPED, "etl", {}, USER)
    assert raised.value.error.code == "Cdm.0037" and "not running" in raised.value.message


def test_submission_ids_rise_globally_and_history_is_newest_first(backend: CdmBackend, clock: FakeClock) -> None:
    created(backend, "a")
    created(backend, "b")
    created(backend, "c", cluster=RUNNING_2)
    ids = []
    for _ in range(12):
        ids.append(start(backend, "a")["submission-id"])
        ids.append(start(backend, "b")["submission-id"])
        ids.append(backend.start_job(RUNNING_2, "c", {}, USER)["submissions"][0]["submission-id"])
        clock.advance(10.0)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)

    page1 = backend.list_submissions(RUNNING_1, "a")
    assert (page1["total"], page1["page_no"], page1["page_size"]) == (12, 1, 10)
    a_ids = [s["submission-id"] for s in page1["submissions"]]
    assert a_ids == sorted(a_ids, reverse=True) and len(a_ids) == 10
    page2 = backend.list_submissions(RUNNING_1, "a", page_no=2)
    assert len(page2["submissions"]) == 2 and page2["submissions"][0]["submission-id"] < a_ids[-1]
    dates = page1["submissions"][0]
    assert all(isinstance(dates[k], str) for k in ("creation-date", "execute-date", "last-update-date"))
    assert isinstance(latest(backend, "a")["creation-date"], int)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda j: j.pop("driver-config-values"), "driver-config-values"),
        (lambda j: j.update(job_type="FAST_JOB"), "job_type"),
        (lambda j: j.update({"to-connector-name": 42}), "to-connector-name 42 must be a non-empty string"),
        (lambda j: j["to-config-values"]["configs"][0].update(inputs={"bucketName": "x"}), "{'bucketName': 'x'}"),
        (lambda j: j["from-config-values"]["configs"][0]["inputs"][0].update(value=5), "must be a string"),
        (lambda j: j.update(name="x" * 241), "1 to 240"),
        (lambda j: j.update(name="a/b"), "must not contain '/'"),
        (lambda j: j.update(name=endpoints.LIST_ALL_JOBS), "reserved"),
    ],
)
def test_invalid_definitions_answer_validation_errors_and_create_nothing(
    backend: CdmBackend, change: Any, expected: str
) -> None:
    job = job_definition("bad")
    change(job)
    answer = backend.create_job(RUNNING_1, job, USER)
    results = answer["validation-result"]
    assert results and all(r["status"] == "ERROR" for r in results)
    assert any(expected in r["message"] for r in results), results
    assert backend.list_jobs(RUNNING_1)["total"] == 0
    assert backend.counts()["creates"] == {}
    assert backend.create_and_start([RUNNING_1], job, USER)["validation-result"]
    assert backend.counts()["starts"] == {}


def test_what_the_reference_accepts_is_created_and_read_back_as_the_client_loads_it(clock: FakeClock) -> None:
    backend = CdmBackend(DEFAULT_CLUSTERS, clock=clock, links={"obs_link": "obs-connector"})
    job = job_definition("lean", from_connector="tomorrow-connector")  # a connector CDM may add any day
    for field in ("job_type", "to-connector-name", "from-link-name"):  # optional in the reference
        del job[field]
    job["driver-config-values"]["configs"].append({"name": "jarConfig", "inputs": {}})
    job["from-config-values"]["configs"][0]["inputs"][0]["type"] = "STRING"  # a field CDM sets itself
    assert backend.create_job(RUNNING_1, job, USER) == {"name": "lean", "validation-result": []}

    [shown] = backend.list_jobs(RUNNING_1)["jobs"]  # listed under the default job type
    assert shown["job_type"] == "NORMAL_JOB"
    assert shown["to-connector-name"] == "obs-connector"  # the destination link's
    assert "from-link-name" not in shown and shown["from-connector-name"] == "tomorrow-connector"
    assert shown["driver-config-values"]["configs"][-1] == {"name": "jarConfig", "inputs": []}
    assert shown["from-config-values"]["configs"][0]["inputs"][0]["type"] == "STRING"
    del job["name"]
    assert backend.update_job(RUNNING_1, "lean", job, USER) == {"validation-result": []}
    assert backend.show_job(RUNNING_1, "lean")["jobs"][0]["job_type"] == "NORMAL_JOB"


def test_links_are_free_by_default_and_checked_when_declared_or_strict(clock: FakeClock) -> None:
    lenient = CdmBackend(DEFAULT_CLUSTERS, clock=clock, links={"pg_link": "generic-jdbc-connector"})
    assert lenient.problems(job_definition("a", from_link="anything")) == []
    assert lenient.problems(job_definition("a", from_link="pg_link", from_connector="hive-connector"))
    strict = CdmBackend(
        DEFAULT_CLUSTERS, clock=clock, strict_links=True,
        links={"pg_link": "generic-jdbc-connector", "obs_link": "obs-connector"},
    )  # fmt: skip
    assert strict.problems(job_definition("a")) == []
    problems = strict.problems(job_definition("a", from_link="undeclared"))
    assert len(problems) == 1 and "undeclared" in problems[0]


def test_create_and_start_picks_only_running_candidates(backend: CdmBackend) -> None:
    chosen = set()
    for i in range(30):
        answer = backend.create_and_start([STOPPED, RUNNING_1, RUNNING_2], job_definition(f"job{i}"), USER)
        assert answer["submissions"][0]["status"] == "BOOTING"
    for cluster in backend.snapshot()["clusters"]:
        if cluster["jobs"]:
            chosen.add(cluster["id"])
    assert chosen == {RUNNING_1, RUNNING_2}
    assert code_of(backend.create_and_start, [STOPPED], job_definition("x"), USER) == "Cdm.0001"
    assert code_of(backend.create_and_start, [RUNNING_1, "nope"], job_definition("x"), USER) == "Cdm.0001"
    assert code_of(backend.create_and_start, [RUNNING_1, RUNNING_2], job_definition("job0"), USER) == "Cdm.0104"


def test_list_jobs_pages_filters_and_checks_its_parameters(backend: CdmBackend) -> None:
    for i in range(25):
        created(backend, f"orders_{i:02d}")
    created(backend, "customers")
    batch = dict(job_definition("batch_orders"), job_type="BATCH_JOB")
    backend.create_job(RUNNING_1, batch, USER)

    page = backend.list_jobs(RUNNING_1, name_filter="orders", page_no=3, page_size=10)
    assert (page["total"], page["page_no"], page["page_size"]) == (25, 3, 10)
    assert [j["name"] for j in page["jobs"]] == [f"orders_{i:02d}" for i in range(20, 25)]
    assert all(j["status"] == "NEW" and j["enabled"] is True for j in page["jobs"])
    assert backend.list_jobs(RUNNING_1)["total"] == 26  # NORMAL_JOB by default
    assert [j["name"] for j in backend.list_jobs(RUNNING_1, job_type="BATCH_JOB")["jobs"]] == ["batch_orders"]
    for bad in ({"page_size": 9}, {"page_size": 101}, {"page_no": 0}, {"job_type": "OTHER"}):
        with pytest.raises(ApiError) as raised:
            backend.list_jobs(RUNNING_1, **bad)  # type: ignore[arg-type]
        assert (raised.value.error.code, raised.value.http_status) == ("APIG.0201", 400)


def test_read_back_percent_encodes_values_outside_the_unreserved_set(backend: CdmBackend) -> None:
    where = "dt >= '2024-01-01' AND city = 'Zürich'"
    created(backend, "etl", where=where)
    job = backend.show_job(RUNNING_1, "etl")
    assert (job["total"], job["page_no"], job["page_size"]) == (1, 1, 10)
    inputs = {i["name"]: i["value"] for i in job["jobs"][0]["from-config-values"]["configs"][0]["inputs"]}
    assert inputs["fromJobConfig.whereClause"] == quote(where, safe="") != where
    assert inputs["fromJobConfig.tableName"] == "orders"
    metadata = job["jobs"][0]
    assert {"creation-user", "creation-date", "update-date", "id", "enabled"} <= set(metadata)


def test_update_replaces_the_definition_and_refuses_a_rename(backend: CdmBackend, clock: FakeClock) -> None:
    created(backend, "etl")
    clock.advance(30.0)
    new = job_definition("etl", where="id > 5")
    assert backend.update_job(RUNNING_1, "etl", new, "editor") == {"validation-result": []}
    job = backend.show_job(RUNNING_1, "etl")["jobs"][0]
    assert job["update-date"] - job["creation-date"] == 30_000 and job["update-user"] == "editor"
    assert job["from-config-values"]["configs"][0]["inputs"][1]["value"] == quote("id > 5", safe="")
    renamed = backend.update_job(RUNNING_1, "etl", job_definition("other"), USER)["validation-result"]
    assert renamed and "renamed" in renamed[0]["message"]


def test_scripts_apply_to_the_next_runs_and_count_limits_them(backend: CdmBackend, clock: FakeClock) -> None:
    backend.set_script("etl", Script(Outcome.FAILED, 1.0, "boom", count=2))  # before the job exists
    created(backend, "etl")
    outcomes = []
    for _ in range(3):
        start(backend, "etl")
        clock.advance(10.0)
        outcomes.append(latest(backend, "etl")["status"])
    assert outcomes == ["FAILED", "FAILED", "SUCCEEDED"]
    backend.set_script("etl", Script(Outcome.UNKNOWN, 1.0))
    backend.set_script("etl", Script(Outcome.FAILURE_ON_SUBMIT, 1.0))  # replaces
    assert start(backend, "etl")["status"] == "FAILURE_ON_SUBMIT"
    assert start(backend, "etl")["status"] == "FAILURE_ON_SUBMIT"  # no count: every run


def test_script_parsing_refuses_bad_input() -> None:
    assert Script.from_json({"outcome": "STUCK"}, 3.0) == Script(Outcome.STUCK, 3.0)
    for bad in ({"outcome": "MAYBE"}, {"duration_s": -1}, {"count": 0}, {"duration_s": "2"}, {"colour": "red"}, []):
        with pytest.raises(ValueError):
            Script.from_json(bad, 2.0)


def test_variables_and_stops_show_in_the_admin_snapshot(backend: CdmBackend, clock: FakeClock) -> None:
    created(backend, "etl")
    start(backend, "etl", {"date": "2024-01-01"})
    clock.advance(2.0)
    backend.stop_job(RUNNING_1, "etl")
    job = backend.snapshot()["clusters"][0]["jobs"][0]
    assert (job["name"], job["active"], job["status"]) == ("etl", False, "FAILED")
    assert job["runs"][0]["variables"] == {"date": "2024-01-01"} and job["runs"][0]["stopped"] is True


def test_reset_forgets_jobs_scripts_and_counters(backend: CdmBackend) -> None:
    backend.set_script("etl", Script(Outcome.FAILED, 1.0))
    created(backend, "etl")
    start(backend, "etl")
    backend.reset()
    assert backend.snapshot()["scripts"] == {} and backend.counts() == {"starts": {}, "creates": {}}
    created(backend, "etl")
    answer = start(backend, "etl")
    assert answer["submission-id"] == 1 and answer["status"] == "BOOTING"


def test_quota_window_slides_per_user_and_group(clock: FakeClock) -> None:
    quotas = QuotaLimiter(clock)
    for _ in range(60):
        quotas.check("alice", endpoints.SHOW_JOB)
    clock.advance(30.0)
    for _ in range(60):
        quotas.check("alice", endpoints.LIST_JOBS)  # the same quota group as show job
    with pytest.raises(ApiError) as raised:
        quotas.check("alice", endpoints.SHOW_JOB)
    assert raised.value.http_status == 429 and "limit:120" in raised.value.message
    quotas.check("bob", endpoints.SHOW_JOB)  # another user has their own window
    quotas.check("alice", endpoints.JOB_STATUS)  # another group too
    clock.advance(30.0)  # the first 60 calls are now a minute old
    for _ in range(60):
        quotas.check("alice", endpoints.SHOW_JOB)
    with pytest.raises(ApiError):
        quotas.check("alice", endpoints.SHOW_JOB)
    for _ in range(500):
        quotas.check("alice", endpoints.LIST_CLUSTERS)  # no documented quota


def test_a_job_object_carries_its_last_runs_execution_fields(backend: CdmBackend, clock: FakeClock) -> None:
    created(backend, "orders")
    never_ran = backend.show_job(RUNNING_1, "orders")["jobs"][0]
    assert never_ran["status"] == "NEW" and "execute_create_date" not in never_ran
    first = start(backend, "orders")
    clock.advance(5.0)
    running = backend.list_jobs(RUNNING_1)["jobs"][0]
    assert running["status"] == "RUNNING" and running["execute_create_date"] == first["creation-date"]
    assert 0 < running["rows_written"] < _Volume.of("orders").rows
    clock.advance(10.0)
    done, status = backend.list_jobs(RUNNING_1)["jobs"][0], latest(backend, "orders")
    counters = status["counters"][COUNTER_GROUP]
    assert done["status"] == status["status"] == "SUCCEEDED"
    assert (done["rows_written"], done["bytes_read"], done["files_written"]) == (
        counters["ROWS_WRITTEN"], counters["BYTES_READ"], counters["FILES_WRITTEN"],
    )  # fmt: skip
    assert done["external_id"] == status["external-id"] and done["execute_update_date"] == status["last-update-date"]
    second = start(backend, "orders")
    assert backend.show_job(RUNNING_1, "orders")["jobs"][0]["execute_create_date"] == second["creation-date"]
