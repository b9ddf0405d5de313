"""The instance's report-signing identity.

Either the organisation's own key and certificate chain (PEM files or a PKCS#12 bundle named
in the environment), or, when none is configured, a self-managed local CA and signing
certificate generated once under the data directory. Keys are read from disk only here; they
are never logged, served or written anywhere else.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings
from pyhanko.sign import signers
from pyhanko.sign.timestamps import HTTPTimeStamper

CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
SIGNER_CERT, SIGNER_KEY = "signer.pem", "signer-key.pem"


class SigningConfigError(Exception):
    """The configured key material cannot be used; the message says which setting."""


@dataclass(frozen=True)
class SigningIdentity:
    signer: signers.SimpleSigner
    # Certificates a verifier should trust, root first (PEM), and the signer's own.
    trust_pem: bytes
    signer_cert_der: bytes
    self_managed: bool

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.signer_cert_der).hexdigest()

    @property
    def subject(self) -> str:
        return asn1_x509.Certificate.load(self.signer_cert_der).subject.human_friendly

    def trust_roots(self) -> list[asn1_x509.Certificate]:
        return [
            asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
            for c in x509.load_pem_x509_certificates(self.trust_pem)
        ]


def signing_dir() -> Path:
    return Path(settings.REPORT_SIGNING_DIR)


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600 from the start, not chmod-ed afterwards, so the key is never world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aigsec (self-managed)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _generate_self_managed(directory: Path) -> None:
    """A local CA (10 years) and a signing certificate (3 years) issued by it."""
    now = dt.datetime.now(dt.UTC)
    host = socket.gethostname()[:40] or "localhost"
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"aigsec local report CA ({host})")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"aigsec report signing ({host})"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3 * 365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # Digital signature and non-repudiation, nothing else. No extended key usage: NSS
        # (pdfsig) would then insist on e-mail protection.
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    plain = serialization.NoEncryption()
    _write_private(directory / CA_KEY, ca_key.private_bytes(pem, pkcs8, plain))
    _write_private(directory / SIGNER_KEY, key.private_bytes(pem, pkcs8, plain))
    (directory / CA_CERT).write_bytes(ca_cert.public_bytes(pem))
    # Certificates last: their presence marks a complete set (see ensure_self_managed).
    (directory / SIGNER_CERT).write_bytes(cert.public_bytes(pem))


def ensure_self_managed() -> Path:
    """Create the local CA and signing certificate once; safe when workers race at start."""
    directory = signing_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (directory / SIGNER_CERT).is_file():
        return directory
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / SIGNER_CERT).is_file():
            _generate_self_managed(directory)
    return directory


def _configured_paths() -> tuple[str, str, list[str], str, str]:
    return (
        settings.REPORT_SIGNING_KEY,
        settings.REPORT_SIGNING_CERT,
        list(settings.REPORT_SIGNING_CHAIN),
        settings.REPORT_SIGNING_PKCS12,
        settings.REPORT_SIGNING_PASSPHRASE,
    )


def is_self_managed() -> bool:
    key, cert, _chain, p12, _pw = _configured_paths()
    return not (p12 or (key and cert))


def _load(
    key: str, cert: str, chain: list[str], p12: str, passphrase: str, directory: str
) -> SigningIdentity:
    pw = passphrase.encode() if passphrase else None
    if p12:
        signer = signers.SimpleSigner.load_pkcs12(p12, ca_chain_files=chain or None, passphrase=pw)
        self_managed = False
    elif key and cert:
        signer = signers.SimpleSigner.load(
            key, cert, ca_chain_files=chain or None, key_passphrase=pw
        )
        self_managed = False
    else:
        base = Path(directory)
        signer = signers.SimpleSigner.load(
            str(base / SIGNER_KEY), str(base / SIGNER_CERT), ca_chain_files=[str(base / CA_CERT)]
        )
        chain = [str(base / CA_CERT)]
        self_managed = True
    if signer is None:
        raise SigningConfigError(
            "The report signing key could not be loaded: check REPORT_SIGNING_* paths and "
            "the passphrase."
        )
    cert_der = signer.signing_cert.dump()
    if chain:
        trust = b"".join(Path(p).read_bytes() for p in chain)
    else:
        # No chain given: the verifier trusts the signing certificate itself.
        trust = x509.load_der_x509_certificate(cert_der).public_bytes(serialization.Encoding.PEM)
    return SigningIdentity(signer, trust, cert_der, self_managed)


@lru_cache(maxsize=4)
def _cached(*args: str | tuple[str, ...]) -> SigningIdentity:
    key, cert, chain, p12, pw, directory = args
    return _load(key, cert, list(chain), p12, pw, directory)  # type: ignore[arg-type]


def signing_identity() -> SigningIdentity:
    """The identity in force; loaded once per process and per configuration."""
    key, cert, chain, p12, pw = _configured_paths()
    if not (p12 or (key and cert)):
        ensure_self_managed()
    return _cached(key, cert, tuple(chain), p12, pw, str(signing_dir()))


def timestamper() -> HTTPTimeStamper | None:
    url = settings.TSA_URL
    return HTTPTimeStamper(url, timeout=settings.TSA_TIMEOUT) if url else None
