"""What the Plug & Charge tests share: one test PKI per test process (tests/pki.py), the
SECC's PncConfig and the EV's credentials from it, and a fake-clock pair over a TLS
connection (PnC is offered over TLS only)."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from host.bench.dcplant import DcPlant
from host.ev.evcc.ev import SimEv
from host.ev.evcc.iso2 import Iso2Config, Iso2Evcc
from host.ev.evcc.pnc import EvPnc
from host.pki.issue import Issued
from host.secc.backend import LocalCps
from host.secc.certs import ContractChain
from host.secc.controller import SimEvseController
from host.secc.core import RequestAnswered, SessionEnded
from host.secc.iso2 import iso2_factory
from host.secc.pnc import PncConfig
from host.v2g.sap import ISO2
from host.v2g.session import V2gConnection
from tests.host.secc.helpers import Pair
from tests.pki import Pki, make_pki

OEM_CN = "OEMPROV-TEST-0001"  # tests/pki.py's OEM provisioning leaf
NEW_EMAID = "DEV2GTESTC00042"  # what the local CPS issues for it


@functools.cache
def shared_pki() -> Pki:
    folder = Path(tempfile.mkdtemp(prefix="v2gate-pnc-"))
    atexit.register(shutil.rmtree, folder, True)
    return make_pki(folder)


def local_cps(pki: Pki, **kw: Any) -> LocalCps:
    return LocalCps(v2g_root=Issued(pki.v2g.root.cert, pki.v2g.root.key),
                    mo_sub2=Issued(pki.mo.sub2.cert, pki.mo.sub2.key), mo_sub1=pki.mo.sub1.cert,
                    contracts={OEM_CN: NEW_EMAID}, **kw)  # fmt: skip


def secc_pnc(pki: Pki | None = None, **kw: Any) -> PncConfig:
    pki = pki or shared_pki()
    kw.setdefault("backend", local_cps(pki))
    kw.setdefault("tariff_key", pki.mo.sub2.key)
    return PncConfig(mo_roots=[pki.mo.root.cert], **kw)


def ev_pnc(pki: Pki | None = None, *, contract: bool = True, **kw: Any) -> EvPnc:
    pki = pki or shared_pki()
    chain = ContractChain(pki.mo.leaf.cert, (pki.mo.sub2.cert, pki.mo.sub1.cert))
    return EvPnc(chain if contract else None, pki.mo.leaf.key if contract else None,
                 oem_cert=pki.oem.leaf.cert, oem_key=pki.oem.leaf.key,
                 v2g_roots=[pki.v2g.root.cert], **kw)  # fmt: skip


class PncPair(Pair):
    """helpers.Pair over a TLS connection offering -2, with our SECC configured for PnC."""

    def __init__(self, evcc: Any, controller: SimEvseController, pnc: PncConfig,
                 now: float = 0.0) -> None:  # fmt: skip
        self.evcc = evcc
        self.controller = controller
        self.now = now
        self.conn = V2gConnection([ISO2], {ISO2.namespace: iso2_factory(
            lambda _c: controller, pnc=pnc)}, now, tls=True)  # fmt: skip
        self.secc_events: list[object] = []
        self.ev_events: list[object] = []
        evcc.start(now)

    def answered(self) -> list[tuple[str, str]]:
        return [(e.request, e.response_code) for e in self.secc_events
                if isinstance(e, RequestAnswered)]

    def ended(self) -> SessionEnded:
        (end,) = [e for e in self.secc_events if isinstance(e, SessionEnded)]
        return end


def pnc_session(mode: Any, *, secc: PncConfig | None = None, ev: EvPnc | None = None,
                controller_kw: Any = None, **config: Any) -> PncPair:  # fmt: skip
    plant = DcPlant(isolation_time=1.0)
    controller = SimEvseController(plant, **(controller_kw or {}))
    evcc = Iso2Evcc(SimEv(plant.battery, charge_for=3.0),
                    Iso2Config(mode=mode, pnc=ev or ev_pnc(), **config))  # fmt: skip
    pair = PncPair(evcc, controller, secc or secc_pnc())
    pair.run()
    return pair
