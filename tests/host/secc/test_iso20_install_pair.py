"""Our -20 EVCC with only an OEM provisioning certificate against our -20 SECC with the
LocalCps (iso20 lab PKI, secp521r1), over the V2G connection (TLS 1.3) on a fake clock: it
installs its contract by CertificateInstallation, repeats while chains remain, authorizes
by Plug & Charge with the new contract (iso20_pnc) and charges."""

from __future__ import annotations

from typing import Any

from host.bench.dcplant import DcPlant
from host.ev.evcc.ev import SimEv
from host.ev.evcc.install20 import EvInstall20
from host.ev.evcc.iso20 import Iso20Config, Iso20Evcc, SessionFailed, SessionStopped
from host.exi.schemas import iso20_common_messages as m
from host.secc import iso20_constants as k
from host.secc.certs import common_name
from host.secc.controller import SimEvseController
from host.secc.core import RequestAnswered
from host.secc.iso20_dc import iso20_dc_factory
from host.secc.iso20_install import InstallConfig
from host.secc.pnc import PncConfig
from host.v2g.sap import ISO20_DC
from host.v2g.session import V2gConnection
from tests.host.secc.install20_setup import NEW_EMAID, ev_install, local_cps20, oem_pcid, pki20
from tests.host.secc.iso20_helpers import OVER_TLS13, Iso20Pair


class InstallPair(Iso20Pair):
    def __init__(self, evcc: Any, controller: SimEvseController, install: InstallConfig,
                 ) -> None:  # fmt: skip
        self.evcc = evcc
        self.controller = controller
        self.now = 0.0
        pnc = PncConfig(mo_roots=[pki20()["mo_root"].cert])  # checks the installed contract
        self.conn = V2gConnection([ISO20_DC], {ISO20_DC.namespace: iso20_dc_factory(
            lambda _c: controller, install=install, pnc=pnc)}, 0.0, **OVER_TLS13)  # fmt: skip
        self.secc_events: list[object] = []
        self.ev_events: list[object] = []
        evcc.start(0.0)


def session(ev: EvInstall20, **cps: Any) -> tuple[InstallPair, Any]:
    plant = DcPlant(isolation_time=1.0)
    controller = SimEvseController(plant)
    backend = local_cps20(**cps)
    evcc = Iso20Evcc(SimEv(plant.battery, charge_for=2.0),
                     Iso20Config(service=k.SERVICE_DC, install=ev))  # fmt: skip
    pair = InstallPair(evcc, controller, InstallConfig(oem_roots=[pki20()["oem_root"].cert],
                                                       backend=backend))  # fmt: skip
    pair.run()
    return pair, backend


def test_ev_without_contract_installs_one_and_charges():
    ev = ev_install()
    pair, cps = session(ev, delay=1)
    assert isinstance(pair.evcc.result, SessionStopped), pair.evcc.result
    assert pair.answered()[:5] == [
        ("SessionSetupReq", "OK_NewSessionEstablished"), ("AuthorizationSetupReq", "OK"),
        ("CertificateInstallationReq", "OK"), ("CertificateInstallationReq", "OK"),
        ("AuthorizationReq", "OK")]
    [(chain, key)] = ev.installed
    assert common_name(chain.leaf) == NEW_EMAID and chain.leaf == cps.issued[0]
    assert key.private_numbers() == cps.keys[0].private_numbers()
    # authorized by PnC with the new contract: the SECC verified its chain and signature
    [auth] = [e.request_body for e in pair.secc_events
              if isinstance(e, RequestAnswered) and e.request == "AuthorizationReq"]
    assert auth.SelectedAuthorizationService is m.authorizationType.PnC
    assert pair.secc.emaid == NEW_EMAID and pair.secc.contract == chain.leaf
    assert pair.loops() > 0


def test_ev_fetches_every_remaining_chain_it_has_room_for():
    ev = ev_install(max_chains=2, prioritized=("DEV2GC000000002",))
    pair, _cps = session(ev, contracts={oem_pcid(): ("DEV2GC000000001", "DEV2GC000000002",
                                                     "DEV2GC000000003")})
    assert isinstance(pair.evcc.result, SessionStopped), pair.evcc.result
    assert [common_name(c.leaf) for c, _k in ev.installed] == ["DEV2GC000000002",
                                                               "DEV2GC000000001"]
    assert pair.names().count("CertificateInstallationReq") == 2


def test_a_cps_that_serves_none_of_the_evs_roots_says_so():
    p = pki20()
    ev = ev_install()
    ev.v2g_roots = [p["mo_root"].cert]  # the EV names a root the CPS chain does not end at
    pair, _cps = session(ev)
    assert ("CertificateInstallationReq", "WARNING_NoCertificateAvailable") in pair.answered()
    assert isinstance(pair.evcc.result, SessionFailed) and ev.installed == []


class Tampering:
    """A backend between the SECC and the CPS that changes the signed data after signing."""

    def __init__(self, cps: Any) -> None:
        self.cps = cps

    def install20(self, req: Any, now: Any) -> Any:
        got = self.cps.install20(req, now)
        dh = bytearray(got.response.data.DHPublicKey)
        dh[-1] ^= 1
        got.response.data.DHPublicKey = bytes(dh)
        return got


def test_ev_refuses_data_the_cps_signature_does_not_cover():
    plant = DcPlant(isolation_time=1.0)
    controller = SimEvseController(plant)
    ev = ev_install()
    evcc = Iso20Evcc(SimEv(plant.battery, charge_for=2.0),
                     Iso20Config(service=k.SERVICE_DC, install=ev))  # fmt: skip
    pair = InstallPair(evcc, controller, InstallConfig(oem_roots=[pki20()["oem_root"].cert],
                                                       backend=Tampering(local_cps20())))
    pair.run()
    assert isinstance(pair.evcc.result, SessionFailed)
    assert "the CPS signature: the digest of #id1 does not match" in pair.evcc.result.detail
    assert ev.installed == []
