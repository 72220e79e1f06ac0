"""Tencent Cloud API 3.0 signature TC3-HMAC-SHA256 (VOD 3.0 `vod`, MPS `mps`), both directions.

CanonicalRequest = METHOD \\n URI \\n query \\n canonical headers \\n signed header names \\n
hex sha256(payload);
StringToSign = "TC3-HMAC-SHA256" \\n timestamp \\n "<date>/<service>/tc3_request" \\n hex sha256(canonical);
key = HMAC chain "TC3"+SecretKey -> date -> service -> "tc3_request"; Authorization carries Credential,
SignedHeaders and the hex signature.

The Python SDK signs exactly `content-type;host` with the header values as it sends them; the current
documentation (and newer SDKs) may sign more headers, e.g. `x-tc-action` with its value lower-cased. Signing
here mirrors the Python SDK by default; verification rebuilds whatever `SignedHeaders` lists.
The query line is the query string exactly as sent (the SDK urlencodes its parameters in dict order, it does
not sort), and empty for POST; a GET payload is empty; `X-TC-Content-SHA256: UNSIGNED-PAYLOAD` makes the
payload the literal string `UNSIGNED-PAYLOAD`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from receiver.signing._common import Credential, Failure, Secrets, Verified, keyring, same, skew_s

ALGORITHM = "TC3-HMAC-SHA256"
JSON_CONTENT_TYPE = "application/json"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
#: What the Python SDK signs; the minimum the documentation requires.
SDK_SIGNED_HEADERS: tuple[str, ...] = ("content-type", "host")


def utc_date(timestamp: int) -> str:
    """The credential-scope date: the UTC (not local) calendar day of the timestamp."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def credential_scope(date: str, service: str) -> str:
    return f"{date}/{service}/tc3_request"


@dataclass(frozen=True)
class SigningKeys:
    """The derived-key chain; exposed so tests can check each intermediate against the references."""

    k_date: bytes
    k_service: bytes
    k_signing: bytes


def signing_keys(secret_key: str, date: str, service: str) -> SigningKeys:
    k_date = hmac.new(("TC3" + secret_key).encode("utf-8"), date.encode("utf-8"), hashlib.sha256).digest()
    k_service = hmac.new(k_date, service.encode("utf-8"), hashlib.sha256).digest()
    k_signing = hmac.new(k_service, b"tc3_request", hashlib.sha256).digest()
    return SigningKeys(k_date, k_service, k_signing)


def canonical_request(
    method: str,
    path: str,
    query: str,
    headers: Sequence[tuple[str, str]],
    payload_hash: str,
) -> str:
    """`headers` are the signed (name, value) pairs already canonical: names lower-case, values trimmed."""
    ordered = sorted(headers)
    canonical_headers = "".join(f"{name}:{value}\n" for name, value in ordered)
    signed = ";".join(name for name, _ in ordered)
    return f"{method.upper()}\n{path}\n{query}\n{canonical_headers}\n{signed}\n{payload_hash}"


def string_to_sign(timestamp: int | str, scope: str, canonical: str) -> str:
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{sha256_hex(canonical.encode('utf-8'))}"


def compute_signature(secret_key: str, date: str, service: str, text: str) -> str:
    key = signing_keys(secret_key, date, service).k_signing
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization(secret_id: str, scope: str, signed_headers: Sequence[str], signature: str) -> str:
    return (
        f"{ALGORITHM} Credential={secret_id}/{scope}, "
        f"SignedHeaders={';'.join(sorted(signed_headers))}, Signature={signature}"
    )


def payload_hash(method: str, body: bytes, *, unsigned: bool = False) -> str:
    if unsigned:
        return sha256_hex(UNSIGNED_PAYLOAD.encode("ascii"))
    return sha256_hex(b"" if method.upper() == "GET" else body)


# ---------------------------------------------------------------------------------------------- signing


def flatten_params(params: Mapping[str, Any] | Sequence[Any], prefix: str = "") -> dict[str, str]:
    """Nested parameters as a GET query names them (`A.0.B=…`), values as `str()` gives them."""
    flat: dict[str, str] = {}
    items: list[tuple[str, Any]]
    if isinstance(params, Mapping):
        items = [(str(k), v) for k, v in params.items()]
    else:
        items = [(str(i), v) for i, v in enumerate(params)]
    for key, value in items:
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping | list | tuple):
            flat.update(flatten_params(value, name))
        elif value is not None:
            flat[name] = str(value)
    return flat


def json_body(params: Mapping[str, Any]) -> bytes:
    """A POST body with the SDK's exact bytes (`json.dumps` defaults: `", "` and `": "` separators)."""
    return json.dumps(params).encode("utf-8")


