"""Alibaba Cloud signature V3, ACS3-HMAC-SHA256 (the default of the Tea/OpenAPI SDKs), both directions.

CanonicalRequest = METHOD \\n path \\n canonical query \\n canonical headers \\n signed names \\n
hex sha256(body);
StringToSign = "ACS3-HMAC-SHA256" \\n hex sha256(CanonicalRequest); Signature = hex HMAC-SHA256(secret, it);
`Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<a;b;…>,Signature=<hex>`.

Canonical query: keys sorted, values percent-encoded (RFC 3986, `~` kept), keys left as they are (as the Tea
SDK does; VOD's parameter names never need encoding). Canonical headers: names lower-cased and sorted, values
trimmed, repeated headers joined by `,` in sorted order. The SDK signs every header it sets; the documented
rule is that every common header present (host and the x-acs-* ones) must be signed; verification enforces it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl

from receiver.signing._common import Credential, Failure, Secrets, Verified, keyring, same, skew_s
from receiver.signing.aliyun_rpc import DEFAULT_TOLERANCE_S, format_timestamp, parse_timestamp, percent_encode

ALGORITHM = "ACS3-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: Common headers that, when present, must be signed (documented rule).
MUST_SIGN: tuple[str, ...] = (
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
    "x-acs-security-token",
)

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_query(query: Mapping[str, str | None]) -> str:
    """`k=percentEncode(v)` sorted by key, joined by `&`; parameters whose value is None are left out."""
    present = sorted((k, v) for k, v in query.items() if v is not None)
    return "&".join(f"{k}={percent_encode(v)}" for k, v in present)


def header_values(headers: Headers) -> dict[str, list[str]]:
    """Lower-cased name -> every value it was sent with (trimmed), so repeated headers are kept."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name.lower(), []).append(str(value).strip())
    return values


def canonical_headers(values: Mapping[str, list[str]], names: Iterable[str]) -> tuple[str, str]:
    """The canonical header block and the SignedHeaders list for `names` (lower-case)."""
    ordered = sorted(set(names))
    block = "".join(f"{name}:{','.join(sorted(values.get(name, [])))}\n" for name in ordered)
    return block, ";".join(ordered)


def canonical_request(
    method: str,
    path: str,
    query: Mapping[str, str | None],
    values: Mapping[str, list[str]],
    names: Iterable[str],
    payload_hash: str,
) -> str:
    block, signed = canonical_headers(values, names)
    return f"{method.upper()}\n{path or '/'}\n{canonical_query(query)}\n{block}\n{signed}\n{payload_hash}"


def string_to_sign(canonical: str) -> str:
    return f"{ALGORITHM}\n{sha256_hex(canonical.encode('utf-8'))}"


def compute_signature(secret: str, text: str) -> str:
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization(access_key_id: str, signed_headers: str, signature: str) -> str:
    return f"{ALGORITHM} Credential={access_key_id},SignedHeaders={signed_headers},Signature={signature}"


# ---------------------------------------------------------------------------------------------- signing


@dataclass(frozen=True)
class Acs3Call:
    """One RPC-style call signed with ACS3: API parameters in `query` (or a form `body`), Action and Version
    in headers. `host` is the endpoint as called (with `:port` when there is one)."""

    host: str
    action: str
    version: str
    timestamp: datetime
    nonce: str
    method: str = "POST"
    path: str = "/"
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str | None = None
    accept: str | None = "application/json"
    user_agent: str | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict)


def sign_request(call: Acs3Call, credential: Credential) -> dict[str, str]:
    """The headers to send (lower-case names, as the Tea SDK sends them), every one of them signed."""
    headers: dict[str, str] = {"host": call.host, "x-acs-version": call.version, "x-acs-action": call.action}
    if call.user_agent:
        headers["user-agent"] = call.user_agent
    headers["x-acs-date"] = format_timestamp(call.timestamp)
    headers["x-acs-signature-nonce"] = call.nonce
    if call.accept:
        headers["accept"] = call.accept
    headers.update({k.lower(): v for k, v in call.extra_headers.items()})
    if call.content_type:
        headers["content-type"] = call.content_type
    digest = sha256_hex(call.body)
    headers["x-acs-content-sha256"] = digest
    if credential.token:
        headers["x-acs-accesskey-id"] = credential.secret_id
        headers["x-acs-security-token"] = credential.token
    values = header_values(headers)
    canonical = canonical_request(call.method, call.path, dict(call.query), values, values.keys(), digest)
    signature = compute_signature(credential.secret_key, string_to_sign(canonical))
    headers["Authorization"] = authorization(credential.secret_id, ";".join(sorted(values)), signature)
    return headers


