"""Link message catalogue, version 4: the one definition the firmware and the host share.

A payload is ``type (u8) | seq (u16 LE) | body``; an ordered command (ORDERED below:
SetPilot, PowerLease, Reset, SetConfig) has ``epoch (u32) | order (u32)`` between the
header and the body. Each class fixes its type id, its body layout (a little-endian
struct format) and each field's valid range. Ids are stable: a new message gets a new
id, a changed layout gets a new protocol version. `docs/link.md` is generated from this
table (``python -m tools.linkdoc``) and a test checks that the committed document matches.

Ordering: `seq` numbers frames (heartbeats too); it says which frame an Ack or Nack
answers, but not which command: 16 bits recur (after a wrap, or from a restarted host).
Ack, Nack and Status.last_* therefore name the command by its (class, epoch, order),
and the host matches on those.
Which command is newer is decided by (epoch, order) within an ordering class
(`order_class`): one class per command type, except that each SetConfig key and each
Reset kind is a class of its own (independent settings, independent actions). The firmware picks the epoch (FirmwareHello.epoch) afresh at
each HostHello and starts every class again from order 0; the host numbers each class
1, 2, 3, ... within the epoch. A command of another epoch, or not newer than the
newest applied one of its class, is never applied. Both are 32 bits wide and compared
plainly, not by serial arithmetic: at one command of a class every 10 ms an order
lasts 497 days, the host opens a new epoch before it would wrap, and the firmware
moves to an epoch it has not used since boot (started at random, so frames from
before a reboot do not match either).

Version 3 added PowerLease.power_w and Status.limit_w and widened
ContactorChanged.reason to 16 bits; a field added at the end of a
layout may have a default (DEFAULTS) so that code written before it still builds the
message, but the wire layout, and so the version, changes all the same.

Version 4 added the proximity pilot and connector lock (Lock, CableStatus), the
contactors' wear counters (WearStatus) and the DC charger hardware (DcContactor,
IsolationRequest, DcStatus in firmware/link/dcmessages.py, DC boards and the host only),
and widened ContactorChanged.reason to 32 bits (the DC interlock rows are bits 15-18).

Host -> firmware ids are 0x01-0x3F, firmware -> host ids 0x80-0xBF.
"""

import struct

from firmware.compat import const

PROTOCOL_VERSION = const(4)
HEADER = "<BH"
HEADER_SIZE = const(3)
ORDER = "<II"  # epoch, order: after the header of an ordered command
ORDER_SIZE = const(8)
ORDER_MAX = const(0xFFFFFFFF)
NO_CLASS = const(0xFF)  # Ack/Nack/Status: no ordered command named

# Nack reasons
NACK_BAD_LENGTH = const(1)  # body shorter or longer than the type's layout
NACK_UNKNOWN_TYPE = const(2)
NACK_OUT_OF_RANGE = const(3)  # a field outside its range; `field` says which
NACK_BAD_KEY = const(4)  # SetConfig key unknown
NACK_VERSION = const(5)  # no common protocol version
NACK_NO_HELLO = const(6)  # command before a successful Hello
NACK_BAD_STATE = const(7)  # valid command the firmware cannot take now (see `field`)
NACK_CONFLICT = const(8)  # in range, but at odds with a related setting (or a lease's direction)
NACK_STALE = const(9)  # another epoch, or older than the newest applied of its class
NACK_NO_ENTROPY = const(10)  # HostHello: the firmware has no random source for its epochs
NACK_NAMES = {
    NACK_BAD_LENGTH: "bad-length",
    NACK_UNKNOWN_TYPE: "unknown-type",
    NACK_OUT_OF_RANGE: "out-of-range",
    NACK_BAD_KEY: "bad-key",
    NACK_VERSION: "version",
    NACK_NO_HELLO: "no-hello",
    NACK_BAD_STATE: "bad-state",
    NACK_CONFLICT: "conflict",
    NACK_STALE: "stale",
    NACK_NO_ENTROPY: "no-entropy",
}

