"""What the console knows about the link, sans-I/O: frames and link events in, the
lines of the screen and of the frame log out.

Each frame the port carries, either way, comes in through `frame()`; the newest of
every firmware report is kept by message type, whatever the catalogue holds, and the
frame log gets one decoded line per frame that says something new (heartbeats and
the periodic Status/Telemetry/GridStatus only with `raw`, where every frame is
logged in hex with its decode).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from firmware.app import faults, gridfunc
from firmware.link import frame
from firmware.link import messages as m
from host.console import fields
from host.link import events as ev

# sent many times a second: in the log only with --raw (the panel shows them)
PERIODIC = (m.Heartbeat.TYPE, m.Status.TYPE, m.Telemetry.TYPE, m.GridStatus.TYPE)
LOG_LINES = 400
# the fields the panel's summary lines show; the rest of these reports, and every other
# report, is listed generically, so a field or message added to the catalogue shows
SUMMARISED = {
    m.Status.TYPE: ("cp_state", "pilot_mode", "duty", "contactor", "lease_ms", "limit_da", "limit_w",
                    "faults", "latched", "refused", "safe_reason"),
    m.Telemetry.TYPE: ("current_ma", "temp_dc", "temp2_dc", "cp_high_mv", "cp_low_mv", "rx_dropped",
                       "nacks"),
    m.GridStatus.TYPE: ("freq_mhz", "phase_err_mrad", "v_rms_mv", "refused", "trip"),
}
# fields that differ in every copy of a message: not what makes it news
_CHANGING = ("_ms", "_seq", "_epoch", "_order", "session")
NOT_IN_SERVICE = gridfunc.UNSYNCED | gridfunc.TRIPPED | gridfunc.LOST | gridfunc.NO_SENSING


class Counters:
    def __init__(self) -> None:
        self.rx = 0
        self.tx = 0
        self.crc = 0
        self.resyncs = 0  # bytes skipped to the next delimiter: COBS, oversize, short
        self.undecodable = 0


class ConsoleState:
    def __init__(self, raw: bool = False, source: str = "") -> None:
        self.raw = raw
        self.source = source
        self.count = Counters()
        self.latest: dict[int, m.Message] = {}  # message type -> newest report
        self.log: deque[str] = deque(maxlen=LOG_LINES)
        self.hello: m.FirmwareHello | None = None
        self.up = False
        self.lease: str = "none"
        self.added = 0  # log entries ever added (the log keeps the newest)
        # --log: every frame and every line that is not a frame's, to replay the session
        self.record: Callable[[dict[str, object]], None] | None = None
        self._last_logged: dict[int, tuple[object, ...]] = {}

    # ------------------------------------------------------------ input

    def say(self, t: float, text: str) -> None:
        self.log.append(f"{t:8.3f} {text}")
        self.added += 1

    def note(self, t: float, text: str) -> None:
        """A log line that no frame explains (link events, commands, the plant): kept
        in the recording as it is."""
        if self.record is not None:
            self.record({"t": round(t, 3), "say": text})
        self.say(t, text)

    def frame(self, t: float, direction: str, payload: bytes) -> None:
        """One good frame's payload, `direction` "rx" (from the firmware) or "tx"."""
        if self.record is not None:
            self.record({"t": round(t, 3), direction: payload.hex()})
        if direction == "rx":
            self.count.rx += 1
        else:
            self.count.tx += 1
        try:
            _seq, msg = m.decode(payload)
        except m.LinkDecodeError as e:
            if direction == "rx":
                self.count.undecodable += 1
            self.say(t, f"{direction} undecodable ({e}) {payload.hex(' ')}")
            return
        if direction == "rx":
            self.latest[msg.TYPE] = msg
            if isinstance(msg, m.FirmwareHello):
                self.hello = msg
        text = f"{direction} {fields.describe(msg)}"
        if self.raw:
            self.say(t, f"{text}\n{'':9}{payload.hex(' ')}")
            return
        if msg.TYPE in PERIODIC:
            return
        # a repeat that says nothing new (a lease renewal and its Ack) is not logged again
        key = (direction, *(v for f, v in zip(msg.FIELDS, msg.values(), strict=True)
                            if not f.endswith(_CHANGING)))
        if self._last_logged.get(msg.TYPE) != key:
            self._last_logged[msg.TYPE] = key
            self.say(t, text)

    def reader_drops(self, reader: Any) -> None:  # a firmware.link.frame.FrameReader
        d = reader.dropped
        self.count.crc = d[frame.DROP_CRC]
        self.count.resyncs = d[frame.DROP_COBS] + d[frame.DROP_OVERSIZE] + d[frame.DROP_SHORT]

    def event(self, t: float, e: ev.Event) -> None:
        """A link event (the client's view: sessions and command outcomes)."""
        if isinstance(e, ev.LinkUp):
            self.up = True
            self.note(t, f"link up: board {e.board}, firmware "
                        f"{e.hello.fw_major}.{e.hello.fw_minor}.{e.hello.fw_patch}")
        elif isinstance(e, ev.LinkDown):
            self.up = False
            self.note(t, f"link down: {e.reason}")
        elif isinstance(e, ev.CommandAcked):
            if not isinstance(e.command, m.PowerLease) or self.raw:  # renewals: quiet
                self.note(t, f"done: {fields.describe(e.command)}")
        elif isinstance(e, ev.CommandRejected):
            self.note(t, f"refused: {fields.describe(e.command)}: {e.describe()}")
        elif isinstance(e, ev.CommandTimedOut):
            self.note(t, f"no answer: {fields.describe(e.command)} ({e.attempts} attempts)")

    # ------------------------------------------------------------ output

    def panel(self) -> list[str]:
        """The live state: the summary lines, then every other report as it came."""
        st = self.latest.get(m.Status.TYPE)
        tel = self.latest.get(m.Telemetry.TYPE)
        grid = self.latest.get(m.GridStatus.TYPE)
        h = self.hello
        who = (f"board {fields.value('', 'board', h.board)} firmware {h.fw_major}.{h.fw_minor}."
               f"{h.fw_patch} proto {h.proto}" if h else "no firmware hello yet")
        lines = [f"v2gate console  {self.source}  {who}  link {'UP' if self.up else 'DOWN'}"]
        if isinstance(st, m.Status):
            pilot = fields.value("Status", "pilot_mode", st.pilot_mode)
            if st.pilot_mode == m.PILOT_PWM:
                pilot += " " + fields.value("Status", "duty", st.duty)
            aux = ("aux WELDED" if st.faults & faults.CONTACTOR_WELD else
                   "aux NO FEEDBACK" if st.faults & faults.CONTACTOR_NO_FEEDBACK else "aux agrees")
            lines.append(f"CP {fields.value('Status', 'cp_state', st.cp_state)}  pilot {pilot}  "
                         f"contactor {'CLOSED' if st.contactor else 'open'} ({aux})  "
                         f"lease {self.lease}, {st.lease_ms} ms left, limit {st.limit_da / 10:.1f} A "
                         f"{st.limit_w} W")
            lines.append(f"faults active: {fields.fault_names(st.faults)}")
            lines.append(f"faults latched: {fields.fault_names(st.latched)}  safe reason: "
                         f"{fields.value('Status', 'safe_reason', st.safe_reason)}")
            lines.append(f"refused: {fields.interlock_names(st.refused)}")
        else:
            lines.append("CP ?  (no Status yet)")
        if isinstance(tel, m.Telemetry):
            lines.append(f"current {tel.current_ma / 1000:.2f} A  temperatures {tel.temp_dc / 10:.1f} C "
                         f"{tel.temp2_dc / 10:.1f} C  CP {tel.cp_high_mv / 1000:+.2f} V / "
                         f"{tel.cp_low_mv / 1000:+.2f} V")
        if isinstance(grid, m.GridStatus):
            lines.append(grid_line(grid))
        c = self.count
        fw = (f"  firmware: rx dropped {tel.rx_dropped}, nacks {tel.nacks}"
              if isinstance(tel, m.Telemetry) else "")
        lines.append(f"link frames rx {c.rx} tx {c.tx}  CRC errors {c.crc}  resyncs {c.resyncs}  "
                     f"undecodable {c.undecodable}{fw}")
        for t, msg in sorted(self.latest.items()):
            if t in (m.FirmwareHello.TYPE, m.Ack.TYPE, m.Nack.TYPE):
                continue
            summarised = SUMMARISED.get(t, ())
            rest = [f for f in msg.FIELDS if f not in summarised]
            if rest != ["at_ms"]:  # what the lines above do not show, new fields included
                lines.append(fields.describe(msg, summarised))
        return lines


def grid_line(g: m.GridStatus) -> str:
    service = "in service" if not g.refused & NOT_IN_SERVICE else "NOT in service"
    trip = f"  trip {fields.value('GridStatus', 'trip', g.trip)}" if g.trip else ""
    return (f"grid {g.freq_mhz / 1000:.3f} Hz  phase error {g.phase_err_mrad} mrad  "
            f"{g.v_rms_mv / 1000:.1f} V  {service} (refused: {fields.grid_refusals(g.refused)}){trip}")
