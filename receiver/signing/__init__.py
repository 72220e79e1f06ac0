"""Request signing for the providers' query APIs, in both directions.

The fallback's query clients sign outbound requests exactly as the official SDKs do; the emulator verifies
inbound SDK requests with the same code. One module per scheme:

- `tencent_v2`: Tencent Cloud API 2.0 (legacy VOD), HmacSHA1/HmacSHA256 over sorted raw parameters;
- `tc3`: Tencent Cloud API 3.0 TC3-HMAC-SHA256 (VOD 3.0, MPS);
- `aliyun_rpc`: Alibaba Cloud RPC signature v1, HMAC-SHA1;
- `aliyun_acs3`: Alibaba Cloud signature V3, ACS3-HMAC-SHA256.

Every verifier answers with `Verified` (a `Failure` or success, plus what it learned: secret id, nonce,
timestamp, the string it signed); each dialect maps `Failure` to its provider's error code.
"""

from receiver.signing._common import Credential, Failure, Secrets, Verified, keyring

__all__ = ["Credential", "Failure", "Secrets", "Verified", "keyring"]
