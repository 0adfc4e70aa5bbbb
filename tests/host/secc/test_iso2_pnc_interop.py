"""The `iso15118` package's EVCC (a third-party EV, Java EXI) against our ISO 15118-2 SECC
over TLS 1.2 on a veth pair in two network namespaces, with Plug & Charge: its contract
chain comes from our test PKI, laid out in the folder structure that EVCC reads
(``PKI_PATH/iso15118_2/certs``, ``.../private_keys``); it selects Contract, sends
PaymentDetailsReq, signs AuthorizationReq (and, in AC, MeteringReceiptReq: it ignores
ReceiptRequired in CurrentDemandRes); in AC it first installs a contract through our
CertificateInstallation and the in-process CPS. Each of AC and DC runs to SessionStopRes with no FAILED code on either side."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from host.bench.dcplant import DcPlant, StageLimits
from host.bench.veth import VethPair, in_netns
from host.pki import files
from host.secc.controller import SimEvseController
from host.secc.iso2 import iso2_factory
from host.v2g import tls
from host.v2g.sap import ISO2
from tests.host.ev.pnc_setup import secc_pnc, shared_pki
from tests.host.interop import (
    check_stopped,
    peer_python,
    ready_pair,
    serve_their_evcc,
    their_evcc_config,
)
from tests.pki import Pki

pytestmark = pytest.mark.interop
PORT = 50324
BUDGET = 90.0  # s; their EVCC does not exit after a failed session, so we bound it
CONFIGS = {
    # AC also installs a contract first (CertificateInstallation through our LocalCps): their
    # EV checks the CPS's signature over the four elements and the CPS chain to the V2G root
    "AC": {"supportedEnergyServices": ["AC"], "energyTransferMode": "AC_three_phase_core",
           "isCertInstallNeeded": True},
    "DC": {"supportedEnergyServices": ["DC"], "energyTransferMode": "DC_extended"},
}
PNC = {
    "AC": ["ServiceDetailReq", "PaymentServiceSelectionReq", "CertificateInstallationReq",
           "PaymentDetailsReq", "AuthorizationReq", "ChargeParameterDiscoveryReq"],
    "DC": ["PaymentServiceSelectionReq", "PaymentDetailsReq", "AuthorizationReq",
           "ChargeParameterDiscoveryReq"],
}  # fmt: skip


def their_pki_layout(pki: Pki, root: Path) -> Path:
    """Our test PKI as that EVCC reads it: DER certificates (and the V2G root as PEM for its
    TLS context) under iso15118_2/certs, PEM keys (0600) and their password files (empty:
    our keys are not encrypted) under iso15118_2/private_keys. Returns PKI_PATH."""
    certs = root / "iso15118_2" / "certs"
    keys = root / "iso15118_2" / "private_keys"
    certs.mkdir(parents=True)
    keys.mkdir(parents=True)

    def der(name: str, cert: x509.Certificate) -> None:
        (certs / name).write_bytes(cert.public_bytes(Encoding.DER))

    der("v2gRootCACert.der", pki.v2g.root.cert)
    files.write_certs(certs / "v2gRootCACert.pem", pki.v2g.root.cert)
    for prefix, chain in (("mo", pki.mo), ("oem", pki.oem)):
        der(f"{prefix}RootCACert.der", chain.root.cert)
        der(f"{prefix}SubCA1Cert.der", chain.sub1.cert)
        der(f"{prefix}SubCA2Cert.der", chain.sub2.cert)
    der("contractLeafCert.der", pki.mo.leaf.cert)
    der("oemLeafCert.der", pki.oem.leaf.cert)
    files.write_certs(certs / "oemRootCACert.pem", pki.oem.root.cert)
    files.write_certs(certs / "oemCertChain.pem", pki.oem.leaf.cert, pki.oem.sub2.cert,
                      pki.oem.sub1.cert)  # fmt: skip
    for stem, key in (("contractLeaf", pki.mo.leaf.key), ("oemLeaf", pki.oem.leaf.key)):
        files.write_key(keys / f"{stem}.key", key)
        (keys / f"{stem}Password.txt").write_text("")
    return root


class OneReceipt(SimEvseController):
    """Asks for one MeteringReceipt, after the first charging-loop answer (their EV counts
    only the loop messages towards its end, so a receipt every time never ends)."""

    asked = False

    def receipt_required(self, now: float) -> bool:
        first, self.asked = not self.asked, True
        return first


@pytest.mark.parametrize("service", ["AC", "DC"])
def test_their_evcc_charges_with_pnc_over_tls12(veth: VethPair, tmp_path: Path,
                                                service: str) -> None:  # fmt: skip
    python = peer_python()
    pki = shared_pki()
    ready_pair(veth, veth.ns_pev)
    their_evcc_config(veth, tmp_path, "ISO_15118_2", chargeLoopCycle=2, useTls=True,
                      **CONFIGS[service])  # fmt: skip
    pki_path = their_pki_layout(pki, tmp_path / "pki")
    with (tmp_path / ".env").open("a") as env:
        env.write(f"PKI_PATH={pki_path}/\nENABLE_TLS_1_3=False\n")
    plant = DcPlant(StageLimits(max_voltage=600.0, voltage_ramp=20_000.0), isolation_time=0.3)
    controller = OneReceipt(plant)
    events: list[object] = []
    factories = {ISO2.namespace: iso2_factory(lambda _c: controller, pnc=secc_pnc(pki))}
    ctx = tls.server_context(pki.v2g.chain_path, pki.v2g.leaf.key_path, tls13=False)
    out = in_netns(veth.ns_evse, lambda: asyncio.run(serve_their_evcc(
        veth, tmp_path, python, PORT, (ISO2,), factories, events, BUDGET, tls=ctx)))
    answered = check_stopped(events, plant, out)
    names = [e.request for e in answered]
    assert names[2:2 + len(PNC[service])] == PNC[service], names
    assert "Signature verification" not in out and "Can't decrypt" not in out, out[-3000:]
    if service == "AC":  # their EV answers ReceiptRequired in ChargingStatus only, not in DC
        assert "MeteringReceiptReq" in names, names
    print(f"ISO-2 {service} PnC interop over TLS 1.2: {len(answered)} requests answered, "
          f"{answered[-1].at - answered[0].at:.2f} s SessionSetup -> SessionStop")
