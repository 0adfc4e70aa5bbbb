"""Reading and writing PEM files. Private keys are written 0600 from the first byte and
atomically (a temporary file in the same folder, then rename), so no reader ever sees a
half-written key or a moment where the key is readable by others."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448

from .profiles import PrivateKey


class PkiError(Exception):
    """A file or argument `v2gate pki` cannot use; the message names it."""


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:  # name the file asked for, not the temporary one
        raise PkiError(f"{path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, mode)  # mkstemp makes it 0600 already; the certificates get 0644
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_key(path: Path, key: PrivateKey) -> None:
    write_atomic(path, key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()), 0o600)  # fmt: skip


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def write_certs(path: Path, *certs: x509.Certificate) -> None:
    write_atomic(path, pem(*certs), 0o644)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PkiError(f"{path}: {exc.strerror}") from None


def read_certs(path: Path) -> list[x509.Certificate]:
    data = _read(path)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        try:
            certs = [x509.load_der_x509_certificate(data)]
        except ValueError:
            raise PkiError(f"{path}: not a PEM or DER certificate") from None
    return certs


def read_key(path: Path) -> PrivateKey:
    data = _read(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise PkiError(f"{path}: the key is encrypted (lab keys are stored without a "
                       "password; protect them by mode 0600)") from None  # fmt: skip
    except ValueError:
        raise PkiError(f"{path}: not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey):
        raise PkiError(f"{path}: a {type(key).__name__}; ISO 15118 uses ECDSA or Ed448 keys")
    return key
