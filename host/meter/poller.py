"""The meter poller: which registers to read when, and what the answers mean.

Sans-I/O: the driver asks `next_request(now)` for the one read to send (RS-485 carries
one request at a time), answers with `receive(id, registers, now)` or `fail(id, reason,
now)`, and calls `handle_timer(now)` at `get_timer()`. The poller owns the timeouts too,
so a driver that hangs still ends in a fault.

What it guarantees the station:
- A meter that stops answering (a read failing `retries + 1` times, or no complete reading
  for `stale_after` seconds) raises MeterLost, and export is not allowed until a whole
  reading comes back: no unmetered export.
- An energy register that goes backwards, or forward faster than `rated_power_w` allows
  in the time since the last accepted value, is flagged (ReadingFlagged) and left out of
  ReadingTaken; the last accepted value stays the reference and export waits for a
  reading that fits.
- A signed (OCMF) record is passed on only after its signature verifies against the
  meter's key and its energies fit the registers read in the same cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from . import ocmf
from .maps import (
    ENERGY_FIELDS,
    SITE_EXPORT_BIT,
    SITE_EXPORT_ENABLE,
    MeterMap,
    Read,
    float_step_wh,
    pull_fields,
    read_plan,
)

METER, SITE, OCMF_LENGTH, OCMF_DATA = "meter", "site", "ocmf-length", "ocmf-data"


@dataclass(frozen=True)
class Request:
    id: int
    unit: int
    read: Read
    purpose: str


# -- events (past tense) ------------------------------------------------------------

@dataclass(frozen=True)
class ReadingTaken:
    values: dict[str, float]     # SI units; energies only when they passed the checks
    at: float


@dataclass(frozen=True)
class ReadingFlagged:
    name: str                    # "import_wh" / "export_wh"
    accepted_wh: float           # the last value we vouch for
    read_wh: float
    reason: str                  # "backwards" / "jump"
    at: float


@dataclass(frozen=True)
class ReadFailed:
    purpose: str
    reason: str
    at: float


@dataclass(frozen=True)
class MeterLost:
    reason: str
    at: float


@dataclass(frozen=True)
class MeterRestored:
    at: float


@dataclass(frozen=True)
class SignedValueVerified:
    record: ocmf.OcmfRecord
    signed_meter_value: dict[str, str]     # OCPP 2.0.1 SignedMeterValueType
    at: float


@dataclass(frozen=True)
class SignedValueRejected:
    reason: str
    text: str | None
    at: float


@dataclass(frozen=True)
class ExportPermissionChanged:
    allowed: bool
    reason: str
    at: float


Event = (ReadingTaken | ReadingFlagged | ReadFailed | MeterLost | MeterRestored
         | SignedValueVerified | SignedValueRejected | ExportPermissionChanged)


@dataclass
class Counters:
    requests: int = 0
    failures: int = 0            # each failed attempt (timeout, CRC, exception reply)
    timeouts: int = 0
    retries: int = 0
    flagged: int = 0
    signed_ok: int = 0
    signed_rejected: int = 0
    late_answers: int = 0


@dataclass
class _Item:
    unit: int
    read: Read
    purpose: str
    attempts: int = 0


@dataclass
class _Cycle:
    started: float
    items: list[_Item]
    blocks: dict[Read, list[int]] = field(default_factory=dict)
    meter_done_at: float | None = None
    values: dict[str, float] | None = None
    ocmf_length: int | None = None
    ocmf_words: list[int] = field(default_factory=list)
    ocmf_failed: str | None = None


class MeterPoller:
    def __init__(self, meter_map: MeterMap, now: float, *, unit: int = 1,
                 site_unit: int | None = None, interval: float = 1.0,
                 timeout: float = 0.5, retries: int = 2, stale_after: float = 5.0,
                 rated_power_w: float = 22_000.0,
                 public_key: ec.EllipticCurvePublicKey | None = None,
                 signed_every: int | None = None,
                 accepted_energy_wh: dict[str, tuple[float, float]] | None = None) -> None:
        self.map = meter_map
        self.unit = unit
        self.site_unit = site_unit
        self.interval = interval
        self.timeout = timeout
        self.retries = retries
        self.stale_after = stale_after
        self.rated_power_w = rated_power_w
        self.public_key = public_key
        self.signed_every = signed_every
        self.counters = Counters()
        self._plan = read_plan(meter_map.fields)
        self._events: list[Event] = []
        self._cycle: _Cycle | None = None
        self._cycles = 0
        self._signed_wanted = False
        self._next_id = 1
        self._inflight: Request | None = None
        self._deadline: float | None = None
        self._next_cycle_at = now
        self._last_good_at = now          # the stale clock starts at power-up
        self._lost: str | None = None
        self._had_reading = False
        # name -> (Wh, time) of the last value that passed the checks; the station may
        # restore it from storage so a meter that went backwards while we were down is
        # still caught
        self._accepted: dict[str, tuple[float, float]] = dict(accepted_energy_wh or {})
        self._energy_flag: str | None = None
        self._site_enabled: bool | None = None
        self.export_allowed = False
        self.export_reason = "no meter reading yet"

    # -- the sans-I/O surface ---------------------------------------------------------

    def next_event(self) -> Event | None:
        return self._events.pop(0) if self._events else None

    def get_timer(self) -> float | None:
        times = [] if self._lost else [self._last_good_at + self.stale_after]
        if self._deadline is not None:
            times.append(self._deadline)
        if self._cycle is None:
            times.append(self._next_cycle_at)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        if self._inflight is not None and self._deadline is not None \
                and now >= self._deadline:
            self.counters.timeouts += 1
            self.fail(self._inflight.id, "timeout", now)
        if self._cycle is None and now >= self._next_cycle_at:
            self._start_cycle(now)
        if self._lost is None and now >= self._last_good_at + self.stale_after:
            self._lose(f"no complete reading for {self.stale_after:g} s", now)

    def request_signed(self) -> None:
        """Read a signed record in the next cycle (transaction begin/end)."""
        self._signed_wanted = True

    def next_request(self, now: float) -> Request | None:
        if self._inflight is not None or self._cycle is None or not self._cycle.items:
            return None
        item = self._cycle.items[0]
        req = Request(self._next_id, item.unit, item.read, item.purpose)
        self._next_id += 1
        self._inflight = req
        self._deadline = now + self.timeout
        self.counters.requests += 1
        return req

    def receive(self, request_id: int, registers: list[int], now: float) -> None:
        req = self._take(request_id)
        if req is None or self._cycle is None:
            return
        if len(registers) != req.read.count:
            self._failed_attempt(req, f"{len(registers)} registers for "
                                      f"{req.read.count} asked", now)
            return
        cycle = self._cycle
        cycle.items.pop(0)
        if req.purpose == METER:
            cycle.blocks[req.read] = list(registers)
            if not any(i.purpose == METER for i in cycle.items):
                self._meter_complete(now)
        elif req.purpose == SITE:
            self._site_enabled = bool(registers[0] & SITE_EXPORT_BIT)
        elif req.purpose == OCMF_LENGTH:
            self._queue_ocmf_data(registers[0], now)
        else:
            cycle.ocmf_words.extend(registers)
            if not any(i.purpose == OCMF_DATA for i in cycle.items):
                self._check_signed(now)
        self._next_step(now)

    def fail(self, request_id: int, reason: str, now: float) -> None:
        req = self._take(request_id)
        if req is not None:
            self._failed_attempt(req, reason, now)

    # -- inside -----------------------------------------------------------------------

    def _take(self, request_id: int) -> Request | None:
        req = self._inflight
        if req is None or req.id != request_id:
            self.counters.late_answers += 1     # an answer after its timeout: dropped
            return None
        self._inflight = None
        self._deadline = None
        return req

    def _start_cycle(self, now: float) -> None:
        self._cycles += 1
        items = [_Item(self.unit, r, METER) for r in self._plan]
        if self.site_unit is not None:
            items.append(_Item(self.site_unit, Read(SITE_EXPORT_ENABLE.table,
                                                    SITE_EXPORT_ENABLE.address, 1), SITE))
        every = self.signed_every
        want = self._signed_wanted or (every is not None and self._cycles % every == 0)
        if want and self.map.ocmf is not None and self.public_key is not None:
            self._signed_wanted = False
            block = self.map.ocmf
            items.append(_Item(self.unit, Read(block.table, block.length_address, 1),
                               OCMF_LENGTH))
        self._cycle = _Cycle(now, items)

    def _failed_attempt(self, req: Request, reason: str, now: float) -> None:
        cycle = self._cycle
        assert cycle is not None
        self.counters.failures += 1
        item = cycle.items[0]
        item.attempts += 1
        if item.attempts <= self.retries:
            self.counters.retries += 1
            return                              # the same read goes out again
        self._events.append(ReadFailed(req.purpose, reason, now))
        if req.purpose == METER:
            self._cycle = None
            self._lose(f"meter not answering ({reason})", now)
            self._schedule(cycle, now)
            return
        cycle.items.pop(0)
        if req.purpose == SITE:
            self._site_enabled = None
        else:
            cycle.items = [i for i in cycle.items if i.purpose != OCMF_DATA]
            self._reject_signed(f"no record read ({reason})", None, now)
        self._next_step(now)

    def _next_step(self, now: float) -> None:
        cycle = self._cycle
        if cycle is not None and not cycle.items:
            self._cycle = None
            self._update_permission(now)
            self._schedule(cycle, now)

    def _schedule(self, cycle: _Cycle, now: float) -> None:
        self._next_cycle_at = max(cycle.started + self.interval, now)
        self._update_permission(now)

    def _lose(self, reason: str, now: float) -> None:
        if self._lost is None:
            self._lost = reason
            self._events.append(MeterLost(reason, now))
        self._update_permission(now)

    def _meter_complete(self, now: float) -> None:
        cycle = self._cycle
        assert cycle is not None
        cycle.meter_done_at = now
        try:
            values = pull_fields(self.map.fields, cycle.blocks)
        except ValueError as e:
            # a float register holding NaN/inf: the meter answered but said nothing usable
            self._events.append(ReadFailed(METER, str(e), now))
            self._lose(f"meter gave an unusable value ({e})", now)
            return
        cycle.values = values
        checked = [self._check_energy(name, values[name], now) for name in ENERGY_FIELDS]
        flags = [f for f in checked if f is not None]
        for name in ENERGY_FIELDS:
            if any(f.name == name for f in flags):
                del values[name]
        self._energy_flag = "; ".join(f"{f.name} {f.reason}" for f in flags) or None
        self._events.extend(flags)
        self._events.append(ReadingTaken(values, now))
        self._had_reading = True
        self._last_good_at = now
        if self._lost is not None:
            self._lost = None
            self._events.append(MeterRestored(now))

    def _tolerance_wh(self, name: str, wh: float) -> float:
        return self.map.resolution_wh + float_step_wh(self.map.by_name[name], wh)

    def _check_energy(self, name: str, wh: float, now: float) -> ReadingFlagged | None:
        last = self._accepted.get(name)
        if last is not None:
            last_wh, last_at = last
            tol = self._tolerance_wh(name, wh)
            # each value was sampled somewhere inside its request's timeout: widen the
            # elapsed time by one timeout so a slow answer is not taken for a jump
            most = self.rated_power_w * (now - last_at + self.timeout) / 3600.0 + tol
            reason = None
            if wh < last_wh - tol:
                reason = "backwards"
            elif wh - last_wh > most:
                reason = "jump"
            if reason is not None:
                self.counters.flagged += 1
                return ReadingFlagged(name, last_wh, wh, reason, now)
        self._accepted[name] = (wh, now)
        return None

    def _queue_ocmf_data(self, length: int, now: float) -> None:
        cycle = self._cycle
        block = self.map.ocmf
        assert cycle is not None and block is not None
        words = (length + 1) // 2
        if length == 0 or words > block.max_registers:
            self._reject_signed(f"meter reports a record of {length} bytes", None, now)
            return
        cycle.ocmf_length = length
        address = block.data_address
        while words:
            n = min(words, 100)
            cycle.items.append(_Item(self.unit, Read(block.table, address, n), OCMF_DATA))
            address += n
            words -= n

    def _check_signed(self, now: float) -> None:
        cycle = self._cycle
        assert cycle is not None and cycle.ocmf_length is not None
        raw = b"".join(w.to_bytes(2, "big") for w in cycle.ocmf_words)[:cycle.ocmf_length]
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            self._reject_signed("record is not UTF-8", None, now)
            return
        key = self.public_key
        assert key is not None
        try:
            record = ocmf.parse(text)
            ocmf.verify(record, key)
            if cycle.values is None or cycle.meter_done_at is None:
                raise ocmf.OcmfError("no register reading in this cycle to compare with")
            registers = {k.removesuffix("_wh"): v for k, v in cycle.values.items()
                         if k in ENERGY_FIELDS}
            if len(registers) < len(ENERGY_FIELDS):
                raise ocmf.OcmfError("energy registers flagged in this cycle")
            slack = self.rated_power_w * (now - cycle.meter_done_at + self.timeout) / 3600
            tol = max(self._tolerance_wh(n + "_wh", v) for n, v in registers.items())
            why = ocmf.mismatch(record, registers, slack, tol)
            if why is not None:
                raise ocmf.OcmfError(why)
            smv = ocmf.signed_meter_value(record, key)
        except ocmf.OcmfError as e:
            self._reject_signed(str(e), text, now)
            return
        self.counters.signed_ok += 1
        self._events.append(SignedValueVerified(record, smv, now))

    def _reject_signed(self, reason: str, text: str | None, now: float) -> None:
        self.counters.signed_rejected += 1
        self._events.append(SignedValueRejected(reason, text, now))

    def _update_permission(self, now: float) -> None:
        if self._lost is not None:
            allowed, reason = False, self._lost
        elif not self._had_reading:
            allowed, reason = False, "no meter reading yet"
        elif self._energy_flag is not None:
            allowed, reason = False, f"energy register flagged: {self._energy_flag}"
        elif self.site_unit is not None and self._site_enabled is None:
            allowed, reason = False, "site controller not answering"
        elif self.site_unit is not None and not self._site_enabled:
            allowed, reason = False, "site controller disables export"
        else:
            allowed, reason = True, "metered"
        if (allowed, reason) != (self.export_allowed, self.export_reason):
            changed = allowed != self.export_allowed
            self.export_allowed, self.export_reason = allowed, reason
            if changed:
                self._events.append(ExportPermissionChanged(allowed, reason, now))

    def snapshot(self) -> dict[str, Any]:
        """What telemetry shows: permission, reason and counters."""
        return {"export_allowed": self.export_allowed, "reason": self.export_reason,
                "lost": self._lost is not None, **vars(self.counters)}
