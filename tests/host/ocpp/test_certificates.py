"""Certificate management: SignCertificate with a CSR from our key (kept 0600) ->
CertificateSigned, InstallCertificate, GetInstalledCertificateIds, DeleteCertificate,
Get15118EVCertificate and GetCertificateStatus; hash data checked against cryptography's
own OCSP CertID."""

from __future__ import annotations

import base64
import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from host.ocpp.auth import Authorization
from host.ocpp.certificates import CertificateInstalled, CertificateManager
from host.ocpp.chargingstation import ChargingStation
from host.ocpp.events import CallAnswered

from .helpers import T0, answer, boot_ok, make_station, one, sent
from .scripted import ScriptedStation
from .test_chargingstation import Csms

NOW = dt.datetime.fromtimestamp(T0, dt.UTC)


def setup(tmp_path: Path, answers: dict | None = None) -> tuple[Csms, CertificateManager, list]:
    conn = make_station(tmp_path)
    installed: list[CertificateInstalled] = []
    certs = CertificateManager(conn, tmp_path / "certs", common_name="SN1", v2g_name="DE*V2G*E1",
                               on_installed=installed.append)  # fmt: skip
    cs = ChargingStation(conn, ScriptedStation(), Authorization(conn.queue.db, conn.model),
                         evses=(1, 2), certificates=certs)  # fmt: skip
    conn.connection_made("ocpp2.0.1", T0)
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


def trigger_sign(csms: Csms, what: str) -> str:
    assert csms.request("TriggerMessage", {"requestedMessage": what})[2] == {"status": "Accepted"}
    (req,) = csms.take("SignCertificate")
    return req["csr"]


def test_sign_then_certificate_signed_installs_chain_and_0600_key(tmp_path: Path) -> None:
    csms, certs, installed = setup(tmp_path, {"SignCertificate": lambda p: {"status": "Accepted"}})
    root, root_key = ca(tmp_path)
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


@pytest.mark.parametrize("bad", ["other key", "expired", "wrong issuer", "garbage"])
def test_certificate_signed_refuses_what_does_not_fit(tmp_path: Path, bad: str) -> None:
    csms, certs, installed = setup(tmp_path, {"SignCertificate": lambda p: {"status": "Accepted"}})
    root, root_key = ca(tmp_path)
    request = trigger_sign(csms, "SignV2GCertificate")
    if bad == "garbage":
        chain = "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"
    elif bad == "other key":
        chain = pem(sign_csr(request, root, root_key, public=ec.generate_private_key(ec.SECP256R1()).public_key()))
    elif bad == "expired":
        chain = pem(sign_csr(request, root, root_key, days=(-30, -1)))
    else:
        other_root, _ = ca(tmp_path, "Other Root")
        chain = pem(sign_csr(request, root, root_key), other_root)
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
    assert [c.subject for c in certs.installed("V2GRootCertificate")] == [second.subject]
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


def test_ev_certificate_and_ocsp_status_calls(tmp_path: Path) -> None:
    exi = base64.b64encode(b"\x80\x00 not really EXI").decode()
    csms, certs, installed = setup(tmp_path, {
        "Get15118EVCertificate": lambda p: {"status": "Accepted", "exiResponse": p["exiRequest"]},
        "GetCertificateStatus": lambda p: {"status": "Accepted", "ocspResult": "b2s="}})  # fmt: skip
    root, _ = ca(tmp_path)
    certs.ev_certificate("urn:iso:15118:2:2013:MsgDef", "Install", exi, T0)
    certs.certificate_status(root, root, "http://ocsp.example/", T0)
    answered, calls = [], {}
    for _ in range(2):  # one CALL outstanding at a time
        (call,) = sent(csms.conn)
        calls[call[2]] = call[3]
        answer(csms.conn, call, csms.answers[call[2]](call[3]), T0)
        answered += [e for e in csms.cs.poll(T0) if isinstance(e, CallAnswered)]
    assert calls["Get15118EVCertificate"]["exiRequest"] == exi
    assert calls["GetCertificateStatus"]["ocspRequestData"]["responderURL"] == "http://ocsp.example/"
    assert sorted((e.action, e.response["status"]) for e in answered) == [
        ("Get15118EVCertificate", "Accepted"), ("GetCertificateStatus", "Accepted")]
