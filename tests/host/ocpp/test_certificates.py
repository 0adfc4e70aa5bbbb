"""The station's certificates through the station logic and the machine: SignCertificate
(TriggerMessage, CSR from a new key kept 0600) -> CertificateSigned (the chain checked
before it replaces the old pair; a wrong one leaves it), InstallCertificate,
GetInstalledCertificateIds, DeleteCertificate with OCPP hash data (checked against
`cryptography`'s own OCSP CertID hashes), GetCertificateStatus. Payloads schema-valid on
2.1 and 2.0.1. Get15118EVCertificate: test_evcertificate.py."""

from __future__ import annotations

import datetime as dt
import stat
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from host.ocpp import rpc
from host.ocpp.auth import Authorization
from host.ocpp.certificates import (
    CertificateInstalled,
    CertificateManager,
    hash_data,
    ocsp_request_data,
)
from host.ocpp.chargingstation import ChargingStation
from host.ocpp.events import CallAnswered
from host.pki.issue import Issued, certificate
from host.pki.profiles import ROLES
from tests.host.ev.pnc_setup import shared_pki

from .helpers import T0, answer, boot_ok, make_station, one, sent
from .scripted import ScriptedStation
from .test_chargingstation import Csms

NOW = dt.datetime.fromtimestamp(T0, dt.UTC)


# the station's clock for the certificate checks: the wall clock when each test starts
# (set by `_wall`, not at import: in a full run the module is imported many minutes
# before its tests, and certificates made during the test were "not valid before" it)
WALL = time.time()


@pytest.fixture(autouse=True)
def _wall() -> None:
    global WALL
    WALL = time.time()


def setup(tmp_path: Path, answers: dict | None = None, subprotocol: str = "ocpp2.0.1",
          ) -> tuple[Csms, CertificateManager, list]:  # fmt: skip
    conn = make_station(tmp_path)
    installed: list[CertificateInstalled] = []
    certs = CertificateManager(conn, tmp_path / "certs", common_name="SN1", v2g_name="DE*V2G*E1",
                               on_installed=installed.append)  # fmt: skip
    cs = ChargingStation(conn, ScriptedStation(), Authorization(conn.queue.db, conn.model),
                         evses=(1, 2), certificates=certs)  # fmt: skip
    conn.connection_made(subprotocol, T0)
    boot = one(conn)
    answer(conn, boot, boot_ok(boot), T0)
    csms = Csms(conn, cs, answers)
    csms.settle()
    csms.take()
    return csms, certs, installed


def ca(tmp_path: Path, cn: str = "CSO Root") -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A root valid around T0 (the tests' clock, not the machine's)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)])
    root = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))  # fmt: skip
    return root, key


def sign_csr(request: str, root: x509.Certificate, key: ec.EllipticCurvePrivateKey, *,
             days: tuple[int, int] = (-1, 30), public=None) -> x509.Certificate:  # fmt: skip
    csr = x509.load_pem_x509_csr(request.encode())
    assert csr.is_signature_valid
    return (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(root.subject)
            .public_key(public or csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW + dt.timedelta(days=days[0]))
            .not_valid_after(NOW + dt.timedelta(days=days[1]))
            .sign(key, hashes.SHA256()))  # fmt: skip


def pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def trigger_sign(csms: Csms, what: str, now: float = T0) -> str:
    assert csms.request("TriggerMessage", {"requestedMessage": what}, now)[2] == {"status": "Accepted"}
    (req,) = csms.take("SignCertificate")
    return req["csr"]


def valid(action: str, payload: dict, kind: int = rpc.CALL,
          versions: tuple[str, ...] = ("2.1", "2.0.1")) -> dict:  # fmt: skip
    for version in versions:
        assert rpc.schema_error(kind, action, payload, version) is None, (version, action, payload)
    return payload


def ask(csms: Csms, action: str, payload: dict, now: float | None = None,
        versions: tuple[str, ...] = ("2.1", "2.0.1")) -> dict:  # fmt: skip
    """A CSMS request, schema-valid both ways on ``versions``; the station's answer."""
    when = WALL if now is None else now
    res = csms.request(action, valid(action, payload, versions=versions), when)[2]
    return valid(action, res, rpc.CALLRESULT, versions)


