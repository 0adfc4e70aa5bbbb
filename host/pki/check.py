"""`v2gate pki check`: what a gateway verifies before it uses its certificates.

Every certificate file's first certificate must chain, by signature, to a self-signed
root found among the files checked (issuers must be CAs with keyCertSign, within their
pathLenConstraint); every certificate on the way must be valid at `now`; every private
key must be mode 0600 (no group or other bits) and owned by the service user, and must
match the certificate of the same name (NAME.key beside NAME.pem). `v2gate run` is to call
`check()` on its certificate folder (/etc/v2g/certs/ on a gateway) and refuse to start
on any problem, since a key others can read is a key others may have copied.
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from . import files
from .files import PkiError
from .show import cn

CERT_SUFFIXES = (".pem", ".crt", ".cer")
KEY_SUFFIXES = (".key",)
DEFAULT_DIR = Path("/etc/v2g/certs")  # where a gateway keeps them
MAX_DEPTH = 8  # -2 chains are at most root + 2 Sub-CAs + leaf


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    ok: list[str] = field(default_factory=list)


def expand(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Certificate and key files named or found (not recursively) in the folders named."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found.extend(sorted(q for q in p.iterdir() if q.is_file()
                                and not q.name.startswith(".")))  # fmt: skip
        elif p.exists():
            found.append(p)
        else:
            raise PkiError(f"{p}: no such file or folder")
    certs = [p for p in found if p.suffix in CERT_SUFFIXES]
    keys = [p for p in found if p.suffix in KEY_SUFFIXES]
    return certs, keys


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def ca_problem(issuer: x509.Certificate, below: int) -> str | None:
    """Why `issuer` may not sign here (`below`: CA certificates between it and the leaf)."""
    try:
        bc = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return "has no basicConstraints, so it is no CA"
    if not bc.ca:
        return "is not a CA (basicConstraints CA:false)"
    if bc.path_length is not None and below > bc.path_length:
        return f"allows {bc.path_length} Sub-CA(s) below it (pathlen), the chain has {below}"
    try:
        ku = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return None if ku.key_cert_sign else "has no keyCertSign in its keyUsage"


def _validity(cert: x509.Certificate, now: dt.datetime) -> str | None:
    if now < cert.not_valid_before_utc:
        return f"{cn(cert)} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    if now > cert.not_valid_after_utc:
        return f"{cn(cert)} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    return None


def check_chain(path: Path, certs: list[x509.Certificate], pool: list[x509.Certificate],
                now: dt.datetime) -> str:  # fmt: skip
    """The path from the file's first certificate to its root, or raise PkiError why not."""
    chain = [certs[0]]
    candidates = certs[1:] + pool
    while not issued_by(chain[-1], chain[-1]):  # until a self-signed root
        cur = chain[-1]
        issuer = next((c for c in candidates if c != cur and issued_by(cur, c)), None)
        if issuer is None:
            raise PkiError(f"{path}: no issuer of {cn(cur)} found (wanted {cur.issuer.rfc4514_string()}"
                           " with a matching signature): a Sub-CA or the root is missing")  # fmt: skip
        why = ca_problem(issuer, below=len(chain) - 1)
        if why:
            raise PkiError(f"{path}: {cn(issuer)}, the issuer of {cn(cur)}, {why}")
        chain.append(issuer)
        if len(chain) > MAX_DEPTH:
            raise PkiError(f"{path}: chain longer than {MAX_DEPTH} (a loop?)")
    for c in chain:
        why = _validity(c, now)
        if why:
            raise PkiError(f"{path}: {why}")
    until = min(c.not_valid_after_utc for c in chain)
    return f"{path.name}: {' <- '.join(cn(c) for c in chain)}, valid until {until:%Y-%m-%d}"


def check_key_file(path: Path, uid: int, user: str) -> None:
    st = os.stat(path)
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise PkiError(f"{path}: private key is mode {mode:04o}, readable by group or others; it must "
                       f"be 0600 (chmod 600 {path})")  # fmt: skip
    if st.st_uid != uid:
        try:
            owner = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            owner = str(st.st_uid)
        raise PkiError(f"{path}: private key is owned by {owner}, not by the service user "
                       f"{user} (chown {user} {path})")  # fmt: skip


def spki(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                            serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip


def check(paths: list[Path], *, user: str | None = None,
          now: dt.datetime | None = None) -> Report:  # fmt: skip
    """Raises PkiError only for what stops the check itself (a path missing, no such user)."""
    now = now or dt.datetime.now(dt.UTC)
    user = user or pwd.getpwuid(os.geteuid()).pw_name
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        raise PkiError(f"no such user: {user}") from None
    cert_files, key_files = expand(paths)
    if not cert_files and not key_files:
        raise PkiError(f"no certificate (.pem .crt .cer) or key (.key) files in {' '.join(map(str, paths))}")
    report = Report()
    loaded: dict[Path, list[x509.Certificate]] = {}
    for p in cert_files:
        try:
            loaded[p] = files.read_certs(p)
        except PkiError as exc:
            report.problems.append(str(exc))
    pool = [c for certs in loaded.values() for c in certs]
    for p, certs in loaded.items():
        try:
            report.ok.append(check_chain(p, certs, pool, now))
        except PkiError as exc:
            report.problems.append(str(exc))
    by_stem = {p.with_suffix(""): certs[0] for p, certs in loaded.items()}
    for p in key_files:
        try:
            check_key_file(p, uid, user)
            key = files.read_key(p)
        except PkiError as exc:
            report.problems.append(str(exc))
            continue
        cert = by_stem.get(p.with_suffix(""))
        if cert is None:
            report.ok.append(f"{p.name}: 0600, {user}; no certificate beside it (a CSR's key?)")
        elif spki(cert.public_key()) != spki(key.public_key()):
            report.problems.append(f"{p}: does not match the certificate "
                                   f"{p.with_suffix('.pem').name} ({cn(cert)})")  # fmt: skip
        else:
            report.ok.append(f"{p.name}: 0600, {user}, matches {cn(cert)}")
    return report
