"""Callback signatures, taken from the receiver's own dialect modules so both sides share one definition:
VOD 3.0 `Sign = MD5(SignKey + T)`, MPS `Sign = MD5(Timestamp + NotifyKey)`, Alibaba
`X-VOD-SIGNATURE = md5(url|ts|AuthKey)`. Legacy VOD callbacks are unsigned."""

from __future__ import annotations

from receiver.dialects.aliyun_vod.verify import sign as _aliyun_sign
from receiver.dialects.tencent_mps.verify import sign as _mps_sign
from receiver.dialects.tencent_vod_v3.verify import sign as _vod_v3_sign


def vod_v3_sign(key: str, expiry: int) -> str:
    """VOD 3.0 `Sign` for `T = expiry`."""
    return _vod_v3_sign(key, expiry)


def mps_sign(key: str, timestamp: int) -> str:
    """MPS `Sign` for `Timestamp` (an expiry)."""
    return _mps_sign(key, timestamp)


def aliyun_sign(url: str, timestamp: int, key: str) -> str:
    """Alibaba `X-VOD-SIGNATURE` for the callback URL and `X-VOD-TIMESTAMP`."""
    return _aliyun_sign(url, timestamp, key)