# pilot modes (SetPilot.mode, Status.pilot_mode)
PILOT_PWM = const(0)  # oscillating at 1 kHz with `duty`
PILOT_X1 = const(1)  # constant +12 V: not available for charging (IEC 61851-1 "x1")
PILOT_F = const(2)  # constant -12 V: state F, EVSE not available
PILOT_NAMES = ("pwm", "x1", "F")

# CP states as the firmware classifies them
CP_UNKNOWN = const(0)
CP_A = const(1)
CP_B = const(2)
CP_C = const(3)
CP_D = const(4)
CP_E = const(5)
CP_F = const(6)
CP_NAMES = ("?", "A", "B", "C", "D", "E", "F")

# SetConfig keys: (name, min, max)
CONFIG_KEYS = {
    1: ("link_timeout_ms", 200, 2000),
    2: ("safe_pilot", PILOT_X1, PILOT_F),
    3: ("telemetry_period_ms", 50, 10000),
    # grid sync (IEEE 1547): Nack bad-state on a board without grid sensing
    10: ("grid_category", 1, 3),  # I, II, III
    11: ("droop_profile", 0, 1),  # default, fastest
    12: ("droop_step_w", 1, 10000),  # a GridStatus goes out when the droop moves this much
    13: ("grid_phase_mrad", 1, 1000),  # phase alignment before closing for export
    14: ("grid_enter_delay_ms", 0, 600000),  # enter service after this long inside the window
    15: ("grid_latency_ms", 0, 150),  # measurement delay taken off the clearing times
    # voltage trips (IEEE 1547-2018 §6.4.1), per mille of v_nom and clearing times; on a
    # 60 Hz board also within the category's range of adjustability (else out-of-range),
    # and in order: OV1 <= OV2, UV1 >= UV2, stage 1 not faster than stage 2 (else
    # conflict). Setting grid_category goes back to that category's defaults.
    16: ("grid_ov2_pm", 1000, 1500),
    17: ("grid_ov2_ms", 10, 60000),
    18: ("grid_ov1_pm", 1000, 1500),
    19: ("grid_ov1_ms", 10, 60000),
    20: ("grid_uv1_pm", 0, 1000),
    21: ("grid_uv1_ms", 10, 60000),
    22: ("grid_uv2_pm", 0, 1000),
    23: ("grid_uv2_ms", 10, 60000),
    # frequency trips (IEEE 1547-2018 §6.5.1, Table 18), absolute mHz and clearing times;
    # on a 60 Hz board also within the ranges of adjustability (else out-of-range); OF
    # above and UF below nominal, OF1 <= OF2, UF1 >= UF2, stage 1 not faster than stage 2
    # (else conflict). The same for every category: grid_category keeps them.
    24: ("grid_of2_mhz", 40000, 70000),
    25: ("grid_of2_ms", 10, 1000000),
    26: ("grid_of1_mhz", 40000, 70000),
    27: ("grid_of1_ms", 10, 1000000),
    28: ("grid_uf1_mhz", 40000, 70000),
    29: ("grid_uf1_ms", 10, 1000000),
    30: ("grid_uf2_mhz", 40000, 70000),
    31: ("grid_uf2_ms", 10, 1000000),
    # frequency-droop (§6.5.2.7, Table 24): deadbands in mHz, droops in per mille (50 =
    # 5 %), open-loop response time; 60 Hz: the category's ranges (else out-of-range).
    # droop_profile and grid_category go back to a preset.
    32: ("grid_droop_db_of_mhz", 1, 1000),
    33: ("grid_droop_db_uf_mhz", 1, 1000),
    34: ("grid_droop_k_of_pm", 10, 100),
    35: ("grid_droop_k_uf_pm", 10, 100),
    36: ("grid_droop_resp_ms", 100, 60000),
    # volt-watt (§5.4.2, Table 10): off by default; export limited to the rated power up
    # to V1, falling linearly to P2 (per mille of rated, < 0: absorb) at V2 and above,
    # followed with an open-loop response time; V2 >= V1 + 10 (else conflict)
    37: ("grid_vw_enable", 0, 1),
    38: ("grid_vw_v1_pm", 1000, 1200),
    39: ("grid_vw_v2_pm", 1000, 1200),
    40: ("grid_vw_p2_pm", -1000, 1000),
    41: ("grid_vw_resp_ms", 100, 90000),
    # enter service (§4.10.2-4.10.3, Table 4): the window the grid must stay inside for
    # grid_enter_delay_ms (key 14), and the ramp of export power after it; the
    # frequency window must contain nominal (else conflict)
    42: ("grid_enter_v_min_pm", 500, 1000),
    43: ("grid_enter_v_max_pm", 1000, 1200),
    44: ("grid_enter_f_min_mhz", 40000, 70000),
    45: ("grid_enter_f_max_mhz", 40000, 70000),
    46: ("grid_enter_ramp_ms", 0, 1000000),
    # the operator's thermal limit (thermal.conf MAX_TEMP_CELSIUS x 10), 0.1 C: never
    # above the board's rated limit (out-of-range)
    50: ("max_temp_dc", 300, 1500),
    # ---- proximity pilot, connector lock, contactor wear (issue 15) ----
    # anti-chatter: a contactor closes again at the earliest this long after its last
    # close (the interlock chatter-guard holds meanwhile)
    60: ("contactor_min_gap_ms", 0, 600000),
    # in state F this long, the connector lock lets the cable go (until the EV leaves)
    61: ("lock_unlock_in_f_ms", 1000, 3600000),
    # J1772 latch button pressed while charging: the offer is withdrawn and the contactor
    # opens once the current has fallen, or after this long under load
    62: ("pp_button_stop_ms", 500, 10000),
    # DC charger hardware (Nack bad-state on a board without a `dc` section): the time
    # dc_link_v may take to come within the tolerance of the precharge target (else
    # F-095), that tolerance (0.1 V), and an alarm threshold on the IMD's resistance
    # reading (kohm; 0: its alarm contact alone, as on a board without the reading)
    70: ("dc_precharge_ms", 500, 30000),
    71: ("dc_precharge_tol_dv", 10, 500),
    72: ("dc_imd_alarm_kohm", 0, 100000),
}
CFG_LINK_TIMEOUT = const(1)
CFG_SAFE_PILOT = const(2)
CFG_TELEMETRY_PERIOD = const(3)
CFG_GRID_CATEGORY = const(10)
CFG_DROOP_PROFILE = const(11)
CFG_DROOP_STEP = const(12)
CFG_PHASE_MRAD = const(13)
CFG_ENTER_DELAY = const(14)
CFG_GRID_LATENCY = const(15)
CFG_OV2_PM = const(16)
CFG_OV2_MS = const(17)
CFG_OV1_PM = const(18)
CFG_OV1_MS = const(19)
CFG_UV1_PM = const(20)
CFG_UV1_MS = const(21)
CFG_UV2_PM = const(22)
CFG_UV2_MS = const(23)
CFG_OF2_MHZ = const(24)
CFG_OF2_MS = const(25)
CFG_OF1_MHZ = const(26)
CFG_OF1_MS = const(27)
CFG_UF1_MHZ = const(28)
CFG_UF1_MS = const(29)
CFG_UF2_MHZ = const(30)
CFG_UF2_MS = const(31)
CFG_DROOP_DB_OF = const(32)
CFG_DROOP_DB_UF = const(33)
CFG_DROOP_K_OF = const(34)
CFG_DROOP_K_UF = const(35)
CFG_DROOP_RESP = const(36)
CFG_VW_ENABLE = const(37)
CFG_VW_V1 = const(38)
CFG_VW_V2 = const(39)
CFG_VW_P2 = const(40)
CFG_VW_RESP = const(41)
CFG_ENTER_V_MIN = const(42)
CFG_ENTER_V_MAX = const(43)
CFG_ENTER_F_MIN = const(44)
CFG_ENTER_F_MAX = const(45)
CFG_ENTER_RAMP = const(46)
CFG_MAX_TEMP = const(50)
CFG_MIN_GAP = const(60)
CFG_F_UNLOCK = const(61)
CFG_BUTTON_STOP = const(62)
GRID_KEYS = tuple(range(10, 47))
CFG_DC_PRECHARGE_MS = const(70)
CFG_DC_PRECHARGE_TOL = const(71)
CFG_DC_IMD_ALARM = const(72)
DC_KEYS = (70, 71, 72)