def form_query(params: Mapping[str, Any]) -> str:
    """A GET query the way the SDK builds it: flattened, urlencoded in insertion order."""
    return urlencode(flatten_params(params))


@dataclass(frozen=True)
class Tc3Call:
    """One API 3.0 call to sign. `host` is the endpoint exactly as called (`127.0.0.1:8000` with a port).

    `payload` is the POST body bytes; `query` the GET query string as it will be sent. `extra_signed` names
    headers to sign beyond content-type and host (e.g. `("x-tc-action",)`, signed lower-cased, as the
    current documentation does); the Python SDK signs none.
    """

    service: str
    host: str
    action: str
    version: str
    timestamp: int
    method: str = "POST"
    payload: bytes = b""
    query: str = ""
    path: str = "/"
    region: str | None = None
    content_type: str | None = None
    language: str | None = None
    request_client: str | None = None
    unsigned_payload: bool = False
    extra_signed: tuple[str, ...] = field(default_factory=tuple)

    @property
    def effective_content_type(self) -> str:
        if self.content_type:
            return self.content_type
        return FORM_CONTENT_TYPE if self.method.upper() == "GET" else JSON_CONTENT_TYPE


def sign_request(call: Tc3Call, credential: Credential) -> dict[str, str]:
    """The headers to send (Authorization, Content-Type, Host, X-TC-Action/-Timestamp/-Version, and
    X-TC-Region/-Token/-Language/-RequestClient/-Content-SHA256 when they apply)."""
    headers: dict[str, str] = {
        "Content-Type": call.effective_content_type,
        "Host": call.host,
        "X-TC-Action": call.action[:1].upper() + call.action[1:],
    }
    if call.request_client:
        headers["X-TC-RequestClient"] = call.request_client
    headers["X-TC-Timestamp"] = str(call.timestamp)
    headers["X-TC-Version"] = call.version
    if call.unsigned_payload:
        headers["X-TC-Content-SHA256"] = UNSIGNED_PAYLOAD
    if call.region:
        headers["X-TC-Region"] = call.region
    if credential.token:
        headers["X-TC-Token"] = credential.token
    if call.language:
        headers["X-TC-Language"] = call.language

    by_name = {name.lower(): value for name, value in headers.items()}
    signed: list[tuple[str, str]] = [(name, by_name[name]) for name in SDK_SIGNED_HEADERS]
    for name in call.extra_signed:
        lowered = name.lower()
        if lowered in SDK_SIGNED_HEADERS:
            continue
        if lowered not in by_name:
            raise ValueError(f"cannot sign header {name!r}: the request does not send it")
        signed.append((lowered, by_name[lowered].strip().lower()))

    date = utc_date(call.timestamp)
    scope = credential_scope(date, call.service)
    query = call.query if call.method.upper() == "GET" else ""
    digest = payload_hash(call.method, call.payload, unsigned=call.unsigned_payload)
    canonical = canonical_request(call.method, call.path, query, signed, digest)
    text = string_to_sign(call.timestamp, scope, canonical)
    signature = compute_signature(credential.secret_key, date, call.service, text)
    headers["Authorization"] = authorization(credential.secret_id, scope, [n for n, _ in signed], signature)
    return headers


# ----------------------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class Authorization:
    """A parsed `Authorization: TC3-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header."""

    secret_id: str
    date: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


