"""`v2gate pki` as a user meets it: init then check, a readable key, bad arguments."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from host.pki import hierarchy

from .conftest import Run

V2GATE = [sys.executable, "-m", "host.cli"]


def test_init_then_check_passes_and_every_key_is_0600(tmp_path: Path) -> None:
    d = tmp_path / "certs"
    r = subprocess.run([*V2GATE, "pki", "init", d], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted(d.iterdir()) == sorted(hierarchy.planned(d))
    for key in d.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    r = subprocess.run([*V2GATE, "pki", "check", d], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert "ok  secc_chain.pem: DE*V2G*E0000001 <- CPO Sub-CA 2 <- CPO Sub-CA 1 <- V2G Root CA" in r.stdout
    assert "ok  secc.key: 0600" in r.stdout


def test_a_0644_key_fails_check_naming_its_path(own_lab: Path) -> None:
    key = own_lab / "secc.key"
    os.chmod(key, 0o644)
    r = subprocess.run([*V2GATE, "pki", "check", own_lab], capture_output=True, text=True,
                       timeout=60)  # fmt: skip
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.splitlines() == [
        f"v2gate pki check: {key}: private key is mode 0644, readable by group or others; "
        f"it must be 0600 (chmod 600 {key})"
    ]


def test_a_group_readable_key_fails_too(v2gate: Run, own_lab: Path) -> None:
    os.chmod(own_lab / "v2g_root.key", 0o640)
    r = v2gate("pki", "check", own_lab)
    assert r.code == 1 and f"{own_lab / 'v2g_root.key'}: private key is mode 0640" in r.err


def test_keys_must_belong_to_the_service_user(v2gate: Run, lab: Path) -> None:
    me = lab.stat().st_uid
    other = "nobody" if me != 65534 else "root"
    r = v2gate("pki", "check", lab / "secc.key", "--user", other)
    assert r.code == 1
    assert r.err.startswith(f"v2gate pki check: {lab / 'secc.key'}: private key is owned by ")
    assert f"not by the service user {other}" in r.err


def test_show_prints_one_line_per_certificate(v2gate: Run, lab: Path) -> None:
    r = v2gate("pki", "show", lab / "secc_chain.pem")
    assert r.code == 0
    lines = r.out.splitlines()
    assert len(lines) == 3
    assert "CN=DE*V2G*E0000001, O=v2gate Lab CPO, C=DE, DC=CPO | by CPO Sub-CA 2 | " \
           "secp256r1/SHA256 | leaf | digitalSignature,keyAgreement | " in lines[0]
    assert "| CA pathlen 0 | keyCertSign,cRLSign |" in lines[1]
    assert "| CA pathlen 1 |" in lines[2] and "(1459 d left)" in lines[2]


def test_init_refuses_to_replace_a_pki_without_force(v2gate: Run, own_lab: Path) -> None:
    before = (own_lab / "secc.key").read_bytes()
    r = v2gate("pki", "init", own_lab)
    assert r.code == 2 and r.err.count("\n") == 1 and "--force" in r.err
    assert (own_lab / "secc.key").read_bytes() == before
    assert v2gate("pki", "init", own_lab, "--force").code == 0
    assert (own_lab / "secc.key").read_bytes() != before


BAD = [
    (["pki"], "required"),
    (["pki", "init"], "DIR"),
    (["pki", "init", "{d}/new", "--profile", "iso21"], "invalid choice: 'iso21'"),
    (["pki", "init", "{d}/new", "--country", "DEU"], "--country 'DEU'"),
    (["pki", "init", "{d}/new", "--secc-id", "x" * 65], "subject"),
    (["pki", "issue", "--ca", "{d}/v2g_sub2", "--role", "root", "--out", "{d}/x"],
     "invalid choice: 'root'"),
    (["pki", "issue", "--ca", "{d}/nope", "--role", "secc", "--out", "{d}/x", "--cn", "a",
      "--org", "b"], "nope.key: No such file"),
    (["pki", "issue", "--ca", "{d}/secc_chain", "--role", "secc", "--out", "{d}/x",
      "--cn", "a", "--org", "b"], "secc_chain.key: No such file"),
    (["pki", "issue", "--ca", "{d}/v2g_sub2", "--role", "secc", "--out", "{d}/x"],
     "--cn and --org are needed"),
    (["pki", "issue", "--ca", "{d}/secc", "--role", "secc", "--out", "{d}/x", "--cn", "a",
      "--org", "b"], "secc.pem (DE*V2G*E0000001) is not a CA (basicConstraints CA:false)"),
    (["pki", "issue", "--ca", "{d}/v2g_sub2", "--role", "sub2", "--out", "{d}/x", "--cn", "a",
      "--org", "b"], "allows 0 Sub-CA(s) below it (pathlen), the chain has 1"),
    (["pki", "issue", "--ca", "{d}/v2g_sub2", "--role", "secc", "--out", "{d}/x", "--cn", "a",
      "--org", "b", "--days", "0"], "--days: '0' is not a whole number"),
    (["pki", "issue", "--ca", "{d}/v2g_sub2", "--role", "secc", "--out", "{d}/x",
      "--csr", "{d}/secc.pem"], "secc.pem: not a PEM certificate signing request"),
    (["pki", "issue", "--ca", "{d}/v2g_sub2", "--role", "secc", "--out", "{d}/secc",
      "--cn", "a", "--org", "b"], "secc.pem exists"),
    (["pki", "csr", "--type", "V2G", "--cn", "a", "--org", "b", "--key", "{d}/k"],
     "invalid choice: 'V2G'"),
    (["pki", "csr", "--type", "V2GCertificate", "--org", "b", "--key", "{d}/k"], "--cn"),
    (["pki", "csr", "--type", "V2GCertificate", "--cn", "a", "--org", "b", "--key",
      "{d}/secc.key"], "secc.key exists"),
    (["pki", "csr", "--type", "V2GCertificate", "--cn", "a", "--org", "b", "--key",
      "{d}/k", "--reuse-key"], "k: No such file"),
    (["pki", "csr", "--type", "V2GCertificate", "--cn", "a", "--org", "b", "--key",
      "{d}/secc.pem", "--reuse-key"], "secc.pem: not a PEM private key"),
    (["pki", "issue", "--ca", "{d}/v2g_sub2", "--role", "secc", "--out", "{d}/no/x", "--cn", "a",
      "--org", "b"], "no/x.key: No such file or directory"),
    (["pki", "csr", "--type", "V2GCertificate", "--cn", "a", "--org", "b", "--key",
      "{d}/no/k"], "no/k: No such file or directory"),
    (["pki", "show", "{d}/secc.key"], "secc.key: not a PEM or DER certificate"),
    (["pki", "show", "{d}/missing.pem"], "missing.pem: No such file"),
    (["pki", "check", "{d}/missing"], "missing: no such file or folder"),
    (["pki", "check", "{d}", "--user", "no-such-user-here"], "no such user: no-such-user-here"),
    (["pki", "check", "{d}", "--at", "yesterday"], "'yesterday' is not an ISO 8601 time"),
]


@pytest.mark.parametrize(("argv", "says"), BAD, ids=[" ".join(a[1:3]) + f" {i}"
                                                     for i, (a, _) in enumerate(BAD)])  # fmt: skip
def test_each_bad_argument_gives_one_clear_line(v2gate: Run, own_lab: Path, argv: list[str],
                                                says: str) -> None:  # fmt: skip
    before = sorted(p.name for p in own_lab.iterdir())
    r = v2gate(*(a.replace("{d}", str(own_lab)) for a in argv))
    assert r.code == 2, r
    assert "Traceback" not in r.err
    assert len(r.err.splitlines()) == 1, r.err
    assert r.err.startswith("v2gate"), r.err
    assert says in r.err, r.err
    assert sorted(p.name for p in own_lab.iterdir()) == before  # nothing written
    assert not (own_lab.parent / "new").exists()


def test_check_of_an_empty_folder_says_so(v2gate: Run, tmp_path: Path) -> None:
    r = v2gate("pki", "check", tmp_path)
    assert r.code == 2 and "no certificate (.pem .crt .cer) or key (.key) files" in r.err


def test_issue_refuses_a_ca_key_that_is_not_the_cas(v2gate: Run, own_lab: Path) -> None:
    shutil.copy2(own_lab / "mo_sub2.key", own_lab / "v2g_sub2.key")
    r = v2gate("pki", "issue", "--ca", own_lab / "v2g_sub2", "--role", "secc", "--cn", "a",
               "--org", "b", "--out", own_lab / "x")
    assert r.code == 2 and not (own_lab / "x.pem").exists()
    assert r.err == (f"v2gate pki issue: {own_lab / 'v2g_sub2.key'} is not the key of "
                     f"{own_lab / 'v2g_sub2.pem'}\n")


def test_check_looks_in_the_gateway_folder_by_default(v2gate: Run, lab: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("host.pki.check.DEFAULT_DIR", lab / "absent")
    r = v2gate("pki", "check")
    assert (r.code, r.err) == (2, f"v2gate pki check: {lab / 'absent'}: no such file or folder\n")
    monkeypatch.setattr("host.pki.check.DEFAULT_DIR", lab)
    assert v2gate("pki", "check").code == 0