# Reset.what
RESET_CLEAR_FAULTS = const(1)  # clear the fail-safe and every manually clearable latch
RESET_REBOOT = const(2)
RESET_CLEAR_FAILSAFE = const(3)  # clear only link-timeout and lease-expired (the host's own)

_U8 = (0, 0xFF)
_U16 = (0, 0xFFFF)
_U32 = (0, 0xFFFFFFFF)
_I16 = (-0x8000, 0x7FFF)
_I32 = (-0x80000000, 0x7FFFFFFF)
_BOOL = (0, 1)
POWER_MAX_W = const(1000000)  # PowerLease.power_w, either way (a small int on every port)
_TEXT = None  # bytes field, no numeric range


class LinkDecodeError(ValueError):
    """A payload that is not a valid message; `reason` is the Nack reason to send."""

    def __init__(self, reason, msg_type=0, seq=0, field=0xFF, text=""):
        super().__init__(text or NACK_NAMES.get(reason, "?"))
        self.reason = reason
        self.msg_type = msg_type
        self.seq = seq
        self.field = field
        self.klass = NO_CLASS  # the command, where the frame got as far as naming one
        self.epoch = 0
        self.order = 0


class Message:
    TYPE = 0
    FORMAT = "<"
    ORDERED = False  # carries epoch and order; see the module docstring
    # set on a decoded ordered command; class defaults for everything else
    epoch = 0
    order = 0
    # type comments, not annotations: the subclasses' tuples must fit, and they cost
    # nothing on the board
    FIELDS = ()  # type: tuple[str, ...]
    RANGES = ()  # type: tuple[tuple[int, int] | None, ...]
    DEFAULTS = {}  # type: dict[str, int]  # fields that may be left out (added at the end)

    def __init__(self, *args, **kwargs):
        names = self.FIELDS
        if len(args) > len(names):
            raise TypeError("%s takes %d fields" % (type(self).__name__, len(names)))
        for i in range(len(names)):
            name = names[i]
            if i < len(args):
                value = args[i]
            elif name in kwargs:
                value = kwargs.pop(name)
            elif name in self.DEFAULTS:
                value = self.DEFAULTS[name]
            else:
                raise TypeError("%s needs field %s" % (type(self).__name__, name))
            setattr(self, name, value)
        for name in kwargs:
            raise TypeError("%s has no field %s" % (type(self).__name__, name))

    def values(self):
        return tuple(getattr(self, n) for n in self.FIELDS)

    def out_of_range(self):
        """Index of the first field outside its range, or -1."""
        ranges = self.RANGES
        for i in range(len(ranges)):
            r = ranges[i]
            if r is None:
                continue
            v = getattr(self, self.FIELDS[i])
            if not (r[0] <= v <= r[1]):
                return i
        return -1

    def encode(self, seq, check=True, epoch=0, order=0):
        """Header (+ epoch and order if ORDERED) + body. check=False lets tests and
        fuzzers build out-of-range frames."""
        i = self.out_of_range() if check else -1
        if i >= 0:
            raise ValueError("%s.%s out of range" % (type(self).__name__, self.FIELDS[i]))
        head = struct.pack(HEADER, self.TYPE, seq)
        if self.ORDERED:
            head += struct.pack(ORDER, epoch, order)
        return head + struct.pack(self.FORMAT, *self.values())

    def __eq__(self, other):
        return type(self) is type(other) and self.values() == other.values()

    def __repr__(self):
        parts = ["%s=%r" % (n, getattr(self, n)) for n in self.FIELDS]
        return "%s(%s)" % (type(self).__name__, ", ".join(parts))