_SCOPE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_authorization(value: str) -> Authorization:
    """Parse the header, or raise ValueError saying what is wrong with it."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise ValueError(f"algorithm {algorithm!r} is not {ALGORITHM}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, item = part.strip().partition("=")
        if sep:
            fields[name.strip()] = item.strip()
    for name in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(name):
            raise ValueError(f"Authorization has no {name}")
    scope = fields["Credential"].split("/")
    if len(scope) != 4 or scope[3] != "tc3_request" or not all(scope[:3]):
        raise ValueError(f"Credential {fields['Credential']!r} is not <SecretId>/<date>/<service>/tc3_request")
    if not _SCOPE_DATE.fullmatch(scope[1]):
        raise ValueError(f"credential date {scope[1]!r} is not YYYY-MM-DD")
    signed = tuple(h.strip().lower() for h in fields["SignedHeaders"].split(";") if h.strip())
    return Authorization(scope[0], scope[1], scope[2], signed, fields["Signature"].lower())


def _header_candidates(value: str) -> list[str]:
    """The values a signer may have used for a header: lower-cased (the documented rule, and newer SDKs for
    x-tc-action) or as sent (the Python SDK, for content-type and host)."""
    trimmed = value.strip()
    lowered = trimmed.lower()
    return [lowered] if lowered == trimmed else [lowered, trimmed]


def verify_request(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Secrets,
    now: datetime,
    tolerance_s: float = 300.0,
    *,
    service: str | None = None,
) -> Verified:
    """Check an inbound API 3.0 request. `query` is the raw query string as received (no `?`); `headers`
    may use any case. `service`, when given, is the service this endpoint answers for (`vod`, `mps`).

    Failures: no/unparseable Authorization or X-TC-Timestamp (MISSING / MALFORMED), unknown SecretId
    (UNKNOWN_SECRET_ID), timestamp off by more than `tolerance_s` (EXPIRED), credential date that is not
    the timestamp's UTC date, a foreign service, unsigned host/content-type or a signature mismatch
    (BAD_SIGNATURE).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    raw_auth = lower.get("authorization")
    if not raw_auth:
        return Verified(Failure.MISSING, "missing Authorization header")
    try:
        auth = parse_authorization(raw_auth)
    except ValueError as exc:
        return Verified(Failure.MALFORMED, str(exc))
    raw_ts = lower.get("x-tc-timestamp")
    if not raw_ts:
        return Verified(Failure.MISSING, "missing X-TC-Timestamp header", secret_id=auth.secret_id)
    keys = keyring(secrets)
    if auth.secret_id not in keys:
        return Verified(Failure.UNKNOWN_SECRET_ID, f"SecretId {auth.secret_id!r} is not configured")
    try:
        timestamp = int(raw_ts)
        when = datetime.fromtimestamp(timestamp, UTC)
    except (ValueError, OverflowError, OSError):
        return Verified(Failure.MALFORMED, f"X-TC-Timestamp {raw_ts!r} is not unix seconds", secret_id=auth.secret_id)
    if skew_s(when, now) > tolerance_s:
        return Verified(
            Failure.EXPIRED,
            f"X-TC-Timestamp {raw_ts} is {skew_s(when, now):.0f} s from server time (tolerance {tolerance_s:.0f} s)",
            secret_id=auth.secret_id,
            timestamp=when,
        )
    if auth.date != utc_date(timestamp):
        return Verified(
            Failure.BAD_SIGNATURE,
            f"credential date {auth.date} is not the UTC date of X-TC-Timestamp {raw_ts}",
            secret_id=auth.secret_id,
            timestamp=when,
        )
    if service is not None and auth.service != service:
        return Verified(
            Failure.BAD_SIGNATURE,
            f"credential service {auth.service!r} is not {service!r}",
            secret_id=auth.secret_id,
            timestamp=when,
        )
    for required in SDK_SIGNED_HEADERS:
        if required not in auth.signed_headers:
            return Verified(
                Failure.BAD_SIGNATURE,
                f"SignedHeaders does not include {required}",
                secret_id=auth.secret_id,
                timestamp=when,
            )
    absent = [name for name in auth.signed_headers if name not in lower]
    if absent:
        return Verified(
            Failure.BAD_SIGNATURE,
            f"signed header {absent[0]} is not in the request",
            secret_id=auth.secret_id,
            timestamp=when,
        )

    unsigned = lower.get("x-tc-content-sha256", "").strip() == UNSIGNED_PAYLOAD
    digest = payload_hash(method, body, unsigned=unsigned)
    canonical_query = query if method.upper() == "GET" else ""
    scope = credential_scope(auth.date, auth.service)
    key = signing_keys(keys[auth.secret_id], auth.date, auth.service).k_signing
    # Try the documented canonical form first, then the values exactly as sent (they differ only when a
    # signed header value has upper-case letters).
    variants = [
        [(name, value) for name, value in zip(auth.signed_headers, combo, strict=True)]
        for combo in _value_combinations([_header_candidates(lower[n]) for n in auth.signed_headers])
    ]
    text = ""
    for signed in variants:
        canonical = canonical_request(method, path, canonical_query, signed, digest)
        text = string_to_sign(raw_ts, scope, canonical)
        expected = hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()
        if same(expected, auth.signature):
            return Verified(None, secret_id=auth.secret_id, timestamp=when, string_to_sign=text)
    return Verified(
        Failure.BAD_SIGNATURE,
        "signature does not match",
        string_to_sign=text,
        secret_id=auth.secret_id,
        timestamp=when,
    )


def _value_combinations(candidates: list[list[str]]) -> list[list[str]]:
    """All-lower-cased first, then all-as-sent: two variants at most, never a combinatorial search."""
    first = [c[0] for c in candidates]
    last = [c[-1] for c in candidates]
    return [first] if first == last else [first, last]