def install_root(csms: Csms, cert: x509.Certificate, kind: str = "V2GRootCertificate",
                 now: float = T0) -> None:  # fmt: skip
    assert ask(csms, "InstallCertificate", {"certificateType": kind, "certificate": pem(cert)},
               now) == {"status": "Accepted"}  # fmt: skip


def test_sign_then_certificate_signed_installs_chain_and_0600_key(tmp_path: Path) -> None:
    csms, certs, installed = setup(tmp_path, {"SignCertificate": lambda p: {"status": "Accepted"}})
    root, root_key = ca(tmp_path)
    install_root(csms, root, "CSMSRootCertificate")
    request = trigger_sign(csms, "SignChargingStationCertificate")
    pending = tmp_path / "certs" / "ChargingStationCertificate.pending.key"
    assert stat.S_IMODE(pending.stat().st_mode) == 0o600
    subject = x509.load_pem_x509_csr(request.encode()).subject
    assert subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "SN1"
    leaf = sign_csr(request, root, root_key)
    res = csms.request("CertificateSigned", {"certificateChain": pem(leaf, root),
                                             "certificateType": "ChargingStationCertificate"})  # fmt: skip
    assert res[2] == {"status": "Accepted"}
    key_path = tmp_path / "certs" / "ChargingStationCertificate.key"
    assert installed == [CertificateInstalled("ChargingStationCertificate",
                                              tmp_path / "certs" / "ChargingStationCertificate.pem",
                                              key_path)]  # fmt: skip
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600 and not pending.exists()
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert key.public_key() == leaf.public_key()
    # the same answer again: nothing is pending any more
    again = csms.request("CertificateSigned", {"certificateChain": pem(leaf, root)})
    assert again[2]["status"] == "Rejected"


@pytest.mark.parametrize("bad", ["other key", "expired", "wrong issuer", "garbage", "root not installed"])
def test_certificate_signed_refuses_what_does_not_fit(tmp_path: Path, bad: str) -> None:
    csms, certs, installed = setup(tmp_path, {"SignCertificate": lambda p: {"status": "Accepted"}})
    root, root_key = ca(tmp_path)
    if bad != "root not installed":
        install_root(csms, root)
    request = trigger_sign(csms, "SignV2GCertificate")
    if bad == "garbage":
        chain = "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"
    elif bad == "other key":
        chain = pem(sign_csr(request, root, root_key, public=ec.generate_private_key(ec.SECP256R1()).public_key()))
    elif bad == "expired":
        chain = pem(sign_csr(request, root, root_key, days=(-30, -1)))
    elif bad == "wrong issuer":  # the root we trust is installed, but the chain names another
        other_root, _ = ca(tmp_path, "Other Root")
        chain = pem(sign_csr(request, root, root_key), other_root)
    else:
        chain = pem(sign_csr(request, root, root_key))
    res = csms.request("CertificateSigned", {"certificateChain": chain, "certificateType": "V2GCertificate"})
    assert res[2]["status"] == "Rejected" and installed == []
    assert (tmp_path / "certs" / "V2GCertificate.pending.key").exists()  # still waiting


def test_install_list_and_delete_roots(tmp_path: Path) -> None:
    csms, certs, installed = setup(tmp_path)
    root, root_key = ca(tmp_path)
    second, _ = ca(tmp_path, "Second Root")
    csr = x509.CertificateSigningRequestBuilder().subject_name(second.subject).sign(root_key, hashes.SHA256())
    leaf = sign_csr(csr.public_bytes(serialization.Encoding.PEM).decode(), root, root_key)
    assert csms.request("GetInstalledCertificateIds", {})[2] == {"status": "NotFound"}
    for use, cert in [("CSMSRootCertificate", root), ("V2GRootCertificate", second),
                      ("V2GRootCertificate", root)]:  # fmt: skip
        res = csms.request("InstallCertificate", {"certificateType": use, "certificate": pem(cert)})
        assert res[2] == {"status": "Accepted"}
    res = csms.request("InstallCertificate", {"certificateType": "MORootCertificate", "certificate": pem(leaf)})
    assert res[2]["status"] == "Rejected"  # not a CA
    ids = csms.request("GetInstalledCertificateIds", {"certificateType": ["V2GRootCertificate"]})[2]
    assert ids["status"] == "Accepted" and len(ids["certificateHashDataChain"]) == 2
    cert_id = ocsp.OCSPRequestBuilder().add_certificate(root, root, hashes.SHA256()).build()
    expected = {"hashAlgorithm": "SHA256", "issuerNameHash": cert_id.issuer_name_hash.hex(),
                "issuerKeyHash": cert_id.issuer_key_hash.hex(), "serialNumber": f"{root.serial_number:x}"}  # fmt: skip
    assert {"certificateType": "V2GRootCertificate", "certificateHashData": expected} in ids["certificateHashDataChain"]
    assert csms.request("DeleteCertificate", {"certificateHashData": expected})[2] == {"status": "Accepted"}
    assert [c.subject for _p, c in certs.roots("V2GRootCertificate")] == [second.subject]
    # the same root as CSMS root is the last one: the station would lock itself out
    assert csms.request("DeleteCertificate", {"certificateHashData": expected})[2]["status"] == "Failed"
    gone = dict(expected, serialNumber="1234")
    assert csms.request("DeleteCertificate", {"certificateHashData": gone})[2] == {"status": "NotFound"}


