"""The firmware's side of the UART link (sans-I/O): bytes in, frames out.

`receive(data, now)` decodes frames and applies commands to the controller;
`poll(now)` turns the controller's events into messages and sends periodic
telemetry; `data_to_send()` hands the framed bytes to the UART.

Every command carries the whole desired state, the epoch of this host session and
its order within its ordering class (see firmware.link.messages). A command newer
than the newest applied one of its class is applied, acknowledged, and followed by
a Status with the actual state. A repeat of the newest is acknowledged again but not
applied again, so a retransmitted lease cannot extend itself. One that is older, or
of another epoch, is never applied: it gets Nack(stale), so a withdrawn lease cannot
come back from a late retransmission or a replayed frame. A command refused (out of
range, conflict) still takes its order, so a late copy of the one it replaced is stale
too, and a repeat of it gets the same Nack. Ack, Nack and Status name the command they
answer by (class, epoch, order): a frame seq alone recurs. Each HostHello opens a new
epoch (a copy of the same Hello, same `session`, is answered with the same one) and
starts every class again. Anything malformed gets a Nack with the reason and changes nothing.

`on_applied`, when set, is called with each command exactly when it is applied
(never for a repeat or a stale one): tests count with it.
"""

from array import array

from firmware.app import events, faults, proximity
from firmware.app.cable import CABLE_CHANGED, WEAR_CHANGED
from firmware.app.controller import GRID_CHANGED
from firmware.compat import const, ticks_add, ticks_diff
from firmware.link import frame
from firmware.link import messages as m

# entropy for the boot epoch, best first; tests replace them to play a poorer port
try:
    from random import getrandbits
except ImportError:
    getrandbits = None  # type: ignore[assignment]
try:
    from os import urandom
except ImportError:
    urandom = None  # type: ignore[assignment]

FW_VERSION = (0, 1, 0)
TELEMETRY_MS = const(1000)


def boot_epoch():
    """Where this boot's epochs start: random, so that frames recorded before a reboot
    do not match the new ones. None on a port with no random source at all: a fixed
    start would let those frames apply after a reboot, so the link is refused."""
    if getrandbits is not None:
        return getrandbits(32)
    if urandom is not None:
        b = urandom(4)
        return b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24
    return None


