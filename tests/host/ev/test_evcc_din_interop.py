"""Our DIN EVCC (with the asyncio driver: SDP, then TCP) against the `iso15118` package's
SECC over a veth pair in two network namespaces, to SessionStopRes.

Their simulated SECC reports a fixed 1 V as its present voltage, which no real EV would
close its contactors on; the runner below subclasses its simulator so the output follows
what the EV asks for (the FACTS file's way to vary its built-in values)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from host.bench.dcplant import Battery
from host.bench.veth import VethPair
from host.ev.evcc.din import DinEvcc, EvccConfig, SessionStopped
from tests.host.interop import LoopingEv, peer_python, run_against_their_secc

pytestmark = pytest.mark.interop
BUDGET = 60.0

RUNNER = '''
import asyncio

from iso15118.secc import SECCHandler
from iso15118.secc.controller.interface import ServiceStatus
from iso15118.secc.controller.simulator import SimEVSEController
from iso15118.secc.secc_settings import Config
from iso15118.shared.exificient_exi_codec import ExificientEXICodec


class FollowingEvse(SimEVSEController):
    async def send_charging_command(self, ev_target_voltage, ev_target_current,
                                    is_precharge=False, is_session_bpt=False):
        if ev_target_voltage is not None:
            self.evse_data_context.present_voltage = int(ev_target_voltage)
        if ev_target_current is not None:
            self.evse_data_context.present_current = int(ev_target_current)


async def main():
    config = Config()
    config.load_envs()
    evse = FollowingEvse()
    await evse.set_status(ServiceStatus.STARTING)
    await SECCHandler(exi_codec=ExificientEXICodec(), evse_controller=evse,
                      config=config).start(config.iface)


asyncio.run(main())
'''


def test_our_evcc_charges_through_their_din_secc(veth: VethPair, tmp_path: Path) -> None:
    python = peer_python()
    # their SECC answers in ~80 ms p50 / ~280 ms p99 here (the figures), past the
    # standard's 250 ms CurrentDemand budget, and on a loaded machine its Java codec took
    # 2 s for one SessionSetupRes: this test is about interop, so every message gets 10 s
    # (our timers are tested against the standard's values with a fake clock elsewhere)
    car = LoopingEv(Battery(), charge_for=1.0, loops=2)
    ev = DinEvcc(car, EvccConfig(loop_interval=0.05, msg_timeouts={}, msg_timeout=10.0))
    car.sent = lambda: ev.sent.count("CurrentDemandReq")
    started = time.monotonic()
    out = run_against_their_secc(veth, tmp_path, python, "DIN_SPEC_70121", RUNNER, ev, BUDGET)
    assert isinstance(ev.result, SessionStopped), f"{ev.result}\ntheir SECC:\n{out[-4000:]}"
    sent = Counter(ev.sent)
    assert sent["CurrentDemandReq"] >= 2 and sent["PowerDeliveryReq"] == 2
    print(f"our EVCC vs their DIN SECC: {sum(sent.values())} requests, "
          f"{time.monotonic() - started:.2f} s from SDP to SessionStopRes (with their start-up)")
