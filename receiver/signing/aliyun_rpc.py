"""Alibaba Cloud POP RPC signature v1 (HMAC-SHA1, `SignatureVersion=1.0`), both directions.

StringToSign = METHOD & "%2F" & percentEncode(k1=v1&k2=v2…) over every parameter (query and form body, empty
values included) but `Signature`, sorted by key, each key and value percent-encoded the Alibaba way (RFC 3986:
only `A-Za-z0-9-_.~` kept, space `%20`, `*` `%2A`). Signature = base64(HMAC-SHA1(secret + "&", it)).
Host and path are not signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

from receiver.signing._common import Credential, Failure, Secrets, Verified, keyring, same, skew_s

SIGNATURE_METHOD = "HMAC-SHA1"
SIGNATURE_VERSION = "1.0"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: The gateway refuses timestamps further than this from its clock (InvalidTimeStamp.Expired).
DEFAULT_TOLERANCE_S = 900.0

ParamValue = str | int


def percent_encode(value: str) -> str:
    """UTF-8, RFC 3986: keep unreserved `A-Za-z0-9-_.~`, everything else `%XX` upper-case hex."""
    return quote(value, safe="~", encoding="utf-8")


def canonicalized_query(params: Mapping[str, ParamValue]) -> str:
    pairs = sorted((k, str(v)) for k, v in params.items() if k != "Signature")
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in pairs)


def string_to_sign(http_method: str, params: Mapping[str, ParamValue]) -> str:
    return f"{http_method.upper()}&%2F&{percent_encode(canonicalized_query(params))}"


def compute_signature(text: str, secret: str) -> str:
    digest = hmac.new((secret + "&").encode("utf-8"), text.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def format_timestamp(when: datetime) -> str:
    """ISO 8601 UTC with a `Z`, second precision, as the SDKs send it."""
    return when.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d{1,9})?Z")


def parse_timestamp(value: str) -> datetime:
    """Parse `yyyy-MM-ddTHH:mm:ss[.fff]Z`; anything else (no `Z`, an offset, a date alone) is ValueError."""
    match = _TIMESTAMP.fullmatch(value)
    if not match:
        raise ValueError(f"Timestamp {value!r} is not yyyy-MM-ddTHH:mm:ssZ (UTC)")
    return datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def sign_params(
    params: Mapping[str, ParamValue],
    credential: Credential,
    *,
    timestamp: datetime,
    nonce: str,
    http_method: str = "POST",
    format: str | None = "JSON",
    signature_type: str | None = None,
    body_params: Mapping[str, ParamValue] | None = None,
) -> dict[str, str]:
    """The query parameters to send: `params` plus Timestamp, SignatureMethod, SignatureVersion,
    SignatureNonce, AccessKeyId, Format (and SecurityToken for temporary credentials), with `Signature` last.

    `body_params` are form-body parameters sent beside the query: signed, but not returned.
    `signature_type=""` reproduces the old core SDK, which signs an empty `SignatureType`.
    """
    signed: dict[str, str] = {k: str(v) for k, v in params.items() if k != "Signature"}
    signed["Timestamp"] = format_timestamp(timestamp)
    signed["SignatureMethod"] = SIGNATURE_METHOD
    if signature_type is not None:
        signed["SignatureType"] = signature_type
    signed["SignatureVersion"] = SIGNATURE_VERSION
    signed["SignatureNonce"] = nonce
    signed["AccessKeyId"] = credential.secret_id
    if credential.token:
        signed["SecurityToken"] = credential.token
    if format is not None:
        signed["Format"] = format
    everything: dict[str, ParamValue] = {**signed, **(body_params or {})}
    signed["Signature"] = compute_signature(string_to_sign(http_method, everything), credential.secret_key)
    return signed


_REQUIRED = ("Signature", "AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp")


def verify_params(
    http_method: str,
    params: Mapping[str, str],
    secrets: Secrets,
    now: datetime,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> Verified:
    """Check an RPC v1 request; `params` are the query and form-body parameters together, blanks kept.

    Failures: a required parameter absent (MISSING), SignatureMethod not HMAC-SHA1 or SignatureVersion
    not 1.0 (UNSUPPORTED), unknown AccessKeyId (UNKNOWN_SECRET_ID), Timestamp not ISO 8601 `Z` (MALFORMED)
    or off by more than `tolerance_s` (EXPIRED), then the signature (BAD_SIGNATURE, with the string we
    signed, which Alibaba's SignatureDoesNotMatch message quotes). SignatureNonce reuse is the caller's check.
    """
    missing = [name for name in _REQUIRED if not params.get(name)]
    access_key_id = params.get("AccessKeyId") or None
    nonce = params.get("SignatureNonce") or None
    if missing:
        return Verified(Failure.MISSING, f"missing parameter {missing[0]}", secret_id=access_key_id, nonce=nonce)
    if params["SignatureMethod"].upper() != SIGNATURE_METHOD:
        return Verified(
            Failure.UNSUPPORTED,
            f"SignatureMethod {params['SignatureMethod']!r} is not HMAC-SHA1",
            secret_id=access_key_id,
            nonce=nonce,
        )
    if params["SignatureVersion"] != SIGNATURE_VERSION:
        return Verified(
            Failure.UNSUPPORTED,
            f"SignatureVersion {params['SignatureVersion']!r} is not 1.0",
            secret_id=access_key_id,
            nonce=nonce,
        )
    keys = keyring(secrets)
    if params["AccessKeyId"] not in keys:
        return Verified(
            Failure.UNKNOWN_SECRET_ID, f"AccessKeyId {params['AccessKeyId']!r} is not configured", nonce=nonce
        )
    try:
        when = parse_timestamp(params["Timestamp"])
    except ValueError as exc:
        return Verified(Failure.MALFORMED, str(exc), secret_id=access_key_id, nonce=nonce)
    if skew_s(when, now) > tolerance_s:
        return Verified(
            Failure.EXPIRED,
            f"Timestamp {params['Timestamp']} is {skew_s(when, now):.0f} s from server time "
            f"(tolerance {tolerance_s:.0f} s)",
            secret_id=access_key_id,
            nonce=nonce,
            timestamp=when,
        )
    text = string_to_sign(http_method, params)
    expected = compute_signature(text, keys[params["AccessKeyId"]])
    if not same(expected, params["Signature"]):
        return Verified(
            Failure.BAD_SIGNATURE,
            "signature does not match",
            secret_id=access_key_id,
            nonce=nonce,
            timestamp=when,
            string_to_sign=text,
        )
    return Verified(None, secret_id=access_key_id, nonce=nonce, timestamp=when, string_to_sign=text)
