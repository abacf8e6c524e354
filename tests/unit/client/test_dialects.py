"""The client reads every answer shape real CDM is documented to send (``/work/shared/cdm-dialects.md``).

Each test names the row of that table whose shape it feeds the client.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_cdm.api.errors import ErrorKind, is_definite_refusal, kind_of
from airflow_provider_cdm.client import operations as ops
from airflow_provider_cdm.client.answers import HttpResponse, http_failure, read_answer
from airflow_provider_cdm.client.exceptions import (
    CdmApiError,
    CdmAuthError,
    CdmJobNotFoundError,
    CdmThrottledError,
    CdmValidationError,
    error_from_response,
)
from airflow_provider_cdm.client.models import Job, Page, Submission, ValidationMessage, epoch_ms_to_datetime
from airflow_provider_cdm.client.retry import AttemptFailure
from tests.jobs import job_definition
from tests.unit.client.helpers import CLUSTER, JOB, submission

PATH = f"/v1.1/p1/clusters/{CLUSTER}/cdm/job/{JOB}"
MOMENT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)  # 1_700_000_000_000 ms


def error(status: int, body: dict[str, Any]) -> CdmApiError:
    return error_from_response(status, {}, json.dumps(body).encode(), method="DELETE", path=PATH)


def failure(status: int, body: dict[str, Any]) -> AttemptFailure:
    return http_failure(HttpResponse(status, {}, json.dumps(body).encode()), "DELETE", PATH)


# --- error bodies ---------------------------------------------------------------------------------


def test_a_body_with_only_errcode_and_external_message() -> None:
    """Row 9: often only ``{"errCode", "externalMessage"}``."""
    found = error(400, {"errCode": "Cdm.0100", "externalMessage": "Job[x] does not exist."})
    assert type(found) is CdmJobNotFoundError
    assert (found.code, found.message) == ("Cdm.0100", "Job[x] does not exist.")


def test_a_gateway_body_with_error_code_and_error_msg() -> None:
    """Row 9 (the Python SDK's ``error_code``/``error_msg``) and row 11 (APIGW.0301 for a bad token)."""
    found = error(401, {"error_code": "APIGW.0301", "error_msg": "decrypt token fail"})
    assert type(found) is CdmAuthError
    assert (found.code, found.message, found.kind) == ("APIG.0301", "decrypt token fail", ErrorKind.AUTH)
    assert found.sent_code == "APIGW.0301"  # the documented spelling in code, CDM's own in sent_code and the text
    assert str(found).startswith("APIG.0301 (sent as APIGW.0301): decrypt token fail")


def test_a_zero_padded_code_is_the_documented_one() -> None:
    """Row 9: ``Cdm.00100`` (an extra zero) is Cdm.0100, job not found."""
    found = error(400, {"errCode": "Cdm.00100", "externalMessage": "Job[x] does not exist."})
    assert (type(found).__name__, found.code, found.sent_code) == ("CdmJobNotFoundError", "Cdm.0100", "Cdm.00100")


def test_the_misspelt_message_key_is_read() -> None:
    """Row 9: one documented example spells ``externalMessage`` as ``ternalMessage``."""
    found = error(500, {"errCode": "Cdm.0100", "ternalMessage": "Job[x] does not exist."})
    assert found.message == "Job[x] does not exist."


def test_update_of_a_missing_job_with_code_and_errcode_apart() -> None:
    """Row 6: ``code: Cdm.0095``, ``errCode: Cdm.00095`` (extra zero): a job-not-found, whichever is read."""
    found = error(
        400,
        {
            "code": "Cdm.0095",
            "errCode": "Cdm.00095",
            "message": "A job with the name orders does not exist.",
            "externalMessage": "A job with the name orders does not exist.",
        },
    )
    assert type(found) is CdmJobNotFoundError
    assert found.code == "Cdm.0095"
    assert found.message == "A job with the name orders does not exist."


def test_errcode_decides_when_code_and_errcode_are_both_known() -> None:
    """Row 9: ``code`` may differ from ``errCode``; the wire code golangsdk and TF act on is ``errCode``."""
    found = error(400, {"code": "Cdm.0000", "errCode": "Cdm.0054", "externalMessage": "Job[x] does not exist."})
    assert (type(found), found.code) == (CdmJobNotFoundError, "Cdm.0054")


def test_code_is_read_when_errcode_is_unknown() -> None:
    """Row 9: a known ``code`` beside an ``errCode`` this client does not know decides the kind."""
    found = error(400, {"code": "Cdm.0100", "errCode": "CDM.X", "externalMessage": "gone"})
    assert (type(found), found.code) == (CdmJobNotFoundError, "Cdm.0100")


@pytest.mark.parametrize("code", ["Cdm.0054", "Cdm.0100", "Cdm.0095", "Cdm.00095", "CDM.0054", "cdm.0100"])
def test_job_not_found_variants(code: str) -> None:
    """Rows 6 and 10: ``Cdm.0100``, ``Cdm.0054`` and the update example's ``Cdm.0095``/``Cdm.00095``."""
    assert kind_of(code, 400) is ErrorKind.JOB_NOT_FOUND
    assert type(error(400, {"errCode": code, "externalMessage": "no job"})) is CdmJobNotFoundError


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("APIGW.0301", 401, ErrorKind.AUTH),
        ("APIG.0301", 401, ErrorKind.AUTH),
        ("APIGW.0307", 401, ErrorKind.AUTH),
        ("APIG.0307", 401, ErrorKind.AUTH),
        ("APIGW.0308", 429, ErrorKind.THROTTLED),
        ("APIGW.1002", 401, ErrorKind.AUTH),
        ("APIGW.0101", 404, ErrorKind.NOT_FOUND),
    ],
)
def test_gateway_codes_with_either_prefix(code: str, status: int, kind: ErrorKind) -> None:
    """Row 11: gateway codes start with ``APIGW.`` or ``APIG.``; an expired token may be ``APIGW.0307``."""
    assert kind_of(code, status) is kind