def test_v2g_chain_is_listed_with_its_sub_ca(tmp_path: Path) -> None:
    csms, certs, installed = setup(tmp_path, {"SignCertificate": lambda p: {"status": "Accepted"}})
    root, root_key = ca(tmp_path)
    csms.request("InstallCertificate", {"certificateType": "V2GRootCertificate", "certificate": pem(root)})
    sub_key = ec.generate_private_key(ec.SECP256R1())
    sub = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "CPO Sub-CA")]))
           .issuer_name(root.subject).public_key(sub_key.public_key()).serial_number(77)
           .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=9))
           .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
           .sign(root_key, hashes.SHA256()))  # fmt: skip
    request = trigger_sign(csms, "SignV2GCertificate")
    dc = x509.load_pem_x509_csr(request.encode()).subject.get_attributes_for_oid(x509.NameOID.DOMAIN_COMPONENT)
    assert dc[0].value == "CPO"  # ISO 15118-2's SECC certificate profile
    leaf = sign_csr(request, sub, sub_key)
    assert csms.request("CertificateSigned", {"certificateChain": pem(leaf, sub),
                                              "certificateType": "V2GCertificate"})[2] == {"status": "Accepted"}  # fmt: skip
    ids = csms.request("GetInstalledCertificateIds", {"certificateType": ["V2GCertificateChain"]})[2]
    (entry,) = ids["certificateHashDataChain"]
    assert entry["certificateHashData"]["serialNumber"] == f"{leaf.serial_number:x}"
    sub_id = ocsp.OCSPRequestBuilder().add_certificate(sub, root, hashes.SHA256()).build()
    assert entry["childCertificateHashData"] == [{"hashAlgorithm": "SHA256", "serialNumber": "4d",
                                                  "issuerNameHash": sub_id.issuer_name_hash.hex(),
                                                  "issuerKeyHash": sub_id.issuer_key_hash.hex()}]  # fmt: skip


def with_ocsp(url: str) -> tuple[x509.Certificate, x509.Certificate]:
    """The test PKI's SECC leaf again, naming an OCSP responder; and its issuer."""
    pki = shared_pki()
    leaf, issuer = pki.v2g.leaf.cert, pki.v2g.sub2.cert
    aia = x509.AuthorityInformationAccess([x509.AccessDescription(
        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(url))])  # fmt: skip
    cert = (x509.CertificateBuilder().subject_name(leaf.subject).issuer_name(issuer.subject)
            .public_key(leaf.public_key()).serial_number(0x0123ABCD)
            .not_valid_before(leaf.not_valid_before_utc).not_valid_after(leaf.not_valid_after_utc)
            .add_extension(aia, critical=False)
            .sign(pki.v2g.sub2.key, hashes.SHA256()))  # fmt: skip
    return cert, issuer


def test_ocsp_request_data_from_the_certificate() -> None:
    pki = shared_pki()
    assert ocsp_request_data(pki.v2g.leaf.cert, pki.v2g.sub2.cert) is None  # names no responder
    url = "http://ocsp.example.test/v2g"
    cert, issuer = with_ocsp(url)
    data = ocsp_request_data(cert, issuer)
    assert data is not None
    assert (data["responderURL"], data["serialNumber"]) == (url, "123abcd")
    valid("GetCertificateStatus", {"ocspRequestData": data})


