"""The station's certificates: InstallCertificate / GetInstalledCertificateIds /
DeleteCertificate with OCPP hash data (checked against `cryptography`'s own OCSP CertID
hashes), SignCertificate -> CertificateSigned (key 0600, the new chain checked before it
replaces the old pair; a wrong chain leaves the old one), OCSP request data. Every payload
schema-valid on 2.1 and 2.0.1."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from host.ocpp import rpc
from host.ocpp.certstore import CertificateStore, hash_data, ocsp_request_data
from host.pki.issue import Issued, certificate, name
from host.pki.profiles import ROLES
from tests.host.ev.pnc_setup import shared_pki

SUBJECT = name("CS-0001", "v2gate", "DE", "CPO")


def pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def valid(action: str, payload: dict, kind: int = rpc.CALL,
          versions: tuple[str, ...] = ("2.1", "2.0.1")) -> dict:  # fmt: skip
    for version in versions:
        assert rpc.schema_error(kind, action, payload, version) is None, (version, action, payload)
    return payload


def store(tmp_path: Path) -> CertificateStore:
    return CertificateStore(tmp_path / "certs", SUBJECT)


def test_hash_data_is_the_ocsp_cert_id() -> None:
    pki = shared_pki()
    leaf, issuer = pki.v2g.leaf.cert, pki.v2g.sub2.cert
    req = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA256()).build()
    got = hash_data(leaf, issuer)
    assert got == {"hashAlgorithm": "SHA256", "issuerNameHash": req.issuer_name_hash.hex(),
                   "issuerKeyHash": req.issuer_key_hash.hex(),
                   "serialNumber": format(req.serial_number, "x")}  # fmt: skip


def test_install_list_and_delete_roots(tmp_path: Path) -> None:
    pki = shared_pki()
    s = store(tmp_path)
    assert valid("GetInstalledCertificateIds", s.get_ids({}), rpc.CALLRESULT) == {"status": "NotFound"}
    for kind, cert in (("V2GRootCertificate", pki.v2g.root.cert), ("MORootCertificate", pki.mo.root.cert)):
        req = valid("InstallCertificate", {"certificateType": kind, "certificate": pem(cert)})
        assert valid("InstallCertificate", s.install(req), rpc.CALLRESULT) == {"status": "Accepted"}
    sub = s.install({"certificateType": "V2GRootCertificate", "certificate": pem(pki.v2g.sub1.cert)})
    assert sub["status"] == "Rejected" and "self-signed" in sub["statusInfo"]["additionalInfo"]
    ids = valid("GetInstalledCertificateIds", s.get_ids({"certificateType": ["MORootCertificate"]}),
                rpc.CALLRESULT)  # fmt: skip
    [mo] = ids["certificateHashDataChain"]
    assert mo == {"certificateType": "MORootCertificate",
                  "certificateHashData": hash_data(pki.mo.root.cert, pki.mo.root.cert)}  # fmt: skip
    wanted = dict(mo["certificateHashData"], serialNumber="00" + mo["certificateHashData"]["serialNumber"].upper())
    assert valid("DeleteCertificate", s.delete({"certificateHashData": wanted}), rpc.CALLRESULT) == {
        "status": "Accepted"}  # leading zeroes and case do not matter
    assert s.delete({"certificateHashData": mo["certificateHashData"]}) == {"status": "NotFound"}
    left = s.get_ids({})["certificateHashDataChain"]
    assert [c["certificateType"] for c in left] == ["V2GRootCertificate"]


def cpo_sign(csr_pem: str, *, days: int = 60, now: dt.datetime | None = None) -> list[x509.Certificate]:
    """The CSMS's side: a SECC certificate for the CSR under the test PKI's CPO Sub-CA 2."""
    pki = shared_pki()
    req = x509.load_pem_x509_csr(csr_pem.encode())
    sub2 = Issued(pki.v2g.sub2.cert, pki.v2g.sub2.key)
    leaf = certificate(req.subject, req.public_key(), ROLES["secc"], issuer=sub2,
                       signer=pki.v2g.sub2.key, now=now or dt.datetime.now(dt.UTC), days=days)  # type: ignore[arg-type]  # fmt: skip
    return [leaf, pki.v2g.sub2.cert, pki.v2g.sub1.cert]


def test_sign_certificate_then_certificate_signed_replaces_the_pair(tmp_path: Path) -> None:
    pki = shared_pki()
    s = store(tmp_path)
    s.install({"certificateType": "V2GRootCertificate", "certificate": pem(pki.v2g.root.cert)})
    req = valid("SignCertificate", s.sign_request("V2GCertificate", request_id=3), versions=("2.1",))
    valid("SignCertificate", {k: v for k, v in req.items() if k != "requestId"})  # 2.0.1's form
    key_new = tmp_path / "certs" / "V2GCertificate.key.new"
    assert stat.S_IMODE(key_new.stat().st_mode) == 0o600
    csr = x509.load_pem_x509_csr(req["csr"].encode())
    assert csr.is_signature_valid and csr.subject == SUBJECT
    chain = cpo_sign(req["csr"])
    signed = valid("CertificateSigned", {"certificateChain": pem(*chain),
                                         "certificateType": "V2GCertificate", "requestId": 3},
                   versions=("2.1",))  # fmt: skip
    assert valid("CertificateSigned", s.certificate_signed(signed), rpc.CALLRESULT) == {"status": "Accepted"}
    key = tmp_path / "certs" / "V2GCertificate.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and not key_new.exists()
    assert s.chain("V2GCertificate")[0] == chain[0]
    [v2g] = s.get_ids({"certificateType": ["V2GCertificateChain"]})["certificateHashDataChain"]
    assert v2g["certificateHashData"] == hash_data(chain[0], chain[1])
    assert len(v2g["childCertificateHashData"]) == 2  # the two Sub-CAs
    assert s.delete({"certificateHashData": v2g["certificateHashData"]})["status"] == "Failed"


@pytest.mark.parametrize(("bad", "says"), [
    ("expired", "expired"),
    ("other key", "does not match"),
    ("no root", "no issuer"),
])  # fmt: skip
def test_a_chain_that_does_not_check_leaves_the_old_pair(tmp_path: Path, bad: str, says: str) -> None:
    pki = shared_pki()
    s = store(tmp_path)
    s.install({"certificateType": "V2GRootCertificate", "certificate": pem(pki.v2g.root.cert)})
    first = s.sign_request("V2GCertificate")
    assert s.certificate_signed({"certificateChain": pem(*cpo_sign(first["csr"])),
                                 "certificateType": "V2GCertificate"})["status"] == "Accepted"  # fmt: skip
    old = s.chain("V2GCertificate")
    old_key = (tmp_path / "certs" / "V2GCertificate.key").read_bytes()
    req = s.sign_request("V2GCertificate")
    if bad == "expired":
        chain = cpo_sign(req["csr"], days=1, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=5))
    elif bad == "other key":
        chain = cpo_sign(first["csr"])  # a certificate for the old key, not the waiting one
    else:
        chain = cpo_sign(req["csr"])[:1] + [pki.mo.sub2.cert]  # a chain to nowhere we trust
    res = valid("CertificateSigned", s.certificate_signed(
        {"certificateChain": pem(*chain), "certificateType": "V2GCertificate"}), rpc.CALLRESULT)  # fmt: skip
    assert res["status"] == "Rejected" and says in res["statusInfo"]["additionalInfo"], res
    assert s.chain("V2GCertificate") == old
    assert (tmp_path / "certs" / "V2GCertificate.key").read_bytes() == old_key


def test_ocsp_request_data_from_the_certificate() -> None:
    pki = shared_pki()
    leaf, issuer = pki.v2g.leaf.cert, pki.v2g.sub2.cert
    assert ocsp_request_data(leaf, issuer) is None  # the test PKI names no responder
    url = "http://ocsp.example.test/v2g"
    aia = x509.AuthorityInformationAccess([x509.AccessDescription(
        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(url))])  # fmt: skip
    with_ocsp = (x509.CertificateBuilder().subject_name(leaf.subject).issuer_name(issuer.subject)
                 .public_key(leaf.public_key()).serial_number(0x0123ABCD)
                 .not_valid_before(leaf.not_valid_before_utc).not_valid_after(leaf.not_valid_after_utc)
                 .add_extension(aia, critical=False)
                 .sign(pki.v2g.sub2.key, hashes.SHA256()))  # fmt: skip
    data = ocsp_request_data(with_ocsp, issuer)
    assert data is not None
    assert (data["responderURL"], data["serialNumber"]) == (url, "123abcd")
    valid("GetCertificateStatus", {"ocspRequestData": data})


@pytest.mark.parametrize("subprotocol", ["ocpp2.0.1", "ocpp2.1"])
def test_the_routes_through_the_machine(tmp_path: Path, subprotocol: str) -> None:
    import json

    from host.ocpp.certstore import attach

    from .helpers import T0, accepted, answer, sent

    pki = shared_pki()
    st = accepted(tmp_path, subprotocol)
    s = store(tmp_path)
    attach(st, s)
    install = {"certificateType": "V2GRootCertificate", "certificate": pem(pki.v2g.root.cert)}
    st.receive(json.dumps([2, "i1", "InstallCertificate", install]), T0)
    assert sent(st) == [[3, "i1", {"status": "Accepted"}]]
    got: list = []
    st.call_with_result("SignCertificate", s.sign_request("V2GCertificate"), T0,
                        lambda res, why: got.append(res))  # fmt: skip
    [call] = sent(st)
    answer(st, call, {"status": "Accepted"}, T0)
    assert got == [{"status": "Accepted"}]
    chain = cpo_sign(call[3]["csr"])
    signed = {"certificateChain": pem(*chain), "certificateType": "V2GCertificate"}
    st.receive(json.dumps([2, "s1", "CertificateSigned", signed]), T0)
    assert sent(st) == [[3, "s1", {"status": "Accepted"}]]
    st.receive(json.dumps([2, "g1", "GetInstalledCertificateIds", {}]), T0)
    [[_, _, ids]] = sent(st)
    assert [c["certificateType"] for c in ids["certificateHashDataChain"]] == [
        "V2GRootCertificate", "V2GCertificateChain"]