class LinkServer:
    def __init__(self, ctrl, board_name, reset_reason, now, capabilities=0, epoch=None):
        self.ctrl = ctrl
        self.board = board_name
        self.reset_reason = reset_reason
        self.capabilities = capabilities
        self.reader = frame.FrameReader()
        self.hello_done = False
        self.telemetry_ms = TELEMETRY_MS
        self._next_telemetry = now
        self._out = []
        self._seq = 0
        # the last command acknowledged (class, epoch, order), for Status
        self._last_class = m.NO_CLASS
        self._last_epoch = 0
        self._last_order = 0
        if epoch is None:
            epoch = boot_epoch()
        self.no_entropy = epoch is None  # a boot fault: every HostHello gets Nack(no-entropy)
        self.epoch = epoch or 0
        self._session = -1  # HostHello.session that opened this epoch
        self._newest = array("L", [0] * m.ORDER_CLASSES)  # newest order seen per class
        # the Nack (reason, field) of the newest when it was refused, (0, 0) if applied:
        # a repeat of a refused command gets the same answer, never an Ack
        self._refusal = bytearray(2 * m.ORDER_CLASSES)
        self.on_applied = None
        self.nacks = 0
        self.failsafe_report = None  # the last fail-safe Fault, re-sent after a Hello
        self.reboot_requested = False
        self._send(self._hello())  # announce ourselves at boot

    # ------------------------------------------------------------ output

    def _send(self, msg):
        self._seq = (self._seq + 1) & 0xFFFF
        self._out.append(frame.pack(msg.encode(self._seq)))

    def data_to_send(self):
        out = self._out
        self._out = []
        return out

    def _hello(self):
        v = FW_VERSION
        return m.FirmwareHello(
            m.PROTOCOL_VERSION, v[0], v[1], v[2], self.board, self.capabilities,
            self.reset_reason, self.epoch,
        )

    def status(self, now):
        c = self.ctrl
        return m.Status(
            c.cp, c.out_mode, c.out_duty, c.contactor, min(c.lease_remaining(now), 0xFFFF),
            c.limit_da(), c.faults, c.latched, c.refused, self._last_class, self._last_epoch,
            self._last_order, c.safe_reason(), c.link_timeout_ms, c.limit_w(),
        )

    def telemetry(self, now):
        c = self.ctrl
        return m.Telemetry(
            c.cp_high_mv, c.cp_low_mv, c.temp_dc[0], c.temp_dc[1],
            c.hal.current_ma(), min(self.reader.total_dropped(), 0xFFFF), min(self.nacks, 0xFFFF), now,
        )

    def grid_status(self, now):
        c = self.ctrl
        gs = c.gs
        rocof = c.grid_rocof
        rocof = -0x8000 if rocof < -0x8000 else (0x7FFF if rocof > 0x7FFF else rocof)
        return m.GridStatus(
            c.grid_f_mhz & 0xFFFFFFFF, rocof, gs.rms_mv & 0xFFFFFFFF, c.grid_flags & 0xFF,
            c.grid_refused & 0xFF, c.guard.trip, c.grid_adjust_w,
            c.phase_err16 * 6283 // 65536, now,
        )

    # ---- issue 15: cable and wear reports ----

    def cable_status(self, now):
        c = self.ctrl
        pp = c.pp
        lock = c.lock
        return m.CableStatus(pp.state, pp.rating_da, pp.ohms, 1 if pp.state == proximity.PRESSED else 0,
                             m.LOCK_NONE if lock is None else lock.state, now)

    def wear_status(self, i, now):
        w = self.ctrl.wear
        return m.WearStatus(i, w.ops[i], w.under_load[i], w.min_gap_ms, w.guard_left_ms(i, now), now)

    def poll(self, now):
        c = self.ctrl
        changed = False
        while True:
            rec = c.events.pop()
            if rec is None:
                break
            kind, a, b, at = rec
            changed = True
            if kind == events.CP_CHANGED:
                self._send(m.CpStateChanged(a, b, at))
            elif kind == events.CONTACTOR_CHANGED:
                self._send(m.ContactorChanged(a, b, at))
            elif kind == GRID_CHANGED:
                self._send(self.grid_status(at))
            elif kind == CABLE_CHANGED:
                self._send(self.cable_status(at))
            elif kind == WEAR_CHANGED:
                self._send(self.wear_status(a, at))
            elif kind == events.DC_CHANGED:
                self._send(c.dc.status_message(at))
            elif kind == events.FAULT_RAISED:
                msg = m.Fault(faults.code_of(a), c.faults, c.latched, b, at)
                if a & faults.FAILSAFE_MASK:
                    self.failsafe_report = msg
                self._send(msg)
        if changed and self.hello_done:
            self._send(self.status(now))
        if self.hello_done and ticks_diff(now, self._next_telemetry) >= 0:
            self._next_telemetry = ticks_add(now, self.telemetry_ms)
            self._send(self.telemetry(now))
            if c.gs is not None:
                self._send(self.grid_status(now))
            self._send(self.cable_status(now))
            for i in range(c.wear.n):
                self._send(self.wear_status(i, now))
            if c.dc is not None:
                self._send(c.dc.status_message(now))

    # ------------------------------------------------------------ input

    def receive(self, data, now):
        self.reader.feed(data)
        while True:
            payload = self.reader.next_payload()
            if payload is None:
                return
            self._handle(payload, now)

    def _nack(self, msg_type, seq, reason, field=0xFF, msg=None):
        """Nack naming the command `msg` refused (by class, epoch, order) if it is one."""
        self.nacks += 1
        k = m.order_class(msg) if msg is not None else -1
        if k < 0:
            self._send(m.Nack(msg_type & 0xFF, seq & 0xFFFF, reason, field, m.NO_CLASS, 0, 0))
        else:
            self._send(m.Nack(msg_type & 0xFF, seq & 0xFFFF, reason, field, k, msg.epoch, msg.order))

    def _handle(self, payload, now):
        try:
            seq, msg = m.decode(payload)
        except m.LinkDecodeError as e:
            self.nacks += 1
            self._send(m.Nack(e.msg_type & 0xFF, e.seq & 0xFFFF, e.reason, e.field, e.klass, e.epoch, e.order))
            return
        t = msg.TYPE
        if t == m.HostHello.TYPE:
            self._on_hello(seq, msg, now)
            return
        if not self.hello_done:
            self._nack(t, seq, m.NACK_NO_HELLO, 0xFF, msg)
            return
        handler = self._HANDLERS.get(t)
        if handler is None and self.ctrl.dc is not None:  # DC commands: firmware/app/dc.py
            handler = self.ctrl.dc.LINK_HANDLERS.get(t)
        if handler is None:  # a firmware->host type sent to us, or a DC one without DC
            self._nack(t, seq, m.NACK_UNKNOWN_TYPE)
            return
        if msg.ORDERED:
            k = m.order_class(msg)
            if k < 0:  # a SetConfig key we do not have
                self._nack(t, seq, m.NACK_BAD_KEY, 0)
                return
            newest = self._newest[k]
            if msg.epoch != self.epoch or msg.order < newest or msg.order == 0:
                self._nack(t, seq, m.NACK_STALE, 0xFF, msg)
                return
            refused = self._refusal
            if msg.order > newest:
                # a refused command still takes its place in the order: a late copy of
                # the one it replaced must not be applied after it
                self._newest[k] = msg.order
                refusal = handler(self, msg, now)
                if refusal:
                    refused[2 * k] = refusal[0]
                    refused[2 * k + 1] = refusal[1]
                else:
                    refused[2 * k] = 0
                    if self.on_applied is not None:
                        self.on_applied(msg)
            # else a repeat of the newest: answered again, not applied again
            if refused[2 * k]:
                self._nack(t, seq, refused[2 * k], refused[2 * k + 1], msg)
                return
        self.ctrl.host_alive(now)
        if msg.ORDERED:
            self._last_class = k
            self._last_epoch = msg.epoch
            self._last_order = msg.order
            self._send(m.Ack(t, seq, k, msg.epoch, msg.order))
        self._send(self.status(now))

    def _on_hello(self, seq, msg, now):
        if not (msg.proto_min <= m.PROTOCOL_VERSION <= msg.proto_max):
            self._nack(msg.TYPE, seq, m.NACK_VERSION)
            return
        if self.no_entropy:
            self._nack(msg.TYPE, seq, m.NACK_NO_ENTROPY)
            return
        if msg.session != self._session or not self.hello_done:
            self._session = msg.session  # a new host session: a new epoch, every class from 0
            self.epoch = (self.epoch + 1) & m.ORDER_MAX
            newest = self._newest
            for k in range(len(newest)):
                newest[k] = 0
                self._refusal[2 * k] = 0
        self.hello_done = True
        self.ctrl.host_alive(now)
        self._send(self._hello())
        # ties this Hello to the host's (a boot Hello is unasked)
        self._send(m.Ack(msg.TYPE, seq, m.NO_CLASS, self.epoch, 0))
        if self.failsafe_report is not None and self.ctrl.safe_reason():
            self._send(self.failsafe_report)  # tell the (new) host why we are safe
        self._send(self.status(now))
        self._next_telemetry = now

    # Each returns None when applied, or (nack reason, field). They see only commands
    # newer than the newest applied one of their class.

    def _on_heartbeat(self, msg, now):
        return None

    def _on_set_pilot(self, msg, now):
        self.ctrl.set_pilot(msg.mode, msg.duty)
        return None

    def _on_lease(self, msg, now):
        p = msg.power_w
        # a power whose sign is not the direction's is a host bug: refused, but never a
        # withdrawal (allow 0), which must always take
        if msg.allow and ((p < 0 and not msg.direction) or (p > 0 and msg.direction)):
            return (m.NACK_CONFLICT, 4)
        self.ctrl.set_lease(msg.allow, msg.direction, msg.current_da, msg.expiry_ms, now, p)
        return None

    def _on_reset(self, msg, now):
        if msg.what == m.RESET_CLEAR_FAULTS:
            self.ctrl.clear_faults()
        elif msg.what == m.RESET_CLEAR_FAILSAFE:
            self.ctrl.clear_failsafe()
        else:
            self.reboot_requested = True
        return None

    def _on_config(self, msg, now):
        spec = m.CONFIG_KEYS[msg.key]  # order_class() has checked the key
        if not (spec[1] <= msg.value <= spec[2]):
            return (m.NACK_OUT_OF_RANGE, 1)
        c = self.ctrl
        if msg.key in m.GRID_KEYS:
            reason = c.configure_grid(msg.key, msg.value)
            if not reason:
                return None
            return (reason, 0 if reason == m.NACK_BAD_STATE else 1)  # else the value's fault
        if msg.key == m.CFG_LINK_TIMEOUT:
            c.link_timeout_ms = msg.value
        elif msg.key == m.CFG_SAFE_PILOT:
            c.safe_pilot = msg.value
        elif msg.key == m.CFG_TELEMETRY_PERIOD:
            self.telemetry_ms = msg.value
        elif msg.key == m.CFG_MAX_TEMP:
            reason = c.configure_thermal(msg.value)
            if reason:
                return (reason, 1)
        # ---- issue 15 ----
        elif msg.key == m.CFG_MIN_GAP:
            c.wear.min_gap_ms = msg.value
        elif msg.key == m.CFG_F_UNLOCK:
            c.f_unlock_ms = msg.value
        elif msg.key == m.CFG_BUTTON_STOP:
            c.button_stop_ms = msg.value
        elif msg.key in m.DC_KEYS:
            if c.dc is None:
                return (m.NACK_BAD_STATE, 0)
            c.dc.configure(msg.key, msg.value)
        return None

    def _on_lock(self, msg, now):
        if self.ctrl.lock is None:
            return (m.NACK_BAD_STATE, 0)  # no connector lock on this board
        self.ctrl.set_lock(msg.lock)
        return None

    _HANDLERS = {
        m.Heartbeat.TYPE: _on_heartbeat,
        m.SetPilot.TYPE: _on_set_pilot,
        m.PowerLease.TYPE: _on_lease,
        m.Reset.TYPE: _on_reset,
        m.SetConfig.TYPE: _on_config,
        m.Lock.TYPE: _on_lock,  # issue 15
    }
