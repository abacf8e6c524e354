"""Fixtures of the operator unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests_mock

from tests.unit.operators.helpers import use_mocked_cdm


@pytest.fixture
def cdm(monkeypatch: pytest.MonkeyPatch) -> Iterator[requests_mock.Mocker]:
    """A mocked CDM behind ``cdm_default``: answers only what a test registers, and records every request."""
    use_mocked_cdm(monkeypatch)
    with requests_mock.Mocker() as mocker:
        yield mocker