def test_certificate_status_asks_the_csms(tmp_path: Path) -> None:
    csms, certs, installed = setup(tmp_path, {
        "GetCertificateStatus": lambda p: {"status": "Accepted", "ocspResult": "b2s="}})  # fmt: skip
    pki = shared_pki()
    assert not certs.certificate_status(pki.v2g.leaf.cert, pki.v2g.sub2.cert, T0)  # nobody to ask
    assert sent(csms.conn) == []
    cert, issuer = with_ocsp("http://ocsp.example/")
    got: list = []
    assert certs.certificate_status(cert, issuer, T0, lambda res, why: got.append((res, why)))
    (call,) = sent(csms.conn)
    assert call[2] == "GetCertificateStatus"
    assert call[3]["ocspRequestData"] == hash_data(cert, issuer) | {"responderURL": "http://ocsp.example/"}
    answer(csms.conn, call, csms.answers[call[2]](call[3]), T0)
    assert got == [({"status": "Accepted", "ocspResult": "b2s="}, "")]
    answered = [e for e in csms.cs.poll(T0) if isinstance(e, CallAnswered)]
    assert [(e.action, e.response["status"]) for e in answered] == [("GetCertificateStatus", "Accepted")]


def test_hash_data_is_the_ocsp_cert_id() -> None:
    pki = shared_pki()
    leaf, issuer = pki.v2g.leaf.cert, pki.v2g.sub2.cert
    for algorithm, h in (("SHA256", hashes.SHA256()), ("SHA384", hashes.SHA384())):
        req = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, h).build()
        assert hash_data(leaf, issuer, algorithm) == {
            "hashAlgorithm": algorithm, "issuerNameHash": req.issuer_name_hash.hex(),
            "issuerKeyHash": req.issuer_key_hash.hex(), "serialNumber": format(req.serial_number, "x")}  # fmt: skip


@pytest.mark.parametrize("subprotocol", ["ocpp2.0.1", "ocpp2.1"])
def test_install_list_and_delete_test_pki_roots(tmp_path: Path, subprotocol: str) -> None:
    pki = shared_pki()
    csms, certs, installed = setup(tmp_path, subprotocol=subprotocol)
    assert ask(csms, "GetInstalledCertificateIds", {}) == {"status": "NotFound"}
    for kind, cert in (("V2GRootCertificate", pki.v2g.root.cert), ("MORootCertificate", pki.mo.root.cert)):
        install_root(csms, cert, kind, WALL)
    sub = ask(csms, "InstallCertificate", {"certificateType": "V2GRootCertificate",
                                           "certificate": pem(pki.v2g.sub1.cert)})  # fmt: skip
    assert sub["status"] == "Rejected" and "self-signed" in sub["statusInfo"]["additionalInfo"]
    two = ask(csms, "InstallCertificate", {"certificateType": "MORootCertificate",
                                           "certificate": pem(pki.mo.root.cert, pki.v2g.root.cert)})  # fmt: skip
    assert two["status"] == "Rejected"
    ids = ask(csms, "GetInstalledCertificateIds", {"certificateType": ["MORootCertificate"]})
    [mo] = ids["certificateHashDataChain"]
    assert mo == {"certificateType": "MORootCertificate",
                  "certificateHashData": hash_data(pki.mo.root.cert, pki.mo.root.cert)}  # fmt: skip
    serial = mo["certificateHashData"]["serialNumber"]
    wanted = dict(mo["certificateHashData"], serialNumber="0" * min(2, 40 - len(serial)) + serial.upper())
    assert ask(csms, "DeleteCertificate", {"certificateHashData": wanted}) == {
        "status": "Accepted"}  # leading zeroes and case do not matter
    assert ask(csms, "DeleteCertificate", {"certificateHashData": mo["certificateHashData"]}) == {
        "status": "NotFound"}  # fmt: skip
    left = ask(csms, "GetInstalledCertificateIds", {})["certificateHashDataChain"]
    assert [c["certificateType"] for c in left] == ["V2GRootCertificate"]


