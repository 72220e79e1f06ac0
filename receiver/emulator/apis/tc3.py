"""The API 3.0 front shared by VOD 3.0 and MPS: both answer `POST /` (or GET) signed with TC3-HMAC-SHA256.

Routing: `X-TC-Version` 2018-07-17 is VOD, 2019-06-12 is MPS; without it, the credential scope's service
(`vod`/`mps`) or the Host (`vod.tencentcloudapi.com` / `mps.tencentcloudapi.com`) decides.
Every answer is HTTP 200 `{"Response": {..., "RequestId"}}` with Content-Type exactly `application/json`:
the official SDK only recognises an error under that exact type (an error sent with `; charset=utf-8`
comes back from the SDK as an empty model). Injected 5xx faults are real HTTP 5xx (the SDK raises
ServerNetworkError for any status other than 200).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from receiver.emulator.apis.common import json_response, parse_pairs, wall_now
from receiver.emulator.config import Dialect
from receiver.emulator.engine import Emulator
from receiver.emulator.simulation import SimTask
from receiver.signing import Failure
from receiver.signing.tc3 import parse_authorization, verify_request

VERSIONS = {"2018-07-17": Dialect.TENCENT_VOD_V3, "2019-06-12": Dialect.TENCENT_MPS}
SERVICES = {"vod": Dialect.TENCENT_VOD_V3, "mps": Dialect.TENCENT_MPS}
TOLERANCE_S = 300.0  # AuthFailure.SignatureExpire beyond 5 minutes


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Call:
    """One verified API 3.0 call."""

    action: str
    params: dict[str, Any]
    caller: str
    dialect: Dialect
    request: Request


Handler = Callable[[Call, Emulator], Awaitable[tuple[dict[str, Any], SimTask | None]]]


def is_tc3(request: Request) -> bool:
    auth = request.headers.get("authorization", "")
    return "x-tc-action" in request.headers or auth.startswith("TC3-")


def dialect_of(request: Request) -> Dialect | None:
    version = request.headers.get("x-tc-version", "")
    if version in VERSIONS:
        return VERSIONS[version]
    try:
        service = parse_authorization(request.headers.get("authorization", "")).service
    except ValueError:
        service = ""
    if service in SERVICES:
        return SERVICES[service]
    host = request.headers.get("host", "").split(".", 1)[0]
    return SERVICES.get(host)


def envelope(payload: dict[str, Any], request_id: str) -> Response:
    return json_response({"Response": {**payload, "RequestId": request_id}})


def error(code: str, message: str, request_id: str) -> Response:
    return json_response({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}})


async def handle(request: Request, emu: Emulator, handlers: dict[Dialect, dict[str, Handler]]) -> Response:
    emu.tick()
    dialect = dialect_of(request)
    action = request.headers.get("x-tc-action", "")
    body = await request.body()
    request_id = emu.request_id(dialect or Dialect.TENCENT_VOD_V3)
    if dialect is None:
        return error(
            "NoSuchVersion", f"X-TC-Version {request.headers.get('x-tc-version')!r} is not supported", request_id
        )
    caller = None
    try:
        caller = _authenticate(request, body, dialect, emu)
        actions = handlers[dialect]
        if action not in actions:
            raise ApiError("InvalidAction", f"The action {action!r} does not exist (emulated: {sorted(actions)})")
        params = _params(request, body)
        call = Call(action, params, caller, dialect, request)
        plan = emu.query_plan(dialect, action, _named_task(params, emu))
        if plan.slow_answer_s:
            await asyncio.sleep(plan.slow_answer_s)
        if plan.error_5xx:
            emu.record_query(dialect, action, "fault:5xx", http_status=503, caller=caller)
            return Response(
                b"<html><body><h1>503 Service Unavailable</h1></body></html>", status_code=503, media_type="text/html"
            )
        if plan.rate_limit or (
            emu.config.enforce_rate_limits and not emu.rates.allow(dialect, action, caller, emu.clock.now())
        ):
            raise ApiError(
                "RequestLimitExceeded",
                "Your current request times equals to `100` in a second, "
                "which exceeds the frequency limit `100` for a second.",
            )
        payload, task = await actions[action](call, emu)
    except ApiError as exc:
        emu.record_query(dialect, action or "?", f"error:{exc.code}", caller=caller)
        return error(exc.code, exc.message, request_id)
    emu.record_query(dialect, action, "ok", task_id=task.id if task else None, caller=caller)
    return envelope(payload, request_id)


def _authenticate(request: Request, body: bytes, dialect: Dialect, emu: Emulator) -> str:
    verdict = verify_request(
        request.method,
        request.url.path or "/",
        request.url.query,
        dict(request.headers),
        body,
        emu.config.keyring(),
        wall_now(),
        emu.config.signature_tolerance_s or TOLERANCE_S,
        service="vod" if dialect is Dialect.TENCENT_VOD_V3 else "mps",
    )
    if verdict.failure is None:
        return verdict.secret_id or ""
    detail = verdict.detail
    if verdict.failure is Failure.EXPIRED:
        raise ApiError("AuthFailure.SignatureExpire", f"Signature expired, {detail}.")
    if verdict.failure is Failure.UNKNOWN_SECRET_ID:
        raise ApiError(
            "AuthFailure.SecretIdNotFound", "The SecretId is not found, please ensure that your SecretId is correct."
        )
    if verdict.failure in (Failure.MISSING, Failure.MALFORMED, Failure.UNSUPPORTED):
        raise ApiError("AuthFailure.InvalidAuthorization", f"Authorization is invalid: {detail}.")
    raise ApiError(
        "AuthFailure.SignatureFailure",
        "The provided credentials could not be validated. Please check your signature is correct.",
    )


def _params(request: Request, body: bytes) -> dict[str, Any]:
    if request.method == "GET":
        return unflatten(parse_pairs(request.url.query))
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return unflatten(parse_pairs(body.decode("utf-8", errors="replace")))
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise ApiError("InvalidParameter", f"request body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ApiError("InvalidParameter", "request body must be a JSON object")
    return dict(document)


def unflatten(flat: dict[str, str]) -> dict[str, Any]:
    """`A.0.B=x` (the SDK's GET form) back into nested objects and lists."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
    # Lists arrived as objects keyed "0", "1", ...; turn them back into lists.
    nested: dict[str, Any] = {k: _lists(v) for k, v in root.items()}
    return nested


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {k: _lists(v) for k, v in node.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return node


def _named_task(params: dict[str, Any], emu: Emulator) -> SimTask | None:
    task_id = params.get("TaskId")
    return emu.sim.get(task_id) if isinstance(task_id, str) else None


def require_str(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise ApiError("MissingParameter", f"The request is missing a required parameter `{name}`.")
    if not isinstance(value, str):
        raise ApiError("InvalidParameter", f"The value type of parameter `{name}` is not valid: {value!r}.")
    return value


def iso_param(params: dict[str, Any], name: str, shown: str | None = None) -> datetime | None:
    """An optional ISO 8601 time parameter (`2026-01-01T00:00:00Z`), as aware UTC."""
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError("InvalidParameterValue", f"{shown or name}={value!r} is not an ISO 8601 time.") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def optional_int(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ApiError("InvalidParameterValue", f"{name}={value!r} is not an integer") from exc
    if not low <= number <= high:
        raise ApiError("InvalidParameterValue", f"{name}={number} is out of range [{low}, {high}]")
    return number