# ---------------------------------------------------------------- host -> firmware


class HostHello(Message):
    """Opens the link: the range of protocol versions the host speaks, and `session`,
    drawn at random for each attempt to open one. Copies of the same HostHello (same
    `session`) get the same epoch; any other opens a new one."""

    TYPE = 0x01
    FORMAT = "<BBI"
    FIELDS = ("proto_min", "proto_max", "session")
    RANGES = ((1, 0xFF), (1, 0xFF), _U32)
    proto_min: int
    proto_max: int
    session: int


class Heartbeat(Message):
    """Keeps the link alive; the firmware's fail-safe fires when these stop."""

    TYPE = 0x02
    FORMAT = "<I"
    FIELDS = ("host_ms",)
    RANGES = (_U32,)
    host_ms: int


class SetPilot(Message):
    """Desired CP output. `duty` in 0.01 % (PWM mode: 5 %..96 %, IEC 61851-1 Annex A)."""

    TYPE = 0x03
    ORDERED = True
    FORMAT = "<BH"
    FIELDS = ("mode", "duty")
    RANGES = ((PILOT_PWM, PILOT_F), (0, 10000))
    mode: int
    duty: int

    def out_of_range(self):
        i = Message.out_of_range(self)
        if i < 0 and self.mode == PILOT_PWM and not (500 <= self.duty <= 9600):
            return 1
        return i


