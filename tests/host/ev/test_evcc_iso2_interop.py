"""Our ISO 15118-2 EVCC (SDP, then TCP, with the asyncio driver) against the `iso15118`
package's SECC over a veth pair in two network namespaces, AC and DC EIM, to SessionStopRes.
Their SECC runs as in test_evcc_din_interop.py (its simulator made to follow the EV)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from host.bench.dcplant import Battery
from host.bench.veth import VethPair
from host.ev.evcc.iso2 import Iso2Config, Iso2Evcc, SessionStopped
from host.exi.schemas import iso2 as i
from tests.host.ev.test_evcc_din_interop import RUNNER
from tests.host.interop import LoopingEv, peer_python, run_against_their_secc

pytestmark = pytest.mark.interop
BUDGET = 60.0
MODES = {"AC": i.EnergyTransferModeType.AC_three_phase_core,
         "DC": i.EnergyTransferModeType.DC_extended}


@pytest.mark.parametrize("service", ["AC", "DC"])
def test_our_evcc_charges_through_their_iso2_secc(veth: VethPair, tmp_path: Path,
                                                  service: str) -> None:  # fmt: skip
    python = peer_python()
    # their SECC is slower than the 250 ms charging-loop budget (see the DIN test): 10 s here
    car = LoopingEv(Battery(), charge_for=1.0, loops=2)
    ev = Iso2Evcc(car, Iso2Config(mode=MODES[service], loop_interval=0.05, loop_msg_timeout=10.0,
                                  msg_timeout=10.0))  # fmt: skip
    loop = "ChargingStatusReq" if service == "AC" else "CurrentDemandReq"
    car.sent = lambda: ev.sent.count(loop)
    started = time.monotonic()
    out = run_against_their_secc(veth, tmp_path, python, "ISO_15118_2", RUNNER, ev, BUDGET)
    assert isinstance(ev.result, SessionStopped), f"{ev.result}\ntheir SECC:\n{out[-4000:]}"
    sent = Counter(ev.sent)
    assert sent[loop] >= 2 and sent["PowerDeliveryReq"] == 2
    print(f"our ISO-2 {service} EVCC vs their SECC: {sum(sent.values())} requests, "
          f"{time.monotonic() - started:.2f} s from SDP to SessionStopRes (with their start-up)")
