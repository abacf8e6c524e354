"""Constants and builders shared by the client and hook tests (no fixtures: those live in conftest)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_cdm.api import signer

BASE = "http://127.0.0.1:18080"
IAM = "http://127.0.0.1:18081"
PROJECT = "0123456789abcdef0123456789abcdef"
CLUSTER = "6ec9a0a4-76be-4262-8697-e7af1fac7920"
AK = "AKTEST0000ACCESSKEY1"
SK = "sk-test-secret-9f8e7d6c5b4a"
TOKEN = "static-token-7a6b5c4d3e2f1a0b"
SECURITY_TOKEN = "security-token-1a2b3c4d5e6f"
IAM_USER = "etl_user"
IAM_PASSWORD = "iam-password-0a9b8c7d"
IAM_DOMAIN = "etl_account"
SECRETS = (SK, TOKEN, SECURITY_TOKEN, IAM_PASSWORD)
JOB = "orders to obs ✓ 订单"  # spaces and non-ASCII: must be percent-encoded in paths


def cdm_url(path: str, cluster: str | None = CLUSTER) -> str:
    """The full URL of a project-scoped path (relative to the cluster unless ``cluster`` is None)."""
    prefix = f"{BASE}/v1.1/{PROJECT}"
    return prefix + (f"/clusters/{cluster}" if cluster else "") + path


def job_url(name: str = JOB, suffix: str = "", cluster: str = CLUSTER) -> str:
    return cdm_url(f"/cdm/job/{quote(name, safe='')}{suffix}", cluster)


def verify_signature(request: Any, secret_key: str = SK) -> str:
    """Check a recorded request's AK/SK signature as the API gateway would; returns the AK."""
    parts = urlsplit(request.url)
    return signer.verify(
        request.method,
        parts.path,
        parts.query,
        dict(request.headers),
        request.body or b"",
        lambda access_key: secret_key if access_key == AK else None,
    )


def submission(
    submission_id: int | None = 1, status: str = "RUNNING", name: str = JOB, /, **fields: Any
) -> dict[str, Any]:
    """A submission as CDM sends it."""
    return {
        "job-name": name,
        "submission-id": submission_id,
        "status": status,
        "progress": 10.0,
        "creation-user": "etl_user",
        "creation-date": 1_700_000_000_000,
        "execute-date": 1_700_000_001_000,
        "last-update-date": 1_700_000_002_000,
        "last-udpate-user": "etl_user",
        "isDeleteJob": False,  # a full answer says whether CDM deletes the job after the run
        **fields,
    }


def read_back(job: dict[str, Any], **server_fields: Any) -> dict[str, Any]:
    """``job`` as show job returns it: config values percent-encoded, plus fields the server adds."""

    def encode(values: dict[str, Any]) -> dict[str, Any]:
        return {
            "configs": [
                {
                    **config,
                    "inputs": [{**item, "value": quote(item["value"], safe="")} for item in config["inputs"]],
                }
                for config in values["configs"]
            ]
        }

    out = {key: encode(value) if key.endswith("-config-values") else value for key, value in job.items()}
    return {**out, "status": "NEW", "creation-date": 1_700_000_000_000, "id": 42, **server_fields}


def shown_job(name: str = JOB, *driver_inputs: tuple[str, str]) -> dict[str, Any]:
    """Show job's answer for a job whose driver config holds ``driver_inputs`` (name, value)."""
    inputs = [{"name": input_name, "value": value} for input_name, value in driver_inputs]
    driver = {"configs": [{"name": "x", "inputs": inputs}]}
    job = {"name": name, "job_type": "NORMAL_JOB", "driver-config-values": driver}
    return {"total": 1, "jobs": [job], "page_no": 1, "page_size": 10}


def last(mocker: Any) -> Any:
    """The last request a requests-mock Mocker saw (there must be one)."""
    request = mocker.last_request
    assert request is not None
    return request