class PowerLease(Message):
    """Permission to close the contactors, with the current limit (AC, 0.1 A) and the
    signed power limit (DC and BPT, W: > 0 charging, < 0 discharging), valid for
    `expiry_ms`.

    A lease is never sticky: the host renews it before it expires, and an expired lease
    opens the contactors and puts the pilot in the safe state. `direction` 1 (export)
    is refused by the interlocks until grid sync is available. `power_w` 0 is no power
    limit (an AC lease: the current alone limits); otherwise, in a grant, its sign must
    be the direction's (< 0 only with direction 1: Nack conflict), and the firmware caps its
    magnitude at the board's rating (Status.limit_w). One lease, one ordering class:
    current and power travel together, so a withdrawn lease takes both with it.
    """

    TYPE = 0x04
    ORDERED = True
    FORMAT = "<BBHHi"
    FIELDS = ("allow", "direction", "current_da", "expiry_ms", "power_w")
    RANGES = (_BOOL, _BOOL, (0, 800), (50, 10000), (-POWER_MAX_W, POWER_MAX_W))
    DEFAULTS = {"power_w": 0}
    allow: int
    direction: int
    current_da: int
    expiry_ms: int
    power_w: int


class Reset(Message):
    """Clears latches or reboots. Ordered like the rest: a repeat is not done again."""

    TYPE = 0x05
    ORDERED = True
    FORMAT = "<B"
    FIELDS = ("what",)
    RANGES = ((RESET_CLEAR_FAULTS, RESET_CLEAR_FAILSAFE),)
    what: int


class SetConfig(Message):
    """One configuration value; see CONFIG_KEYS for keys and their ranges."""

    TYPE = 0x06
    ORDERED = True
    FORMAT = "<Bi"
    FIELDS = ("key", "value")
    RANGES = (_U8, _I32)
    key: int
    value: int


# ---- issue 15: connector lock ----


class Lock(Message):
    """The operator's lock command: 0 unlocks the connector (the contactor opens first:
    the interlock 'locked'; the lock moves once the current is low) and keeps it
    unlocked until the EV leaves (state A); 1 lets it lock again."""

    TYPE = 0x07
    ORDERED = True
    FORMAT = "<B"
    FIELDS = ("lock",)
    RANGES = (_BOOL,)
    lock: int


# ---------------------------------------------------------------- firmware -> host


class FirmwareHello(Message):
    """Sent at boot and in answer to HostHello. `proto` is the version chosen, `epoch`
    the one the host's ordered commands must carry (new at each HostHello)."""

    TYPE = 0x81
    FORMAT = "<BBBB12sIBI"
    FIELDS = ("proto", "fw_major", "fw_minor", "fw_patch", "board", "capabilities", "reset_reason",
              "epoch")
    RANGES = (_U8, _U8, _U8, _U8, _TEXT, _U32, _U8, _U32)
    proto: int
    fw_major: int
    fw_minor: int
    fw_patch: int
    board: bytes
    capabilities: int
    reset_reason: int
    epoch: int


