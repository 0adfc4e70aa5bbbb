"""Link messages of the DC charger hardware (firmware/app/dc.py): DcContactor,
IsolationRequest, DcStatus and their constants.

Apart from firmware/link/messages.py so that only DC boards load them (the host always
does: host/link/protocol.py imports this); importing registers them in its catalogue
(`messages.register`), ids and ordering classes after the core ones. On a board without
DC hardware a DcContactor or IsolationRequest is therefore an unknown type (Nack
unknown-type), and the DC SetConfig keys (70-72, in messages.CONFIG_KEYS) get Nack
bad-state.
"""

from firmware.compat import const
from firmware.link.messages import _BOOL, _I32, _U8, _U16, _U32, Message, register

# DcStatus: the pair's phase, its outputs and aux contacts, and the isolation check's
# state (IEC 61851-23 classes of the IMD's reading)
DC_OPEN = const(0)
DC_PRECHARGING = const(1)  # - closed (and the precharge relay): waiting for dc_link_v
DC_CLOSED = const(2)  # + closed too, precharge relay open again
DC_SETTLING = const(3)  # opened; the weld checks are still to come
DC_PHASE_NAMES = ("open", "precharging", "closed", "settling")
DC_PLUS = const(1)  # DcStatus.pair: + coil driven
DC_MINUS = const(2)  # - coil driven
DC_PRECHARGE = const(4)  # precharge relay driven
DC_PLUS_AUX = const(8)  # + aux contact reads closed
DC_MINUS_AUX = const(16)  # - aux contact reads closed
ISO_NONE = const(0)  # no check since the last open
ISO_RUNNING = const(1)
ISO_VALID = const(2)  # > 500 ohm/V: close allowed
ISO_WARNING = const(3)  # 100-500 ohm/V: close allowed, the host reports it
ISO_FAULT = const(4)  # < 100 ohm/V, or the IMD alarmed during the check
ISOLATION_NAMES = ("none", "running", "valid", "warning", "fault")


class DcContactor(Message):
    """Close the DC contactor pair with precharge, or open it. Closing: - first (and the
    precharge relay where the board has one), then + once dc_link_v is within the
    tolerance (dc_precharge_tol_dv) of `target_dv` (the EV's battery voltage, 0.1 V),
    then the precharge relay opens. The interlocks still decide (a valid isolation check
    since the last open among them); a close is asked once: after any open the host asks
    again. DC boards only: elsewhere an unknown type, as IsolationRequest."""

    TYPE = 0x08
    ORDERED = True
    FORMAT = "<BH"
    FIELDS = ("close", "target_dv")
    RANGES = (_BOOL, (0, 15000))
    close: int
    target_dv: int

    def out_of_range(self):
        i = Message.out_of_range(self)
        if i < 0 and self.close and self.target_dv < 100:
            return 1  # a close needs the EV's voltage (at least 10 V)
        return i


class IsolationRequest(Message):
    """CableCheck: run (1) or cancel (0) an isolation check with the power stage at
    `test_dv` (0.1 V) and the pair open. The IMD's answer comes in DcStatus.isolation
    after the board's dc.isolation_ms; "valid" (or "warning") lets the pair close until
    it next opens. Nack bad-state with the pair not open."""

    TYPE = 0x09
    ORDERED = True
    FORMAT = "<BH"
    FIELDS = ("run", "test_dv")
    RANGES = (_BOOL, (0, 15000))
    run: int
    test_dv: int

    def out_of_range(self):
        i = Message.out_of_range(self)
        if i < 0 and self.run and self.test_dv < 100:
            return 1
        return i


class DcStatus(Message):
    """The DC hardware: the pair's `phase` (DC_PHASE_NAMES), `pair` bits (DC_PLUS ...
    DC_MINUS_AUX: what is driven and what the aux contacts read), the power-stage enable
    output, dc_link_v behind the contactors (0.1 V), the IMD's alarm and resistance
    reading (kohm, -1 where the board has none), the isolation check (ISOLATION_NAMES).
    Sent on every change and with every Telemetry, on DC boards only."""

    TYPE = 0x8C
    FORMAT = "<BBBHBiBI"
    FIELDS = ("phase", "pair", "stage", "dc_link_dv", "imd_alarm", "imd_kohm", "isolation",
              "at_ms")
    RANGES = (_U8, _U8, _BOOL, _U16, _BOOL, _I32, _U8, _U32)
    phase: int
    pair: int
    stage: int
    dc_link_dv: int
    imd_alarm: int
    imd_kohm: int
    isolation: int
    at_ms: int



register(DcContactor, IsolationRequest, DcStatus)