def test_a_throttling_code_with_the_apigw_prefix_stays_retryable() -> None:
    """Row 11: ``APIGW.0308`` is throttling, whatever status carries it."""
    throttled = failure(429, {"error_code": "APIGW.0308", "error_msg": "over ratelimit"})
    assert type(throttled.error) is CdmThrottledError
    assert throttled.retryable


@pytest.mark.parametrize("code", ["Cdm.0100", "Cdm.0054", "Cdm.0095", "Cdm.00095", "Cdm.0052", "Cdm.0322"])
def test_cdm_codes_on_http_500_are_definite_refusals(code: str) -> None:
    """Row 8: delete documents HTTP 500 with a Cdm code (``Cdm.0100`` for a missing job): CDM's answer."""
    refused = failure(500, {"errCode": code, "externalMessage": "refused"})
    assert is_definite_refusal(code)
    assert not refused.retryable and not refused.ambiguous
    assert not refused.error.transient


def test_a_system_error_on_http_500_stays_transient() -> None:
    """Row 8, the counterpart: ``Cdm.0000`` and unknown codes on a 500 may come after CDM acted."""
    for code in ("Cdm.0000", "Cdm.9999"):
        lost = failure(500, {"errCode": code, "externalMessage": "System error"})
        assert lost.retryable and lost.ambiguous and lost.error.transient


# --- sparse run answers ---------------------------------------------------------------------------

SPARSE = {
    "job-name": JOB,
    "creation-user": "etl_user",
    "creation-date": 1_700_000_000_000,
    "progress": 0,
    "status": "BOOTING",
}


def test_start_and_status_answers_without_ids() -> None:
    """Row 12: start and BOOTING status answers with no ``submission-id`` and no ``external-id``."""
    started = ops.start_job(CLUSTER, JOB).parse({"submissions": [SPARSE]})
    status = ops.job_status(CLUSTER, JOB).parse({"submissions": [SPARSE]})
    for run in (started, status):
        assert run is not None
        assert (run.submission_id, run.external_id, run.status_text) == (None, None, "BOOTING")
        assert run.creation_date == MOMENT
        assert run.to_json()["submission_id"] is None


def test_create_and_execute_answer_without_external_id() -> None:
    """Row 18: ``PENDING``, ``progress: 0``, ``submission-id`` present, no ``external-id``."""
    run = {"job-name": JOB, "submission-id": 3, "status": "PENDING", "progress": 0, "creation-date": 1_700_000_000_000}
    cluster, runs = ops.create_and_start_job(job_definition(JOB), [CLUSTER]).parse({"submissions": [run]})
    assert cluster == CLUSTER
    assert [(r.submission_id, r.status_text, r.external_id) for r in runs] == [(3, "PENDING", None)]


# --- validation-result ----------------------------------------------------------------------------

SQOOP_REFUSAL = {
    "validation-result": [
        {"fromJobConfig.tableName": [{"status": "ERROR", "message": "Table orders does not exist"}]},
        {},
        {},
    ]
}


@pytest.mark.parametrize(
    "call",
    [
        lambda: ops.create_job(CLUSTER, job_definition(JOB)),
        lambda: ops.update_job(CLUSTER, job_definition(JOB)),
        lambda: ops.create_and_start_job(job_definition(JOB), [CLUSTER]),
    ],
    ids=["create", "update", "create-and-execute"],
)
def test_a_sqoop_style_refusal_is_a_refusal(call: Any) -> None:
    """Row 5: Sqoop 2 writes a refusal as input names mapped to ``{status, message}`` lists, with no
    top-level ``status``: it must be a CdmValidationError naming the input, never "created"."""
    answer = {"name": JOB, **SQOOP_REFUSAL}
    with pytest.raises(AttemptFailure) as raised:
        read_answer(call(), HttpResponse(200, {}, json.dumps(answer).encode()), PATH)
    refused = raised.value.error
    assert type(refused) is CdmValidationError and not raised.value.retryable
    assert refused.validation == ["fromJobConfig.tableName: Table orders does not exist"]
    assert "fromJobConfig.tableName: Table orders does not exist" in str(refused)