class Status(Message):
    """The firmware's whole state: sent after every Ack, on heartbeat and on change.
    `limit_w` is the lease's power limit as the firmware applies it (capped at the
    board's rating and by thermal derating; signed like PowerLease.power_w), 0 when
    the lease carries none."""

    TYPE = 0x82
    FORMAT = "<BBHBHHIIIBIIBHi"
    FIELDS = (
        "cp_state", "pilot_mode", "duty", "contactor", "lease_ms", "limit_da",
        "faults", "latched", "refused", "last_class", "last_epoch", "last_order",
        "safe_reason", "link_timeout_ms", "limit_w",
    )
    RANGES = (_U8, _U8, _U16, _BOOL, _U16, _U16, _U32, _U32, _U32, _U8, _U32, _U32, _U8, _U16,
              _I32)
    DEFAULTS = {"limit_w": 0}
    cp_state: int
    pilot_mode: int
    duty: int
    contactor: int
    lease_ms: int
    limit_da: int
    faults: int
    latched: int
    refused: int
    last_class: int  # the last command acknowledged: class (NO_CLASS: none yet),
    last_epoch: int  # epoch
    last_order: int  # and order
    safe_reason: int
    link_timeout_ms: int
    limit_w: int


class CpStateChanged(Message):
    TYPE = 0x83
    FORMAT = "<BBI"
    FIELDS = ("old", "new", "at_ms")
    RANGES = (_U8, _U8, _U32)
    old: int
    new: int
    at_ms: int


class ContactorChanged(Message):
    """`reason` is the interlock bit (firmware.app.interlocks) that opened it, 0 on close
    (16 bits from version 3: the table has grown past eight rows; 32 bits from version
    4, for the DC rows, bits 15-18)."""

    TYPE = 0x84
    FORMAT = "<BII"
    FIELDS = ("closed", "reason", "at_ms")
    RANGES = (_BOOL, _U32, _U32)
    closed: int
    reason: int
    at_ms: int


class Fault(Message):
    """A fault raised. `detail_ms` is the fault's own measure (for a link timeout: the
    time from the last good host frame to the safe state)."""

    TYPE = 0x85
    FORMAT = "<HIIII"
    FIELDS = ("code", "active", "latched", "detail_ms", "at_ms")
    RANGES = (_U16, _U32, _U32, _U32, _U32)
    code: int
    active: int
    latched: int
    detail_ms: int
    at_ms: int


class Telemetry(Message):
    TYPE = 0x86
    FORMAT = "<hhhhiHHI"
    FIELDS = (
        "cp_high_mv", "cp_low_mv", "temp_dc", "temp2_dc", "current_ma", "rx_dropped", "nacks", "at_ms",
    )
    RANGES = (_I16, _I16, _I16, _I16, _I32, _U16, _U16, _U32)
    cp_high_mv: int
    cp_low_mv: int
    temp_dc: int
    temp2_dc: int
    current_ma: int
    rx_dropped: int
    nacks: int
    at_ms: int


class GridStatus(Message):
    """Grid measurement and functions: sent with every Telemetry and at once when the
    droop adjustment moves by `droop_step_w` or the export refusal changes. `droop_w`
    is the power change the host must apply (> 0 towards export). `refused` bits are
    gridfunc.REFUSED_NAMES, `trip` an index into gridfunc.TRIP_NAMES (1-4 OF2 OF1 UF1
    UF2, 5 ROCOF, 6 loss of grid, 7-10 OV2 OV1 UV1 UV2)."""

    TYPE = 0x89
    FORMAT = "<IhIBBBihI"
    FIELDS = ("freq_mhz", "rocof_mhz_s", "v_rms_mv", "flags", "refused", "trip", "droop_w",
              "phase_err_mrad", "at_ms")
    RANGES = (_U32, _I16, _U32, _U8, _U8, _U8, _I32, _I16, _U32)
    freq_mhz: int
    rocof_mhz_s: int
    v_rms_mv: int
    flags: int
    refused: int
    trip: int
    droop_w: int
    phase_err_mrad: int
    at_ms: int


