"""The optional VOD 3.0 callback signature: `Sign` = lower-hex MD5(SignKey + T), `T` an expiry (unix s).

The SDK (ModifyEventConfig.SignKey) documents the formula and that callbacks then "carry Sign and T", but
not where (reference §3.1, §7.2). We read them as top-level body fields (Tencent Live's convention and the
reference's most likely reading) and, when the body has neither, from `Sign`/`T` request headers; the
emulator signs in the body. The received Sign is compared case-insensitively (hex case is unspecified).

Only a time is signed, not the body: a valid Sign proves the sender knows the key and when it sent, not what
it says. Two different callbacks sent in the same second share Sign and T, so a repeated signature is never
a reason to refuse; de-duplication is on content.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from receiver.dialects.base import ACCEPTED_UNSIGNED, RawCallback, SigningPolicy, Verdict, Verification

SIGN_FIELD = "Sign"
EXPIRY_FIELD = "T"
#: Tencent's default: callbacks expire 10 minutes after they are sent.
DEFAULT_VALIDITY_S = 600


def sign(key: str, expiry: int | str) -> str:
    """The `Sign` VOD puts on a callback that expires at `expiry` (unix seconds): md5(key + T), lower hex.

    T is concatenated as text: an int in decimal, a string exactly as it was received."""
    text = expiry if isinstance(expiry, str) else str(int(expiry))
    return hashlib.md5(f"{key}{text}".encode(), usedforsecurity=False).hexdigest()


def signature_fields(key: str, expiry: int) -> dict[str, Any]:
    """The two top-level body fields of a signed callback, as the emulator adds them."""
    return {SIGN_FIELD: sign(key, expiry), EXPIRY_FIELD: int(expiry)}


def verify(raw: RawCallback, policy: SigningPolicy, now: datetime) -> Verification:
    """Accept when any configured key signs T and T (+ tolerance) has not passed; a source without keys
    accepts unsigned callbacks. Reasons name what failed and never echo a key."""
    if not policy.enabled:
        return ACCEPTED_UNSIGNED
    found_sign, found_expiry = _signature_of(raw)
    if found_sign is None:
        return Verification(Verdict.REFUSED, "missing Sign (the source has a sign key, the callback is unsigned)")
    if found_expiry is None:
        return Verification(Verdict.REFUSED, "missing T (the expiry time that Sign covers)")
    expiry = _unix_seconds(found_expiry)
    if expiry is None:
        return Verification(Verdict.REFUSED, f"T is not a unix time: {_shown(found_expiry)}")
    signed_text = found_expiry.strip() if isinstance(found_expiry, str) else str(expiry)
    received = found_sign.strip().lower().encode()
    matched = None
    for index, key in enumerate(policy.keys):
        # Every key is tried, so the time taken does not tell which key (or whether any) matched.
        if hmac.compare_digest(sign(key, signed_text).encode(), received) and matched is None:
            matched = index
    if matched is None:
        return Verification(Verdict.REFUSED, "bad signature: Sign does not match T under any configured key")
    late = now.timestamp() - (expiry + policy.tolerance_s)
    if late > 0:
        ago = late + policy.tolerance_s
        return Verification(
            Verdict.REFUSED, f"expired: T={expiry} passed {ago:.0f}s ago (tolerance {policy.tolerance_s:g}s)"
        )
    return Verification(Verdict.VERIFIED, f"key {matched + 1} of {len(policy.keys)}")


def _signature_of(raw: RawCallback) -> tuple[str | None, Any]:
    """Sign and T from the body's top level, else from headers. Only these two fields are read here."""
    body = _top_level(raw.body)
    if SIGN_FIELD in body or EXPIRY_FIELD in body:
        found = body.get(SIGN_FIELD)
        return (found if isinstance(found, str) or found is None else repr(found)), body.get(EXPIRY_FIELD)
    headers = {name.lower(): value for name, value in raw.headers.items()}
    return headers.get("sign"), headers.get("t")


def _top_level(body: bytes) -> Mapping[str, Any]:
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return document if isinstance(document, dict) else {}


def _unix_seconds(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"