def test_validators_that_found_nothing_are_no_warnings() -> None:
    """Row 5: success in the worked example is ``[{}, {}, {}]`` (one object per validator)."""
    answer = {"name": JOB, "validation-result": [{}, {}, {}]}
    assert ops.create_job(CLUSTER, job_definition(JOB)).parse(answer).warnings == ()
    assert ops.update_job(CLUSTER, job_definition(JOB)).parse({"validation-result": [{}, {}, {}]}) == []
    assert ops.stop_job(CLUSTER, JOB).parse({}) == []  # row 15: the stop's 200 example body is {}


def test_sqoop_style_warnings_are_kept_with_their_input() -> None:
    """Row 5: a Sqoop-style WARNING is a warning, named by its input; an OK entry is no warning."""
    answer = {
        "validation-result": [
            {
                "toJobConfig.outputDirectory": [{"status": "WARNING", "message": "directory exists"}],
                "toJobConfig.fileType": [{"status": "OK", "message": ""}],
            },
            {},
        ]
    }
    assert ops.update_job(CLUSTER, job_definition(JOB)).parse(answer) == [
        ValidationMessage("toJobConfig.outputDirectory: directory exists", "WARNING")
    ]


def test_a_sqoop_style_refusal_in_an_error_body_is_kept() -> None:
    """Row 5: the same nested entries inside an error body end up in ``validation``."""
    found = error(400, {"errCode": "Cdm.0037", "externalMessage": "cannot be submitted", **SQOOP_REFUSAL})
    assert found.validation == ["fromJobConfig.tableName: Table orders does not exist"]


# --- run history paging ---------------------------------------------------------------------------


def walk(pages: Sequence[Page[int]], page_size: int) -> tuple[list[int], list[int]]:
    """Every item a walk takes from ``pages`` (page n answers request n; later requests get an empty
    page), and the page numbers it asked for."""
    asked: list[int] = []
    items: list[int] = []
    paged = PageWalkProbe(pages, asked)
    walker = ops.PageWalk(paged.call, page_size)
    while (call := walker.next_call()) is not None:
        items.extend(walker.take(call.parse(None)))
        assert len(asked) < 50, "the walk does not end"
    return items, asked


class PageWalkProbe:
    def __init__(self, pages: Sequence[Page[int]], asked: list[int]) -> None:
        self._pages = pages
        self._asked = asked

    def call(self, page_no: int) -> ops.CdmCall[Page[int]]:
        self._asked.append(page_no)
        page = self._pages[page_no - 1] if page_no <= len(self._pages) else Page((), None)
        return ops.CdmCall(ops.list_submissions(CLUSTER, JOB).endpoint, lambda _: page)


def test_history_paged_by_ten_whatever_page_size_says() -> None:
    """Row 3: CDM may answer 10 runs a page with ``total`` whatever ``page_size`` asked for."""
    pages = [Page(tuple(range(n, n + 10)), 25) for n in (0, 10)] + [Page(tuple(range(20, 25)), 25)]
    items, asked = walk(pages, 100)
    assert items == list(range(25))
    assert asked == [1, 2, 3]


def test_a_total_that_overstates_ends_at_an_empty_page() -> None:
    """Row 3: runs deleted while walking: ``total`` says more remain, the next page is empty."""
    items, asked = walk([Page(tuple(range(10)), 30), Page(tuple(range(10, 15)), 30)], 100)
    assert items == list(range(15))
    assert asked == [1, 2, 3]


def test_a_server_that_ignores_page_no_is_walked_once() -> None:
    """Row 3: CDM may ignore ``page_no``: the same page again ends the walk."""
    first = Page(tuple(range(10)), 25)
    items, asked = walk([first, first, first], 100)
    assert items == list(range(10))
    assert asked == [1, 2]


def test_a_walk_never_passes_what_total_allows() -> None:
    """Row 3: pages that never run dry end once ``page_no`` passes what ``total`` allows."""
    pages = [Page((n,), 3) for n in range(40)]
    items, asked = walk(pages, 10)
    assert items == [0, 1, 2]
    assert asked == [1, 2, 3]


