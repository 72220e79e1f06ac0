"""What every signing scheme shares: credentials, the keyring a verifier checks against, and its verdict.

Each provider scheme lives in its own module (`tencent_v2`, `tc3`, `aliyun_rpc`, `aliyun_acs3`); they all
answer a verification with the same `Verified` shape so the emulator maps failures to provider error codes
with one table per dialect instead of one per scheme.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True)
class Credential:
    """One key pair (Tencent SecretId/SecretKey, Alibaba AccessKeyId/AccessKeySecret), plus an optional
    temporary-credential token."""

    secret_id: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:  # never print a secret
        return f"Credential(secret_id={self.secret_id!r}, secret_key='***')"


#: What a verifier accepts as "the configured credentials": id -> key, or key pairs.
Secrets = Mapping[str, str] | Iterable[Credential]


def keyring(secrets: Secrets) -> dict[str, str]:
    """Normalize the configured credentials to id -> key (several pairs may be active, for rotation)."""
    if isinstance(secrets, Mapping):
        return {str(k): str(v) for k, v in secrets.items()}
    return {c.secret_id: c.secret_key for c in secrets}


class Failure(StrEnum):
    """Why a request failed verification; each dialect maps these to its provider's own error."""

    MISSING = "missing"  # a signing parameter or header is absent
    MALFORMED = "malformed"  # present but unparseable (Authorization header, timestamp, scope)
    UNSUPPORTED = "unsupported"  # a signature method/algorithm/version the scheme does not define
    UNKNOWN_SECRET_ID = "unknown_secret_id"
    EXPIRED = "expired"  # timestamp further from our clock than the tolerance
    BAD_SIGNATURE = "bad_signature"


@dataclass(frozen=True)
class Verified:
    """The verdict on one inbound request.

    `nonce` is reported, not checked: refusing a reused nonce needs memory, which is the caller's.
    `string_to_sign` is what we computed (Alibaba echoes it in SignatureDoesNotMatch messages).
    """

    failure: Failure | None
    detail: str = ""
    secret_id: str | None = None
    nonce: str | None = None
    timestamp: datetime | None = None
    string_to_sign: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def __bool__(self) -> bool:
        return self.ok


def same(a: str, b: str) -> bool:
    """Constant-time string comparison (a signature check must not leak how many characters matched)."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def skew_s(timestamp: datetime, now: datetime) -> float:
    """How far (in seconds, absolute) a request's timestamp is from our clock."""
    return abs((now - timestamp).total_seconds())
