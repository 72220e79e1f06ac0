"""Alibaba VOD HTTP callback authentication: `X-VOD-TIMESTAMP` and `X-VOD-SIGNATURE` (reference §3).

    X-VOD-SIGNATURE = lowercase hex md5(CallbackURL + "|" + X-VOD-TIMESTAMP + "|" + AuthKey)

`CallbackURL` is the URL the provider was configured to call, exactly as configured (scheme, host, path,
query): we take it from the source's `public_url` and never rebuild it from the request, because a proxy in
front of us changes scheme, host or path. The body is not signed: a valid signature shows who sent a
callback and at about what time, not what it says, so the same signature and timestamp on two different
bodies are both accepted (many callbacks leave in the same second) and de-duplication is by content.
MNS deliveries carry no headers; they are authenticated by the queue's own access control.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from receiver.dialects.base import ACCEPTED_UNSIGNED, RawCallback, SigningPolicy, Verdict, Verification

TIMESTAMP_HEADER = "x-vod-timestamp"
SIGNATURE_HEADER = "x-vod-signature"


def sign(url: str, timestamp: str | int, key: str) -> str:
    """The `X-VOD-SIGNATURE` Alibaba sends for a callback to `url` at unix second `timestamp` with AuthKey `key`.

    >>> sign("https://www.example.com/your/callback", 1519375990, "test123")
    'c72b60894140fa98920f1279219b7ed4'
    """
    return hashlib.md5(f"{url}|{timestamp}|{key}".encode()).hexdigest()


def verify(raw: RawCallback, policy: SigningPolicy, now: datetime) -> Verification:
    """Check a callback's headers against every active key; the reason says what failed, never a secret."""
    if not policy.enabled:
        return ACCEPTED_UNSIGNED
    if not policy.public_url:
        return _refused(
            "the source has signing keys but no public_url: Alibaba signs the exact callback URL it was "
            "configured with, so the signature cannot be checked until public_url is set to that URL"
        )
    timestamp = (raw.headers.get(TIMESTAMP_HEADER) or "").strip()
    signature = (raw.headers.get(SIGNATURE_HEADER) or "").strip().lower()
    if not timestamp:
        return _refused("missing X-VOD-TIMESTAMP header (is the callback's AuthSwitch on at Alibaba?)")
    if not signature:
        return _refused("missing X-VOD-SIGNATURE header (is the callback's AuthSwitch on at Alibaba?)")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 13:
        return _refused(f"X-VOD-TIMESTAMP is not unix seconds: {timestamp[:32]!r}")
    matched = _matching_key(policy.public_url, timestamp, signature, policy.keys)
    if matched is None:
        return _refused(
            f"bad signature: X-VOD-SIGNATURE matches none of the {len(policy.keys)} configured key(s) for "
            f"public_url {policy.public_url!r}; a wrong key and a provider configured with a different callback "
            "URL (scheme, host, path or query) look exactly the same"
        )
    seconds = int(timestamp)
    if seconds > 10**12:  # milliseconds: not documented, accepted rather than refused as skew
        seconds //= 1000
    skew = now.timestamp() - seconds
    if abs(skew) > policy.tolerance_s:
        direction = "old" if skew > 0 else "in the future"
        return _refused(
            f"timestamp skew: X-VOD-TIMESTAMP {timestamp} is {abs(skew):.0f} s {direction} "
            f"(tolerance {policy.tolerance_s:g} s); the signature itself is valid"
        )
    reason = None if len(policy.keys) == 1 else f"matched key {matched + 1} of {len(policy.keys)}"
    return Verification(Verdict.VERIFIED, reason)


def _matching_key(url: str, timestamp: str, signature: str, keys: tuple[str, ...]) -> int | None:
    """The index of the key that produced `signature`; every key is tried, each in constant time."""
    given = signature.encode("utf-8", "replace")
    matched = None
    for index, key in enumerate(keys):
        if hmac.compare_digest(sign(url, timestamp, key).encode(), given) and matched is None:
            matched = index
    return matched


def _refused(reason: str) -> Verification:
    return Verification(Verdict.REFUSED, reason)