# ----------------------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class Authorization:
    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> Authorization:
    """Parse `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`, or raise ValueError."""
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
    signed = tuple(h.strip().lower() for h in fields["SignedHeaders"].split(";") if h.strip())
    return Authorization(fields["Credential"], signed, fields["Signature"].lower())


def verify_request(
    method: str,
    path: str,
    query: str | Mapping[str, str],
    headers: Headers,
    body: bytes,
    secrets: Secrets,
    now: datetime,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> Verified:
    """Check an inbound ACS3 request. `query` is the raw query string (no `?`) or its decoded mapping;
    `headers` a mapping or (name, value) pairs (pairs keep repeated headers).

    Failures: no Authorization or x-acs-date (MISSING), unparseable ones (MALFORMED), another algorithm
    (UNSUPPORTED), unknown AccessKeyId (UNKNOWN_SECRET_ID), x-acs-date off by more than `tolerance_s`
    (EXPIRED), a common header left unsigned, a body whose hash is not x-acs-content-sha256, or a signature
    mismatch (BAD_SIGNATURE). x-acs-signature-nonce is reported as `nonce`; reuse is the caller's check.
    """
    values = header_values(headers)
    raw_auth = (values.get("authorization") or [""])[0]
    nonce = (values.get("x-acs-signature-nonce") or [""])[0] or None
    if not raw_auth:
        return Verified(Failure.MISSING, "missing Authorization header", nonce=nonce)
    if raw_auth.partition(" ")[0] != ALGORITHM:
        return Verified(
            Failure.UNSUPPORTED, f"algorithm {raw_auth.partition(' ')[0]!r} is not {ALGORITHM}", nonce=nonce
        )
    try:
        auth = parse_authorization(raw_auth)
    except ValueError as exc:
        return Verified(Failure.MALFORMED, str(exc), nonce=nonce)
    keys = keyring(secrets)
    if auth.access_key_id not in keys:
        return Verified(Failure.UNKNOWN_SECRET_ID, f"AccessKeyId {auth.access_key_id!r} is not configured", nonce=nonce)
    raw_date = (values.get("x-acs-date") or [""])[0]
    if not raw_date:
        return Verified(Failure.MISSING, "missing x-acs-date header", secret_id=auth.access_key_id, nonce=nonce)
    try:
        when = parse_timestamp(raw_date)
    except ValueError as exc:
        return Verified(Failure.MALFORMED, f"x-acs-date: {exc}", secret_id=auth.access_key_id, nonce=nonce)
    if skew_s(when, now) > tolerance_s:
        return Verified(
            Failure.EXPIRED,
            f"x-acs-date {raw_date} is {skew_s(when, now):.0f} s from server time (tolerance {tolerance_s:.0f} s)",
            secret_id=auth.access_key_id,
            nonce=nonce,
            timestamp=when,
        )
    unsigned = [name for name in MUST_SIGN if name in values and name not in auth.signed_headers]
    if unsigned:
        return Verified(
            Failure.BAD_SIGNATURE,
            f"header {unsigned[0]} is present but not signed",
            secret_id=auth.access_key_id,
            nonce=nonce,
            timestamp=when,
        )
    absent = [name for name in auth.signed_headers if name not in values]
    if absent:
        return Verified(
            Failure.BAD_SIGNATURE,
            f"signed header {absent[0]} is not in the request",
            secret_id=auth.access_key_id,
            nonce=nonce,
            timestamp=when,
        )
    digest = sha256_hex(body)
    declared = (values.get("x-acs-content-sha256") or [digest])[0].lower()
    if declared != digest:
        return Verified(
            Failure.BAD_SIGNATURE,
            "x-acs-content-sha256 is not the SHA-256 of the body",
            secret_id=auth.access_key_id,
            nonce=nonce,
            timestamp=when,
        )
    params = dict(parse_qsl(query, keep_blank_values=True)) if isinstance(query, str) else dict(query)
    canonical = canonical_request(method, path, dict(params), values, auth.signed_headers, digest)
    text = string_to_sign(canonical)
    if not same(compute_signature(keys[auth.access_key_id], text), auth.signature):
        return Verified(
            Failure.BAD_SIGNATURE,
            "signature does not match",
            secret_id=auth.access_key_id,
            nonce=nonce,
            timestamp=when,
            string_to_sign=text,
        )
    return Verified(None, secret_id=auth.access_key_id, nonce=nonce, timestamp=when, string_to_sign=text)
