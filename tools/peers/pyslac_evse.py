"""Run pyslac's EVSE once on an interface, under pyslac's own virtualenv (see ensure_pyslac).

    python pyslac_evse.py IFACE [TIMEOUT_S]

Prints JSON lines on stdout: {"ready": ...} once pyslac has set its key and is waiting for
CM_SLAC_PARM.REQ, then {"matched": ...} or {"failed": ...}. pyslac's own log goes to stderr.
One change to pyslac as shipped: its 10 s pause after CM_SET_KEY (SLAC_SETTLE_TIME, for a
real modem to settle) is cut to zero - there is no modem on a veth pair, and the benchmark
times from the EV's first CM_SLAC_PARM.REQ, after that pause anyway.
"""

import asyncio
import json
import sys
import time

import pyslac.session as pyslac_session
from pyslac.enums import STATE_MATCHED
from pyslac.environment import Config
from pyslac.session import SlacEvseSession, SlacSessionController

pyslac_session.SLAC_SETTLE_TIME = 0


def say(**fields):
    print(json.dumps(fields), flush=True)


async def main(iface: str, timeout: float) -> int:
    config = Config(slac_init_timeout=timeout, slac_atten_results_timeout=None, log_level="INFO")
    session = SlacEvseSession("DE*V2G*E0001", iface, config)
    await session.evse_set_key()
    controller = SlacSessionController()
    await controller.process_cp_state(session, "B")
    await asyncio.sleep(0.05)  # let the matching task open its socket
    say(ready=True, evse_mac=session.evse_mac.hex(), nid=session.nid.hex())
    deadline = time.monotonic() + timeout
    while session.state != STATE_MATCHED and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    if session.state == STATE_MATCHED:
        say(matched=True, nid=session.nid.hex(), pev_mac=session.pev_mac.hex())
        return 0
    say(failed=True, reason=f"no match within {timeout:g} s")
    return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 30.0)))