class Ack(Message):
    """The command (acked_class, acked_epoch, acked_order) is applied (or was already).
    For HostHello: class NO_CLASS, the epoch it opened, order 0."""

    TYPE = 0x87
    FORMAT = "<BHBII"
    FIELDS = ("acked_type", "acked_seq", "acked_class", "acked_epoch", "acked_order")
    RANGES = (_U8, _U16, _U8, _U32, _U32)
    acked_type: int
    acked_seq: int
    acked_class: int
    acked_epoch: int
    acked_order: int


class Nack(Message):
    """`field` is the index of the offending field, 0xFF when none applies. The
    command refused is (acked_class, acked_epoch, acked_order); class NO_CLASS when the
    frame did not get as far as naming one (undecodable, not a command)."""

    TYPE = 0x88
    FORMAT = "<BHBBBII"
    FIELDS = ("acked_type", "acked_seq", "reason", "field", "acked_class", "acked_epoch",
              "acked_order")
    RANGES = (_U8, _U16, _U8, _U8, _U8, _U32, _U32)
    acked_type: int
    acked_seq: int
    reason: int
    field: int
    acked_class: int
    acked_epoch: int
    acked_order: int


# ---- issue 15: proximity pilot, lock and wear reports ----

LOCK_NONE = const(0xFF)  # CableStatus.lock on a board without a connector lock


class CableStatus(Message):
    """The cable: `pp_state` an index into proximity.NAMES (none, no-cable, ok,
    button-pressed, open, short, out-of-band), `rating_da` the cable's coded rating
    (0.1 A; 0 while not valid), `pp_ohms` the resistance read, `button` the J1772 latch
    button, `lock` an index into lock.NAMES (unlocked, locking, locked, unlocking,
    failed; LOCK_NONE without a lock). Sent on change and with every Telemetry."""

    TYPE = 0x8A
    FORMAT = "<BHHBBI"
    FIELDS = ("pp_state", "rating_da", "pp_ohms", "button", "lock", "at_ms")
    RANGES = (_U8, _U16, _U16, _BOOL, _U8, _U32)
    pp_state: int
    rating_da: int
    pp_ohms: int
    button: int
    lock: int
    at_ms: int


class WearStatus(Message):
    """One contactor's wear (0: the AC contactor; on a DC board 0 the - contactor, 1
    the +, 2 the precharge relay): operations (closes) and openings
    under load since it was new, kept across reboots; `guard_ms` how long the
    anti-chatter rule still refuses its next close. Sent after each switching and with
    every Telemetry."""

    TYPE = 0x8B
    FORMAT = "<BIIIII"
    FIELDS = ("contactor", "operations", "under_load", "min_gap_ms", "guard_ms", "at_ms")
    RANGES = (_U8, _U32, _U32, _U32, _U32, _U32)
    contactor: int
    operations: int
    under_load: int
    min_gap_ms: int
    guard_ms: int
    at_ms: int


CATALOGUE = (
    HostHello, Heartbeat, SetPilot, PowerLease, Reset, SetConfig,
    FirmwareHello, Status, CpStateChanged, ContactorChanged, Fault, Telemetry, Ack, Nack,
    GridStatus,
    Lock, CableStatus, WearStatus,  # issue 15
)  # type: tuple[type[Message], ...]
BY_TYPE = {}
for _cls in CATALOGUE:
    BY_TYPE[_cls.TYPE] = _cls
_SIZES = {}
for _cls in CATALOGUE:
    _SIZES[_cls.TYPE] = struct.calcsize(_cls.FORMAT)


