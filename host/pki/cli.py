"""`v2gate pki`: make a lab PKI, issue certificates and CSRs, show and check them.

Exit codes (host/cli.py): 0 done / all good; 1 `check` found a problem (one line each on
stderr, naming the file); 2 a bad argument or a file that cannot be used (one line).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import check as pki_check
from . import files, hierarchy
from .check import ca_problem, check, spki
from .files import PkiError
from .issue import Issued, certificate, csr, name
from .profiles import ISSUE_ROLES, PROFILES, ROLES, profile_of
from .show import cn, line

EXIT_NO = 1
EXIT_USAGE = 2
# OCPP 2.0.1 SignCertificateRequest.certificateType (CertificateSigningUseEnumType)
CSR_TYPES = ("ChargingStationCertificate", "V2GCertificate")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("pki", help="lab PKI for ISO 15118 / OCPP: init, issue, csr, show, check",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmds = p.add_subparsers(dest="pki_command", metavar="ACTION")
    cmds.required = True
    profiles = sorted(PROFILES)

    i = cmds.add_parser("init", help="a complete test/lab hierarchy in DIR",
                        description=hierarchy.__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    i.add_argument("dir", type=Path, metavar="DIR")
    i.add_argument("--profile", choices=profiles, default="iso2",
                   help="iso2: secp256r1/SHA-256; iso20: secp521r1/SHA-512; iso20-ed448")
    i.add_argument("--cpo", default=hierarchy.Names.cpo, help="CPO organisation (O)")
    i.add_argument("--secc-id", default=hierarchy.Names.secc_id, help="SECC leaf CN")
    i.add_argument("--emaid", default=hierarchy.Names.emaid, help="contract leaf CN")
    i.add_argument("--station-serial", default=hierarchy.Names.station_serial,
                   help="charging-station certificate CN (OCPP: its serial number)")
    i.add_argument("--country", default="DE", help="two-letter country code (C)")
    i.add_argument("--force", action="store_true", help="replace a PKI already in DIR")
    i.set_defaults(func=lambda a: _run(i, _init, a))

    s = cmds.add_parser("issue", help="one certificate from a given CA")
    s.add_argument("--ca", required=True, type=Path, metavar="STEM",
                   help="the CA: STEM.pem and STEM.key (e.g. DIR/v2g_sub2)")
    s.add_argument("--role", required=True, choices=ISSUE_ROLES)
    s.add_argument("--out", required=True, type=Path, metavar="STEM",
                   help="writes STEM.pem, and STEM.key unless --csr")
    s.add_argument("--csr", type=Path, help="sign this CSR (its subject and key) instead")
    s.add_argument("--cn", help="subject CN (SECC: its ID; contract: the EMAID)")
    s.add_argument("--org", help="subject O")
    s.add_argument("--country", default="DE")
    s.add_argument("--days", type=_days, help="validity (default: the role's)")
    s.add_argument("--force", action="store_true", help="overwrite STEM.pem/STEM.key")
    s.set_defaults(func=lambda a: _run(s, _issue, a))

    c = cmds.add_parser("csr", help="a CSR for OCPP SignCertificate")
    c.add_argument("--type", required=True, choices=CSR_TYPES, dest="cert_type")
    c.add_argument("--cn", required=True,
                   help="ChargingStationCertificate: the station's serial number; "
                   "V2GCertificate: the SECC ID")
    c.add_argument("--org", required=True, help="OrganizationName (the CPO)")
    c.add_argument("--country", default="DE")
    c.add_argument("--key", required=True, type=Path,
                   help="where the new private key goes (0600)")
    c.add_argument("--reuse-key", action="store_true", help="use the key already at --key")
    c.add_argument("--profile", choices=profiles, default="iso2")
    c.add_argument("--out", type=Path, help="CSR file (default: stdout)")
    c.set_defaults(func=lambda a: _run(c, _csr, a))

    w = cmds.add_parser("show", help="certificates, one line each")
    w.add_argument("files", nargs="+", type=Path, metavar="FILE")
    w.set_defaults(func=lambda a: _run(w, _show, a))

    k = cmds.add_parser("check", help="chains, key/cert match, validity, key modes and owner")
    k.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                   help=f"files or folders (default: {pki_check.DEFAULT_DIR})")
    k.add_argument("--user", help="the service user who must own the keys (default: you)")
    k.add_argument("--at", type=_when, help="check validity at this UTC time (ISO 8601)")
    k.set_defaults(func=lambda a: _run(k, _check, a))


def _days(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days >= 1")
    return int(text)


def _when(text: str) -> dt.datetime:
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _run(ap: argparse.ArgumentParser, action: Any, args: argparse.Namespace) -> int:
    try:
        return int(action(args))
    except PkiError as exc:
        print(f"{ap.prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _name(cn: str, org: str, country: str, dc: str | None) -> x509.Name:
    if len(country) != 2 or not country.isalpha():
        raise PkiError(f"--country {country!r}: expected a two-letter code such as DE")
    try:
        return name(cn, org, country.upper(), dc)
    except ValueError as exc:  # e.g. a CN over the 64 characters X.520 allows
        raise PkiError(f"subject {cn!r}/{org!r}: {exc}") from None


def _refuse_existing(paths: list[Path], hint: str) -> None:
    there = [p for p in paths if p.exists()]
    if there:
        raise PkiError(f"{there[0]} exists; {hint}")


def _init(args: argparse.Namespace) -> int:
    if not args.force:
        _refuse_existing(hierarchy.planned(args.dir), "--force to replace the PKI there")
    _name(args.secc_id, args.cpo, args.country, None)  # reject bad names before any key
    names = hierarchy.Names(cpo=args.cpo, secc_id=args.secc_id, emaid=args.emaid,
                            station_serial=args.station_serial, country=args.country.upper())
    made = hierarchy.init(args.dir, PROFILES[args.profile], names, dt.datetime.now(dt.UTC))
    print(f"{len(made)} certificates ({PROFILES[args.profile].text}) in {args.dir}; "
          f"the SECC serves secc_chain.pem with secc.key, EVs trust v2g_root.pem")
    return 0


def _issue(args: argparse.Namespace) -> int:
    role = ROLES[args.role]
    ca_key = files.read_key(args.ca.with_suffix(".key"))
    ca_cert = files.read_certs(args.ca.with_suffix(".pem"))[0]
    if spki(ca_cert.public_key()) != spki(ca_key.public_key()):
        raise PkiError(f"{args.ca.with_suffix('.key')} is not the key of {args.ca.with_suffix('.pem')}")
    why = ca_problem(ca_cert, below=1 if role.ca else 0)
    if why:
        raise PkiError(f"{args.ca.with_suffix('.pem')} ({cn(ca_cert)}) {why}")
    out_pem, out_key = args.out.with_suffix(".pem"), args.out.with_suffix(".key")
    if not args.force:
        _refuse_existing([out_pem] if args.csr else [out_pem, out_key], "--force to overwrite")
    if args.csr is not None:
        if args.cn or args.org:
            raise PkiError("--csr brings its own subject: leave out --cn and --org")
        request = _read_csr(args.csr)
        subject, public, key = request.subject, request.public_key(), None
    else:
        if not args.cn or not args.org:
            raise PkiError("--cn and --org are needed (or --csr FILE)")
        subject = _name(args.cn, args.org, args.country, role.dc)
        key = profile_of(ca_key).new_key()
        public = key.public_key()
    cert = certificate(subject, public, role, issuer=Issued(ca_cert, ca_key),  # type: ignore[arg-type]
                       signer=ca_key, now=dt.datetime.now(dt.UTC), days=args.days)  # fmt: skip
    if key is not None:
        files.write_key(out_key, key)
    files.write_certs(out_pem, cert)
    print(f"{out_pem}: {line(cert, dt.datetime.now(dt.UTC))}")
    return 0


def _read_csr(path: Path) -> x509.CertificateSigningRequest:
    try:
        request = x509.load_pem_x509_csr(path.read_bytes())
    except OSError as exc:
        raise PkiError(f"{path}: {exc.strerror}") from None
    except ValueError:
        raise PkiError(f"{path}: not a PEM certificate signing request") from None
    if not request.is_signature_valid:
        raise PkiError(f"{path}: the CSR's signature does not verify")
    return request


def _csr(args: argparse.Namespace) -> int:
    # OCPP 2.0.1 Part 2 §1.4.1 (Certificate Properties): the station's serial number in CN
    # and the CPO (OrganizationName) in O; a V2G (SECC) certificate also carries the
    # domainComponent CPO that the ISO 15118-2 SECC certificate profile has.
    v2g = args.cert_type == "V2GCertificate"
    subject = _name(args.cn, args.org, args.country, "CPO" if v2g else None)
    if args.reuse_key:
        key = files.read_key(args.key)
    else:
        _refuse_existing([args.key], "--reuse-key to sign with it, or name a new --key")
        key = PROFILES[args.profile].new_key()
        files.write_key(args.key, key)
    text = csr(subject, key).public_bytes(serialization.Encoding.PEM)
    if args.out is None:
        sys.stdout.write(text.decode())
    else:
        args.out.write_bytes(text)
        print(f"{args.out}: CSR for {args.cert_type}, {subject.rfc4514_string()}; key {args.key}")
    return 0


def _show(args: argparse.Namespace) -> int:
    now = dt.datetime.now(dt.UTC)
    for path in args.files:
        for cert in files.read_certs(path):
            print(f"{path}: {line(cert, now)}")
    return 0


def _check(args: argparse.Namespace) -> int:
    report = check(args.paths or [pki_check.DEFAULT_DIR], user=args.user, now=args.at)
    for text in report.ok:
        print(f"ok  {text}")
    for text in report.problems:
        print(f"v2gate pki check: {text}", file=sys.stderr)
    if report.problems:
        return EXIT_NO
    print(f"all good: {len(report.ok)} files")
    return 0
