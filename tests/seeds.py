"""The API reference's example requests: bodies in ``tests/data/seeds/`` (copied from ``../shared/seeds/``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

SEEDS = Path(__file__).resolve().parent / "data" / "seeds"
SHARED_SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"  # the pages, where present (../shared)

PROJECT_ID = "1551c7f6c808414d8e9f3c514a170f2e"  # the project and clusters the examples' paths name
CLUSTER_ID = "6ec9a0a4-76be-4262-8697-e7af1fac7920"


class Example(NamedTuple):
    """One example request: its body's copy, the page it came from, the heading it follows, its request line."""

    file: str
    page: str
    heading: str
    method: str
    path: str


IN_CLUSTER = Example(
    "create-job-in-cluster.json",
    "create-job-in-cluster.en.txt",
    "Example Requests",
    "POST",
    f"/v1.1/{PROJECT_ID}/clusters/{CLUSTER_ID}/cdm/job",
)
RANDOM_CLUSTER = Example(
    "create-and-execute-in-random-cluster.json",
    "create-and-execute-in-random-cluster.en.txt",
    "Example Requests",
    "POST",
    f"/v1.1/{PROJECT_ID}/clusters/job",
)
START = Example(
    "start-job.json",
    "start-job.zh.txt",
    "请求示例",
    "PUT",
    f"/v1.1/{PROJECT_ID}/clusters/{CLUSTER_ID}/cdm/job/jdbc2hive/start",
)
EXAMPLES = (IN_CLUSTER, RANDOM_CLUSTER, START)
JOB_EXAMPLES = (IN_CLUSTER, RANDOM_CLUSTER)


def seed_text(example: Example) -> str:
    """The example body exactly as the reference writes it."""
    return (SEEDS / example.file).read_text(encoding="utf-8")


def seed_body(example: Example) -> dict[str, Any]:
    """The example body, decoded (a fresh copy each call)."""
    body: dict[str, Any] = json.loads(seed_text(example))
    return body


def seed_job(example: Example) -> dict[str, Any]:
    """The one Job object of a create example's ``{"jobs": [Job]}`` body."""
    job: dict[str, Any] = seed_body(example)["jobs"][0]
    return job


def page_example(example: Example) -> tuple[str, str, Any]:
    """From the reference page itself: the example's method, path and body (the first JSON value after
    the heading)."""
    text = (SHARED_SEEDS / example.page).read_text(encoding="utf-8")
    after = text.index(example.heading)
    request = re.compile(r"^(POST|PUT|GET|DELETE) (/\S+)$", re.MULTILINE).search(text, after)
    assert request is not None, f"{example.page}: no request line after {example.heading!r}"
    body, _ = json.JSONDecoder().raw_decode(text, text.index("{", after))
    return request[1], request[2], body
