"""A local certificate authority and a server certificate for `vodhook emulate --tls`.

SDKs that only speak HTTPS (the legacy qcloudapi SDK) trust the emulator when pointed at the CA
(`SSL_CERT_FILE`, or requests' `verify=`); the CA is served at `GET /_emulator/ca.pem`. The server
certificate names localhost, the loopback addresses and the providers' API hosts, so a client whose
resolver sends `vod.api.qcloud.com` to the emulator also verifies.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DNS_NAMES = (
    "localhost",
    "vod.api.qcloud.com",
    "vod.tencentcloudapi.com",
    "mps.tencentcloudapi.com",
    "vod.cn-shanghai.aliyuncs.com",
)
IP_ADDRESSES = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsMaterial:
    ca_pem: bytes
    cert_file: Path
    key_file: Path
    ca_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vodhook emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_tls(directory: Path, extra_names: tuple[str, ...] = ()) -> TlsMaterial:
    """Create (each call: new keys) a CA and a server certificate signed by it, written to `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC) - timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("vodhook emulator local CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in DNS_NAMES]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in IP_ADDRESSES]
    for extra in extra_names:
        try:
            address = ipaddress.ip_address(extra)
        except ValueError:
            if extra not in DNS_NAMES:
                names.append(x509.DNSName(extra))
            continue
        if str(address) not in IP_ADDRESSES and not address.is_unspecified:
            names.append(x509.IPAddress(address))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("vodhook emulator"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    ca_file = directory / "ca.pem"
    cert_file = directory / "server.pem"
    key_file = directory / "server.key"
    ca_file.write_bytes(ca_pem)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    return TlsMaterial(ca_pem=ca_pem, cert_file=cert_file, key_file=key_file, ca_file=ca_file)
