"""Tencent Cloud API 2.0 request signing (legacy VOD `vod.api.qcloud.com/v2/index.php`), both directions.

String to sign: `<METHOD><host><path>?<k>=<v>&…` over every parameter but `Signature`, keys sorted in byte
order, values raw (not URL-encoded), any `_` in a key signed as `.`, and (for POST) values starting with `@`
left out (the legacy SDK's file-upload convention). Signature = base64(HMAC-SHA1|SHA256(SecretKey, it)).
The same scheme signs API 3.0 calls when an SDK is configured with `signMethod="HmacSHA256"` (path `/`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from receiver.signing._common import Credential, Failure, Secrets, Verified, keyring, same, skew_s

LEGACY_HOST = "vod.api.qcloud.com"
LEGACY_PATH = "/v2/index.php"

#: A parameter value as callers hold it; it is signed as `str(value)`.
ParamValue = str | int


class SignatureMethod(StrEnum):
    HMAC_SHA1 = "HmacSHA1"
    HMAC_SHA256 = "HmacSHA256"


_DIGESTS = {SignatureMethod.HMAC_SHA1: hashlib.sha1, SignatureMethod.HMAC_SHA256: hashlib.sha256}


@dataclass(frozen=True)
class SigningTarget:
    """What the signature binds besides the parameters: the HTTP method and where the request goes.

    `host` is exactly what the client calls (with `:port` when there is one), as the SDKs sign it.
    """

    http_method: str = "GET"
    host: str = LEGACY_HOST
    path: str = LEGACY_PATH


def signed_pairs(
    params: Mapping[str, ParamValue], http_method: str, *, skip_file_values: bool = True
) -> list[tuple[str, str]]:
    """The (key, value) pairs that enter the string to sign, in signing order."""
    chosen: dict[str, str] = {}
    posting = http_method.upper() == "POST"
    for key, raw in params.items():
        if key == "Signature":
            continue
        value = str(raw)
        if posting and skip_file_values and value.startswith("@"):
            continue
        chosen[key.replace("_", ".")] = value
    return sorted(chosen.items())


def string_to_sign(params: Mapping[str, ParamValue], target: SigningTarget, *, skip_file_values: bool = True) -> str:
    """`<METHOD><host><path>?<sorted raw k=v joined by &>`."""
    pairs = signed_pairs(params, target.http_method, skip_file_values=skip_file_values)
    query = "&".join(f"{k}={v}" for k, v in pairs)
    return f"{target.http_method.upper()}{target.host}{target.path}?{query}"


def compute_signature(text: str, secret_key: str, method: SignatureMethod) -> str:
    """Base64 of the HMAC of the string to sign (not URL-encoded: the HTTP layer does that)."""
    digest = hmac.new(secret_key.encode("utf-8"), text.encode("utf-8"), _DIGESTS[method]).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_params(
    params: Mapping[str, ParamValue],
    credential: Credential,
    *,
    timestamp: int,
    nonce: int,
    target: SigningTarget = SigningTarget(),
    signature_method: SignatureMethod = SignatureMethod.HMAC_SHA1,
    skip_file_values: bool = True,
) -> dict[str, str]:
    """A copy of `params` with Timestamp, Nonce, SecretId, SignatureMethod (and Token for temporary
    credentials) added and signed, `Signature` last. Values the caller already set are kept, as the
    legacy SDK keeps them."""
    signed: dict[str, str] = {k: str(v) for k, v in params.items() if k != "Signature"}
    signed.setdefault("Timestamp", str(timestamp))
    signed.setdefault("Nonce", str(nonce))
    signed.setdefault("SecretId", credential.secret_id)
    if credential.token:
        signed.setdefault("Token", credential.token)
    signed.setdefault("SignatureMethod", signature_method.value)
    method = SignatureMethod(signed["SignatureMethod"])
    text = string_to_sign(signed, target, skip_file_values=skip_file_values)
    signed["Signature"] = compute_signature(text, credential.secret_key, method)
    return signed


_REQUIRED = ("Signature", "SecretId", "Timestamp", "Nonce")


def verify_params(
    params: Mapping[str, str],
    *,
    target: SigningTarget,
    secrets: Secrets,
    now: datetime,
    tolerance_s: float = 300.0,
    skip_file_values: bool = True,
) -> Verified:
    """Check a legacy request's parameters (the query for GET, the form body for POST).

    Order of checks, each with its own `Failure`: required parameters present (MISSING), SignatureMethod
    known (UNSUPPORTED), SecretId configured (UNKNOWN_SECRET_ID), Timestamp an integer (MALFORMED) within
    `tolerance_s` of `now` (EXPIRED), then the signature (BAD_SIGNATURE). Nonce reuse is the caller's check.
    """
    missing = [name for name in _REQUIRED if not params.get(name)]
    secret_id = params.get("SecretId") or None
    nonce = params.get("Nonce") or None
    if missing:
        return Verified(Failure.MISSING, f"missing parameter {missing[0]}", secret_id=secret_id, nonce=nonce)
    raw_method = params.get("SignatureMethod", SignatureMethod.HMAC_SHA1.value)
    try:
        method = SignatureMethod(raw_method)
    except ValueError:
        return Verified(
            Failure.UNSUPPORTED,
            f"SignatureMethod {raw_method!r} is not HmacSHA1 or HmacSHA256",
            secret_id=secret_id,
            nonce=nonce,
        )
    keys = keyring(secrets)
    if secret_id not in keys:
        return Verified(Failure.UNKNOWN_SECRET_ID, f"SecretId {secret_id!r} is not configured", nonce=nonce)
    raw_ts = params["Timestamp"]
    try:
        when = datetime.fromtimestamp(int(raw_ts), UTC)
    except (ValueError, OverflowError, OSError):
        return Verified(
            Failure.MALFORMED, f"Timestamp {raw_ts!r} is not unix seconds", secret_id=secret_id, nonce=nonce
        )
    if skew_s(when, now) > tolerance_s:
        return Verified(
            Failure.EXPIRED,
            f"Timestamp {raw_ts} is {skew_s(when, now):.0f} s from server time (tolerance {tolerance_s:.0f} s)",
            secret_id=secret_id,
            nonce=nonce,
            timestamp=when,
        )
    text = string_to_sign(params, target, skip_file_values=skip_file_values)
    expected = compute_signature(text, keys[secret_id], method)
    if not same(expected, params["Signature"]):
        return Verified(
            Failure.BAD_SIGNATURE,
            "signature does not match",
            secret_id=secret_id,
            nonce=nonce,
            timestamp=when,
            string_to_sign=text,
        )
    return Verified(None, secret_id=secret_id, nonce=nonce, timestamp=when, string_to_sign=text)