def test_without_total_a_short_page_ends_the_walk() -> None:
    """Row 3, the counterpart: with no ``total`` a page shorter than asked is the last one."""
    items, asked = walk([Page(tuple(range(10)), None), Page(tuple(range(10, 20)), None)], 100)
    assert (items, asked) == (list(range(10)), [1])


def test_the_history_total_is_read_as_cdm_sends_it() -> None:
    """Row 3: the wrapper's ``total`` as a number or a numeric string."""
    for total in (25, "25", 25.0):
        page = ops.list_submissions(CLUSTER, JOB).parse({"submissions": [submission(1)], "total": total})
        assert page.total == 25


# --- dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        1_700_000_000_000,  # row 2: epoch ms as a number
        1_700_000_000_000.0,
        "1700000000000",
        1_700_000_000,  # epoch seconds
        1_700_000_000.0,
        "1700000000",
        "2023-11-14T22:13:20Z",  # ISO
        "2023-11-14T22:13:20+00:00",
        "2023-11-15T06:13:20+08:00",
        "2023-11-14T22:13:20.000Z",
        "2023-11-14 22:13:20",  # "yyyy-MM-dd HH:mm:ss", read as UTC
        "2023-11-14T22:13:20",
    ],
)
def test_dates_as_numbers_or_strings(value: object) -> None:
    """Row 2 (epoch-ms numbers) and cdm-api.md ("some examples send them as strings: coerce")."""
    parsed = epoch_ms_to_datetime(value)
    assert parsed == MOMENT
    assert parsed is not None and parsed.utcoffset() is not None and parsed.tzinfo is timezone.utc


def test_fractional_seconds_are_kept() -> None:
    """Row 2: epoch seconds as a float keep their fraction."""
    assert epoch_ms_to_datetime(1_700_000_000.5) == datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=timezone.utc)


@pytest.mark.parametrize("value", ["yesterday", "2023-13-40 99:99:99", "", "nan", "inf", float("nan"), -1, 0])
def test_unusable_dates_are_none(value: object) -> None:
    """Row 2: a date that cannot be read is None, never an exception (nor 1970)."""
    assert epoch_ms_to_datetime(value) is None


def test_history_runs_with_string_dates() -> None:
    """Row 2: the run-history answer with dates as strings in either form."""
    run = submission(4, "SUCCEEDED", **{"creation-date": "2023-11-14 22:13:20", "last-update-date": "1700000000000"})
    page = ops.list_submissions(CLUSTER, JOB).parse({"submissions": [run], "total": 1})
    assert page.items[0].creation_date == MOMENT
    assert page.items[0].last_update_date == MOMENT


# --- progress -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(42, 42.0), ("42", 42.0), (0.42, 0.42), (-1, -1.0), ("-1", -1.0)])
def test_progress_is_kept_as_reported(value: object, expected: float) -> None:
    """Row 14: integers in examples, a 0-1 fraction under Sqoop 2, -1 when not running: kept as CDM
    reports it, and never what decides an outcome. A succeeded run is complete: 100, whatever CDM says
    (Sqoop 2 says -1 after a success)."""
    running = Submission.from_api(submission(1, "RUNNING", progress=value))
    assert running.progress == expected and running.to_json()["progress"] == expected
    failed = Submission.from_api(submission(1, "FAILED", progress=value))
    assert failed.progress == expected and failed.is_failure
    succeeded = Submission.from_api(submission(1, "SUCCEEDED", progress=value))
    assert succeeded.is_success and succeeded.progress == 100.0


@pytest.mark.parametrize("value", [None, "", "half", True, float("nan"), "inf"])
def test_unusable_progress_is_none(value: object) -> None:
    """Row 14: a progress that is not a finite number is None."""
    assert Submission.from_api(submission(1, "RUNNING", progress=value)).progress is None


# --- read-back fields -----------------------------------------------------------------------------


def test_empty_inputs_read_back_as_an_object() -> None:
    """Row 20: ``"inputs": {}`` for an empty config in a job read back (already handled: pinned)."""
    job = job_definition(JOB)
    job["driver-config-values"] = {"configs": [{"name": "retryJobConfig", "inputs": {}}]}
    definition = Job.from_api(job).definition()
    assert definition["driver-config-values"] == {"configs": [{"name": "retryJobConfig", "inputs": []}]}


@pytest.mark.parametrize(
    "fields",
    [
        {"last-udpate-user": "bob"},
        {"last-update-user": "bob"},
        {"last-udpate-user": None, "last-update-user": "bob"},
        {"last-udpate-user": "bob", "last-update-user": None},
    ],
)
def test_both_spellings_of_the_last_update_user(fields: dict[str, Any]) -> None:
    """Row 21: the wire's ``last-udpate-user`` (sic) and the current reference's ``last-update-user``."""
    run = submission(1)
    del run["last-udpate-user"]
    assert Submission.from_api({**run, **fields}).last_update_user == "bob"
