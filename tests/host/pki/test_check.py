"""`check` finds each kind of problem, names the file, and says nothing on a good PKI."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from host.pki import files
from host.pki.check import check
from host.pki.issue import Issued, issue, name
from host.pki.profiles import PROFILES, ROLES

from .conftest import Run


def _now() -> dt.datetime:
    """The clock when the check runs: the lab is made (session-scoped) before any test
    uses it, so it is valid then; a time taken at import could precede it by minutes."""
    return dt.datetime.now(dt.UTC)


def test_a_chain_without_its_root_is_not_trusted(lab: Path) -> None:
    assert check([lab / "secc_chain.pem"], now=_now()).problems == [
        f"{lab / 'secc_chain.pem'}: no issuer of CPO Sub-CA 1 found (wanted "
        "DC=V2G,C=DE,O=v2gate Lab V2G,CN=V2G Root CA (lab) with a matching signature): "
        "a Sub-CA or the root is missing"]


def test_a_good_pki_has_no_problems(lab: Path) -> None:
    report = check([lab], now=_now())
    assert report.problems == []
    assert len(report.ok) == len(list(lab.iterdir()))


def test_a_missing_sub_ca_breaks_the_chains_below_it(own_lab: Path) -> None:
    # the chain file carries Sub-CA 1 too, and any file's certificates serve every chain
    (own_lab / "v2g_sub1.pem").unlink()
    assert check([own_lab], now=_now()).problems == []
    (own_lab / "secc_chain.pem").unlink()
    problems = check([own_lab], now=_now()).problems
    broken = sorted(p.split(": ")[0] for p in problems)
    assert broken == sorted(str(own_lab / f) for f in ("secc.pem", "v2g_sub2.pem"))
    assert all("no issuer of CPO Sub-CA 2 found" in p for p in problems)


def test_a_key_that_belongs_to_another_certificate(own_lab: Path) -> None:
    shutil.copy2(own_lab / "mo_root.key", own_lab / "secc.key")
    assert check([own_lab], now=_now()).problems == [
        f"{own_lab / 'secc.key'}: does not match the certificate secc.pem (DE*V2G*E0000001)"
    ]


@pytest.mark.parametrize(("years", "says"), [(-1, "is not valid before"), (2, "expired on")])
def test_validity_against_the_clock(lab: Path, years: int, says: str) -> None:
    problems = check([lab / "secc_chain.pem", lab / "v2g_root.pem"],
                     now=_now() + dt.timedelta(days=365 * years)).problems
    if years < 0:  # the root is not valid yet either
        assert problems[1] == f"{lab / 'v2g_root.pem'}: V2G Root CA (lab) {says} " \
                              f"{problems[1].split(says)[1].strip()}"
    assert problems[0].startswith(f"{lab / 'secc_chain.pem'}: DE*V2G*E0000001 {says} ")
    assert len(problems) == (2 if years < 0 else 1)


def test_the_secc_leaf_expires_first(v2gate: Run, lab: Path) -> None:
    """60 days (create_certs.sh's SECC validity): on day 61 the chain fails, Sub-CAs do not."""
    at = (_now() + dt.timedelta(days=61)).isoformat()
    r = v2gate("pki", "check", lab / "secc_chain.pem", lab / "v2g_sub2.pem", lab / "v2g_root.pem",
               "--at", at)
    assert r.code == 1
    assert r.err.splitlines() == [f"v2gate pki check: {lab / 'secc_chain.pem'}: "
                                  f"DE*V2G*E0000001 expired on {r.err.split('expired on ')[1].strip()}"]
    assert "ok  v2g_sub2.pem" in r.out


def test_path_length_and_ca_flags_are_enforced(own_lab: Path) -> None:
    sub2 = Issued(files.read_certs(own_lab / "v2g_sub2.pem")[0],
                  files.read_key(own_lab / "v2g_sub2.key"))  # fmt: skip
    secc = Issued(files.read_certs(own_lab / "secc.pem")[0], files.read_key(own_lab / "secc.key"))
    p256 = PROFILES["iso2"]
    # a third Sub-CA under Sub-CA 2 (pathlen 0), and a leaf signed by a leaf
    sub3 = issue(name("Sub-CA 3", "x"), ROLES["sub2"], p256.new_key(), issuer=sub2, now=_now())
    under3 = issue(name("under 3", "x"), ROLES["secc"], p256.new_key(), issuer=sub3, now=_now())
    under_leaf = issue(name("under leaf", "x"), ROLES["secc"], p256.new_key(), issuer=secc,
                       now=_now())  # fmt: skip
    files.write_certs(own_lab / "sub3.pem", sub3.cert)
    files.write_certs(own_lab / "under3.pem", under3.cert)
    files.write_certs(own_lab / "under_leaf.pem", under_leaf.cert)
    problems = sorted(check([own_lab], now=_now()).problems)
    # RFC 5280: Sub-CA 3 itself may end a path under pathlen 0; what it signs may not
    assert problems == [
        f"{own_lab / 'under3.pem'}: CPO Sub-CA 2, the issuer of Sub-CA 3, allows 0 Sub-CA(s) "
        "below it (pathlen), the chain has 1",
        f"{own_lab / 'under_leaf.pem'}: DE*V2G*E0000001, the issuer of under leaf, is not a CA "
        "(basicConstraints CA:false)",
    ]


def test_a_corrupt_certificate_file_is_named(own_lab: Path) -> None:
    (own_lab / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n")
    assert check([own_lab], now=_now()).problems == [
        f"{own_lab / 'broken.pem'}: not a PEM or DER certificate"]


def test_a_key_anyone_can_read_is_reported_before_it_is_read(own_lab: Path) -> None:
    key = own_lab / "contract.key"
    key.write_text("not a key")
    os.chmod(key, 0o604)
    assert check([key], now=_now()).problems == [
        f"{key}: private key is mode 0604, readable by group or others; it must be 0600 "
        f"(chmod 600 {key})"]
