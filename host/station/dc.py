"""The DC steps of a charging session on a board with DC hardware, sans-I/O.

What an ISO 15118 / DIN 70121 DC session asks of the firmware, in its order: CableCheck
(IsolationRequest at the test voltage, then DcStatus.isolation valid or warning), then
PreCharge and the close (DcContactor close with the EV's voltage: the firmware closes -,
precharges, closes +), and at the end the open. The station (host/station/policy.py)
calls `start` when the EV asks for power, `on_status` with every DcStatus, `stop` when
it ends; the commands go out through the station's `send`, with the record that says
they happened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from firmware.link import dcmessages as dm
from firmware.link import messages as m

Send = Callable[[m.Message, dict[str, Any] | None], None]
# CableCheck's test voltage where the station is given none: the sim-dc stage's rating
TEST_DV = 5000


def dc_record(st: dm.DcStatus) -> dict[str, Any]:
    """A DcStatus as a timeline record."""
    return {"event": "dc", "fw_ms": st.at_ms, "phase": dm.DC_PHASE_NAMES[st.phase]
            if st.phase < len(dm.DC_PHASE_NAMES) else st.phase, "stage": bool(st.stage),
            "plus": bool(st.pair & dm.DC_PLUS), "minus": bool(st.pair & dm.DC_MINUS),
            "precharge": bool(st.pair & dm.DC_PRECHARGE),
            "aux": [n for b, n in ((dm.DC_PLUS_AUX, "+"), (dm.DC_MINUS_AUX, "-")) if st.pair & b],
            "dc_link_v": st.dc_link_dv / 10, "imd_alarm": bool(st.imd_alarm),
            "imd_kohm": None if st.imd_kohm < 0 else st.imd_kohm,
            "isolation": dm.ISOLATION_NAMES[st.isolation]
            if st.isolation < len(dm.ISOLATION_NAMES) else st.isolation}  # fmt: skip


class DcSteps:
    def __init__(self, target_dv: int, send: Send, test_dv: int = TEST_DV) -> None:
        self.target_dv = target_dv  # the EV's voltage (PreCharge's EVTargetVoltage)
        self.test_dv = test_dv
        self._send = send
        self.active = False
        self.close_asked = False
        self.wanted: m.Message | None = None  # the newest DC command: resent if lost

    def start(self) -> None:
        """The EV asks for power: CableCheck first."""
        if self.active:
            return
        self.active = True
        self.close_asked = False
        self._out(dm.IsolationRequest(1, self.test_dv), {"event": "cable-check",
                                                       "test_v": self.test_dv / 10})

    def on_status(self, st: dm.DcStatus) -> None:
        if not self.active or self.close_asked or st.phase != dm.DC_OPEN:
            return
        if st.isolation in (dm.ISO_VALID, dm.ISO_WARNING):
            self.close_asked = True
            self._out(dm.DcContactor(1, self.target_dv), {"event": "dc-close-asked",
                                                         "target_v": self.target_dv / 10})

    def stop(self) -> None:
        """The session ends: open (a repeat of an open changes nothing)."""
        if not self.active:
            return
        self.active = False
        self._out(dm.DcContactor(0, 0), None)

    def reset(self) -> None:
        """The link went down: what was asked is gone with the firmware's epoch."""
        self.active = False
        self.wanted = None

    def _out(self, command: m.Message, record: dict[str, Any] | None) -> None:
        self.wanted = command
        self._send(command, record)
