"""Helpers every provider API surface uses: exact-bytes JSON responses, parameter parsing, wall time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from receiver.emulator.bodies.common import compact


def json_response(
    document: Any,
    *,
    status: int = 200,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Compact JSON with exactly the Content-Type given (the Tencent SDK only detects an error when it
    is exactly `application/json`; Alibaba answers `application/json;charset=utf-8`)."""
    response = Response(compact(document), status_code=status, headers=dict(headers or {}))
    response.headers["content-type"] = content_type
    return response


def wall_now() -> datetime:
    """Signature timestamps are checked against the wall clock: clients sign with their own clocks, and
    moving the emulator clock (for retention tests) must not make every SDK call stale."""
    return datetime.now(UTC)


def parse_pairs(raw: str) -> dict[str, str]:
    """URL-encoded pairs with blanks kept (Alibaba signs `SignatureType=`); a repeated key keeps the last."""
    return dict(parse_qsl(raw, keep_blank_values=True))


async def form_params(request: Request) -> dict[str, str]:
    """Query for GET; form body for POST (legacy Tencent ignores the query string on POST)."""
    if request.method == "GET":
        return parse_pairs(request.url.query)
    body = (await request.body()).decode("utf-8", errors="replace")
    return parse_pairs(body)


def host_of(request: Request) -> str:
    return request.headers.get("host", "")
