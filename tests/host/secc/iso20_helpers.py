"""-20 pair and script helpers: our -20 EVCC against our -20 SECC through V2gConnection (the
SupportedAppProtocol handshake included) on a fake clock, and the EV played by hand."""

from __future__ import annotations

import sys
from typing import Any

from host.bench.dcplant import Battery, DcPlant, StageLimits
from host.ev.evcc.ev import SimEv
from host.ev.evcc.iso20 import Iso20Config, Iso20Evcc
from host.exi import codec
from host.exi.schemas import iso20_ac as ac
from host.exi.schemas import iso20_common_messages as m
from host.exi.schemas import iso20_common_types as t
from host.exi.schemas import iso20_dc as dc
from host.secc import iso20_constants as k
from host.secc.controller import ExportRules, SimEvseController
from host.secc.core import RequestAnswered, SessionEnded
from host.secc.iso2 import PausedSessions
from host.secc.iso20 import Iso20Secc
from host.secc.iso20_ac import iso20_ac_factory
from host.secc.iso20_dc import Iso20DcSecc, iso20_dc_factory
from host.v2g.protocol import SessionContext
from host.v2g.sap import ISO20_AC, ISO20_DC
from host.v2g.session import V2gConnection
from host.v2g.tls import TlsInfo
from host.v2g.v2gtp import PayloadType
from tests.host.secc.helpers import Pair

# the connection offers -20 over TLS 1.3 only ([V2G20-2356]): the pairs say they run on it
OVER_TLS13: dict[str, Any] = {"tls_info": TlsInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384")}

SID = bytes.fromhex("0102030405060708")
TYPES = {m.NAMESPACE: PayloadType.ISO20_MAIN, dc.NAMESPACE: PayloadType.ISO20_DC,
         ac.NAMESPACE: PayloadType.ISO20_AC}


class Iso20Pair(Pair):
    def __init__(self, evcc: Any, controller: SimEvseController, now: float = 0.0,
                 paused: PausedSessions | None = None, tls_info: TlsInfo | None = None,
                 **secc_kw: Any) -> None:  # fmt: skip
        self.evcc = evcc
        self.controller = controller
        self.now = now
        self.conn = V2gConnection([ISO20_DC, ISO20_AC], {
            ISO20_DC.namespace: iso20_dc_factory(lambda _c: controller, paused=paused, **secc_kw),
            ISO20_AC.namespace: iso20_ac_factory(lambda _c: controller, paused=paused,
                                                 **secc_kw)}, now,
            tls_info=tls_info or OVER_TLS13["tls_info"])
        self.secc_events: list[object] = []
        self.ev_events: list[object] = []
        evcc.start(now)

    def answered(self) -> list[tuple[str, str]]:
        return [(e.request, e.response_code) for e in self.secc_events
                if isinstance(e, RequestAnswered)]

    def names(self) -> list[str]:
        return [name for name, _code in self.answered()]

    def ended(self) -> SessionEnded:
        (end,) = [e for e in self.secc_events if isinstance(e, SessionEnded)]
        return end

    @property
    def secc(self) -> Any:
        machine = self.conn.machine
        assert isinstance(machine, Iso20Secc)
        return machine

    def loops(self) -> int:
        return sum(self.names().count(name) for name in ("DC_ChargeLoopReq", "AC_ChargeLoopReq"))


def bpt_plant(soc: float = 0.8) -> DcPlant:
    return DcPlant(StageLimits(max_discharge_current=100.0), Battery(soc=soc), isolation_time=1.0)


def pair(service: int = k.SERVICE_DC, mode: int = k.CONTROL_SCHEDULED, *,
         plant: DcPlant | None = None, export: ExportRules | None = None,
         setpoint: float | None = None, charge_for: float = 3.0, target_soc: float = 0.95,
         paused: PausedSessions | None = None, now: float = 0.0,
         controller_kw: Any = None, run: bool = True, secc_kw: Any = None,
         **config: Any) -> Iso20Pair:  # fmt: skip
    plant = plant or bpt_plant()
    controller = SimEvseController(plant, **(controller_kw or {}))
    controller.export = export or ExportRules(True, 10_000.0, 0.4)
    controller.setpoint = setpoint
    ev = SimEv(plant.battery, charge_for=charge_for, target_soc=target_soc)
    p = Iso20Pair(Iso20Evcc(ev, Iso20Config(service=service, control_mode=mode,
                                            target_soc=target_soc, **config)),
                  controller, now, paused, **(secc_kw or {}))  # fmt: skip
    if run:
        p.run()
    return p


def context(connected_at: float = 0.0) -> SessionContext:
    return SessionContext(ISO20_DC, 1, False, "fe80::2", connected_at, connected_at)


def make_secc(plant: DcPlant | None = None, cls: Any = Iso20DcSecc, **controller_kw: Any,
              ) -> tuple[Any, SimEvseController]:  # fmt: skip
    controller = SimEvseController(plant or bpt_plant(), **controller_kw)
    controller.export = ExportRules(True, 10_000.0, 0.4)
    return cls(context(), controller, new_session_id=lambda: SID), controller


H = t.MessageHeaderType(SessionID=bytes(8), TimeStamp=0)


class Script:
    """The EV by hand: ``send(request, now)`` returns the decoded response or None."""

    def __init__(self, secc: Any) -> None:
        self.secc = secc
        self.session_id = bytes(8)
        self.events: list[object] = []

    def send(self, request: Any, now: float, session_id: bytes | None = None,
             signature: Any = None) -> Any:  # fmt: skip
        request.Header = t.MessageHeaderType(
            SessionID=self.session_id if session_id is None else session_id, TimeStamp=1,
            Signature=signature)
        schema = sys.modules[type(request).__module__]
        ns, ptype = schema.NAMESPACE, TYPES[schema.NAMESPACE]
        self.secc.receive(ptype, codec.encode(request, ns), now)
        while (event := self.secc.next_event()) is not None:
            self.events.append(event)
        out = self.secc.data_to_send()
        if not out:
            return None
        assert len(out) == 1
        out_type, payload = out[0]
        out_ns = {v: k for k, v in TYPES.items()}[out_type]
        response = codec.decode(out_ns, payload)
        if isinstance(response, m.SessionSetupRes):
            self.session_id = response.Header.SessionID
        return response


__all__ = ["H", "SID", "Iso20Config", "Iso20Pair", "Script", "bpt_plant", "context",
           "make_secc", "pair"]
