"""MPS callback signature: `Sign = MD5(Timestamp + NotifyKey)`, with `Timestamp` an expiry.

Both fields are top-level keys of the JSON body (reference §1.4), present only when the task's
`TaskNotifyConfig.NotifyKey` is set. `Timestamp` is the Unix second after which the notification is to be
treated as invalid (MPS's default: send time + 10 minutes); the concatenation is Timestamp first, then the key.

The signature covers a time and the key, not the body: it proves who sent a callback at about what time, not
what it says. Many callbacks leave in the same second and carry the same Sign, so a repeated Sign is never a
reason to refuse; duplicates are removed later, on content.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import datetime
from typing import Any

from receiver.dialects.base import ACCEPTED_UNSIGNED, SigningPolicy, Verdict, Verification


def sign(key: str, timestamp: int | str) -> str:
    """The `Sign` MPS puts beside `Timestamp` (32 lowercase hex); the emulator signs its callbacks with it."""
    return hashlib.md5(f"{timestamp}{key}".encode(), usedforsecurity=False).hexdigest()


def verify_document(document: Any, policy: SigningPolicy, now: datetime) -> Verification:
    """Check `Timestamp`/`Sign` of a decoded body against every configured key."""
    if not policy.enabled:
        return ACCEPTED_UNSIGNED
    if not isinstance(document, dict):
        return _refused("missing Sign: the body is not a JSON object")
    given = document.get("Sign")
    if not isinstance(given, str) or not given.strip():
        return _refused("missing Sign")
    timestamp = _timestamp_text(document.get("Timestamp"))
    if timestamp is None:
        return _refused("missing or malformed Timestamp")
    given_bytes = given.strip().lower().encode()  # bytes: compare_digest refuses non-ASCII str
    if not any(hmac.compare_digest(sign(key, timestamp).encode(), given_bytes) for key in policy.keys):
        return _refused("bad signature: Sign matches none of the configured keys")
    if int(timestamp) < now.timestamp() - policy.tolerance_s:
        return _refused(f"expired: Timestamp {timestamp} plus {policy.tolerance_s:g} s tolerance is in the past")
    return Verification(Verdict.VERIFIED)


def _timestamp_text(value: Any) -> str | None:
    """The decimal text MPS concatenated: an integer, or a string of digits (its JSON type is unconfirmed)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    text = str(value).strip() if isinstance(value, int | str) else ""
    # Unix seconds have 10 digits until 2286; a few more are tolerated, thousands are not a time.
    if text.isascii() and text.isdigit() and len(text) <= 19:
        return text
    return None


def _refused(reason: str) -> Verification:
    return Verification(Verdict.REFUSED, reason)
