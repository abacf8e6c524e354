"""How the emulator's errors travel: one exception type, and the three body styles found on the wire.

CDM answers ``{"code","errCode","message","externalMessage"}``; the API gateway answers
``{"error_code","error_msg","request_id"}``; IAM answers Keystone's ``{"error": {...}}`` (the emulator
adds ``error_code``/``error_msg`` so that a gateway-style reader finds them too). The style follows
the code's prefix, so every layer just raises :class:`ApiError` with an ``api.errors`` code.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from airflow_provider_cdm.api.errors import ErrorCode


class ApiError(Exception):
    """An error answer: a documented code, the values for its message, and the HTTP status to send."""

    def __init__(self, error: ErrorCode, *, http_status: int | None = None, **values: object) -> None:
        self.error = error
        self.values = values
        self.http_status = http_status or error.http_status
        super().__init__(f"{error.code}: {self.message}")

    @property
    def message(self) -> str:
        return self.error.render(**self.values)

    def body(self, request_id: str) -> dict[str, Any]:
        """The JSON body, in the style of the service that owns the code."""
        code, message = self.error.code, self.message
        if code.startswith("APIG."):
            return {"error_code": code, "error_msg": message, "request_id": request_id}
        if code.startswith("IAM."):
            title = HTTPStatus(self.http_status).phrase
            return {
                "error": {"code": self.http_status, "title": title, "message": message},
                "error_code": code,
                "error_msg": message,
            }
        return {"code": code, "errCode": code, "message": message, "externalMessage": message}