# ordering classes: one per command type; one per SetConfig key, as keys are independent
# settings; one per Reset kind, as each is its own action (a newer reboot must not
# cancel an older clear)
_TYPE_CLASS = {SetPilot.TYPE: 0, PowerLease.TYPE: 1}
_RESET_FIRST = len(_TYPE_CLASS)
_RESET_KINDS = Reset.RANGES[0][1]  # Reset.what 1..this
CONFIG_CLASS = {}  # type: dict[int, int]
for _key in sorted(CONFIG_KEYS):
    CONFIG_CLASS[_key] = _RESET_FIRST + _RESET_KINDS + len(CONFIG_CLASS)
ORDER_CLASSES = _RESET_FIRST + _RESET_KINDS + len(CONFIG_CLASS)
# ---- issue 15: Lock, a class of its own after the others ----
_TYPE_CLASS[Lock.TYPE] = ORDER_CLASSES
ORDER_CLASSES += 1


def register(*classes):
    """Add the messages of an optional module (firmware/link/dcmessages.py) to the
    catalogue: decode knows them, and each ordered one gets the next ordering class.
    Done once, at that module's import, before any LinkServer or LinkClient is built
    (their tables have ORDER_CLASSES rows); a second call changes nothing. The module
    loads only where it is needed (a DC board, the host), so the other boards carry none
    of it; both ends import it in the same order, so the classes agree."""
    global CATALOGUE, ORDER_CLASSES
    for cls in classes:
        if cls.TYPE in BY_TYPE:
            continue
        CATALOGUE += (cls,)
        BY_TYPE[cls.TYPE] = cls
        _SIZES[cls.TYPE] = struct.calcsize(cls.FORMAT)
        if cls.ORDERED:
            _TYPE_CLASS[cls.TYPE] = ORDER_CLASSES
            ORDER_CLASSES += 1


def order_class(msg):
    """Index of an ordered command's class (0..ORDER_CLASSES-1); -1 for an unknown
    SetConfig key or Reset kind, and for unordered messages."""
    t = msg.TYPE
    if t == SetConfig.TYPE:
        return CONFIG_CLASS.get(msg.key, -1)
    if t == Reset.TYPE:
        w = msg.what
        return _RESET_FIRST + w - 1 if 1 <= w <= _RESET_KINDS else -1
    return _TYPE_CLASS.get(t, -1)


def decode(payload):
    """Payload -> (seq, message); an ordered command comes with its `epoch` and `order`
    set. Raises LinkDecodeError with the Nack reason."""
    if len(payload) < HEADER_SIZE:
        raise LinkDecodeError(NACK_BAD_LENGTH, text="payload shorter than the header")
    msg_type, seq = struct.unpack_from(HEADER, payload, 0)
    cls = BY_TYPE.get(msg_type)
    if cls is None:
        raise LinkDecodeError(NACK_UNKNOWN_TYPE, msg_type, seq, text="unknown type 0x%02x" % msg_type)
    start = HEADER_SIZE + ORDER_SIZE if cls.ORDERED else HEADER_SIZE
    if len(payload) - start != _SIZES[msg_type]:
        raise LinkDecodeError(
            NACK_BAD_LENGTH, msg_type, seq,
            text="%s body is %d bytes, expected %d"
            % (cls.__name__, len(payload) - start, _SIZES[msg_type]),
        )
    values = struct.unpack_from(cls.FORMAT, payload, start)
    if _TEXT in cls.RANGES:  # fixed-width text is NUL-padded on the wire
        values = tuple(v.rstrip(b"\0") if isinstance(v, bytes) else v for v in values)
    msg = cls(*values)
    if cls.ORDERED:
        msg.epoch, msg.order = struct.unpack_from(ORDER, payload, HEADER_SIZE)
    bad = msg.out_of_range()
    if bad >= 0:
        e = LinkDecodeError(
            NACK_OUT_OF_RANGE, msg_type, seq, bad,
            "%s.%s out of range" % (cls.__name__, cls.FIELDS[bad]),
        )
        if cls.ORDERED:
            k = order_class(msg)
            if k >= 0:
                e.klass, e.epoch, e.order = k, msg.epoch, msg.order
        raise e
    return seq, msg