def cpo_sign(csr_pem: str, *, days: int = 60, now: dt.datetime | None = None) -> list[x509.Certificate]:
    """The CSMS's side: a SECC certificate for the CSR under the test PKI's CPO Sub-CA 2."""
    pki = shared_pki()
    req = x509.load_pem_x509_csr(csr_pem.encode())
    sub2 = Issued(pki.v2g.sub2.cert, pki.v2g.sub2.key)
    leaf = certificate(req.subject, req.public_key(), ROLES["secc"], issuer=sub2,
                       signer=pki.v2g.sub2.key, now=now or dt.datetime.fromtimestamp(WALL, dt.UTC), days=days)  # type: ignore[arg-type]  # fmt: skip
    return [leaf, pki.v2g.sub2.cert, pki.v2g.sub1.cert]


def test_sign_v2g_certificate_on_2_1_then_certificate_signed_replaces_the_pair(tmp_path: Path) -> None:
    pki = shared_pki()
    csms, certs, installed = setup(tmp_path, {"SignCertificate": lambda p: {"status": "Accepted"}}, "ocpp2.1")
    install_root(csms, pki.v2g.root.cert, now=WALL)
    certs.sign("V2GCertificate", WALL, request_id=3)
    (call,) = sent(csms.conn)
    req = valid("SignCertificate", call[3], versions=("2.1",))
    valid("SignCertificate", {k: v for k, v in req.items() if k != "requestId"})  # 2.0.1's form
    answer(csms.conn, call, {"status": "Accepted"}, WALL)
    csr = x509.load_pem_x509_csr(req["csr"].encode())
    assert csr.is_signature_valid
    assert [a.value for a in csr.subject] == ["DE*V2G*E1", "v2gate", "DE", "CPO"]
    chain = cpo_sign(req["csr"])
    assert ask(csms, "CertificateSigned", {"certificateChain": pem(*chain), "requestId": 3,
                                           "certificateType": "V2GCertificate"}, versions=("2.1",)) == {"status": "Accepted"}  # fmt: skip
    key = tmp_path / "certs" / "V2GCertificate.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert certs.chain("V2GCertificate")[0] == chain[0]
    [v2g] = ask(csms, "GetInstalledCertificateIds",
                {"certificateType": ["V2GCertificateChain"]})["certificateHashDataChain"]  # fmt: skip
    assert v2g["certificateHashData"] == hash_data(chain[0], chain[1])
    assert v2g["childCertificateHashData"] == [hash_data(chain[1], chain[2]),
                                               hash_data(chain[2], pki.v2g.root.cert)]  # the two Sub-CAs
    refused = ask(csms, "DeleteCertificate", {"certificateHashData": v2g["certificateHashData"]})
    assert refused["status"] == "Failed"  # our own certificate is replaced, not deleted


@pytest.mark.parametrize(("bad", "says"), [
    ("expired", "expired"),
    ("other key", "does not match"),
    ("no root", "no issuer"),
])  # fmt: skip
def test_a_chain_that_does_not_check_leaves_the_old_pair(tmp_path: Path, bad: str, says: str) -> None:
    pki = shared_pki()
    csms, certs, installed = setup(tmp_path, {"SignCertificate": lambda p: {"status": "Accepted"}})
    install_root(csms, pki.v2g.root.cert, now=WALL)
    first = trigger_sign(csms, "SignV2GCertificate", WALL)
    assert ask(csms, "CertificateSigned", {"certificateChain": pem(*cpo_sign(first)),
                                           "certificateType": "V2GCertificate"})["status"] == "Accepted"  # fmt: skip
    old = certs.chain("V2GCertificate")
    old_key = (tmp_path / "certs" / "V2GCertificate.key").read_bytes()
    request = trigger_sign(csms, "SignV2GCertificate", WALL)
    if bad == "expired":
        chain = cpo_sign(request, days=1, now=dt.datetime.fromtimestamp(WALL, dt.UTC) - dt.timedelta(days=5))
    elif bad == "other key":
        chain = cpo_sign(first)  # a certificate for the old key, not the waiting one
    else:
        chain = cpo_sign(request)[:1]  # without its Sub-CAs: no path to the root we trust
    res = ask(csms, "CertificateSigned", {"certificateChain": pem(*chain), "certificateType": "V2GCertificate"})
    assert res["status"] == "Rejected" and says in res["statusInfo"]["additionalInfo"], res
    assert certs.chain("V2GCertificate") == old and len(installed) == 1
    assert (tmp_path / "certs" / "V2GCertificate.key").read_bytes() == old_key
