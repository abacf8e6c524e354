"""Regenerate tests/unit/api/signer_vectors.json with Huawei's own signer (an independent implementation).

Not part of the suite: it needs ``pip install --no-deps huaweicloudsdkcore six simplejson defusedxml
requests-toolbelt`` into some path on PYTHONPATH. The vectors it writes are then checked against our
signer by tests/unit/api/test_signer.py, so the two implementations are compared on cases the
published vector does not cover (query strings, escaped job names, non-default ports, bodies,
temporary-credential headers).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

AK, SK = "HPUAEXAMPLEAK0000001", "sEcReTeXaMpLeSk0000000000000000000000001"
DATE = "20261122T020304Z"
PROJECT = "0123456789abcdef0123456789abcdef"
CASES = [
    (
        "GET",
        f"https://cdm.cn-north-4.myhuaweicloud.com/v1.1/{PROJECT}/clusters/c-1/cdm/job/orders%20daily/status",
        {},
        b"",
    ),
    ("GET", f"http://127.0.0.1:8443/v1.1/{PROJECT}/clusters/c-1/cdm/job/%E8%AE%A2%E5%8D%95~x%25y/status", {}, b""),
    (
        "GET",
        f"https://cdm.example.test:4443/v1.1/{PROJECT}/clusters/c-1/cdm/job/all?page_size=100&filter=ord%20ers&page_no=2&jobType=NORMAL_JOB",
        {},
        b"",
    ),
    (
        "PUT",
        f"https://cdm.cn-north-4.myhuaweicloud.com/v1.1/{PROJECT}/clusters/c-1/cdm/job/orders/start",
        {"X-Security-Token": "temporary-security-token-value"},
        json.dumps({"variables": {"date": "2026-11-22", "table": "orders"}}).encode(),
    ),
    (
        "POST",
        f"https://cdm.cn-north-4.myhuaweicloud.com/v1.1/{PROJECT}/clusters/job",
        {"X-Language": "en-us"},
        json.dumps({"jobs": [{"name": "j"}], "clusters": ["c-1", "c-2"]}).encode(),
    ),
    ("DELETE", f"https://cdm.cn-north-4.myhuaweicloud.com/v1.1/{PROJECT}/clusters/c-1/cdm/job/orders", {}, b""),
]


def main() -> None:
    vectors = []
    for method, url, extra, body in CASES:
        parts = urlsplit(url)
        host = parts.netloc
        headers = {
            "Content-Type": "application/json",
            "X-Project-Id": PROJECT,
            "X-Sdk-Date": DATE,
            "Host": host,
            **extra,
        }
        request = SdkRequest(
            method=method,
            schema=parts.scheme,
            host=host,
            resource_path=parts.path,
            query_params=parse_qsl(parts.query, keep_blank_values=True),
            header_params=dict(headers),
            body=body or "",
        )
        Signer(BasicCredentials(AK, SK)).sign(request)
        vectors.append(
            {
                "method": method,
                "url": url,
                "headers": headers,
                "body": body.decode(),
                "authorization": request.header_params["Authorization"],
            }
        )
    out = Path(__file__).resolve().parents[1] / "unit" / "api" / "signer_vectors.json"
    out.write_text(
        json.dumps({"ak": AK, "sk": SK, "generator": "huaweicloudsdkcore 3.1.219", "vectors": vectors}, indent=2) + "\n"
    )
    print(f"wrote {len(vectors)} vectors to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
