"""The fog node's state, sans-I/O: what its chargers can do, and what each should do.

Inputs: charger telemetry (`telemetry`), DR events from the DERMS (`dr_event`), the state
of the upstream link (`upstream`). Output: per-charger `Setpoint`s from `dispatch(now)`,
per-feeder aggregates from `aggregates(now)`, and log lines from `next_log()`.

Dispatch, per feeder, among the chargers heard from within `stale_after` seconds:
- a DR event running (start <= now < end): its target power is split in proportion to
  each charger's capacity in that direction (max_discharge_w for a negative target,
  max_charge_w for a positive one), so no charger is asked beyond what it said it can do
  and the sum equals the target whenever the feeder has the capacity (else every charger
  is at its capacity and the shortfall is logged once per event). A positive target is
  first capped at the feeder's import limit. Setpoints are "target"s and expire at the
  event's end (or after `ttl`, refreshed before then while the event runs).
- no event: if the chargers together could import more than the feeder limit, each gets
  a "limit" in proportion to its max_charge_w (summing to the feeder limit); otherwise none.
A limit that stops binding, or the target of an event that ended early or was replaced, is
lifted at once (a setpoint that expires as it is issued).
A setpoint is sent again only when it moves by more than `deadband_w` or is half-way to
expiry, so a steady event does not flood the broker; but when the import setpoints held
that way would add up beyond the feeder limit, every lowered one is sent.

The last DR event is kept until its end whatever happens upstream: losing the DERMS link
changes nothing the chargers see, and the node logs that it carries on alone.

Telemetry arrives at least once, and out of order after a resend: every record is
acknowledged back to its charger by number (`acks`), which is what lets the charger
delete it. Per charger the node keeps which numbers it has had (a watermark below which
all arrived, and the set above it, at most HOLE_WINDOW numbers: older holes are given
up), so a number seen before is a duplicate (acknowledged again: the charger may have
missed the first acknowledgement) and `holes()` is what is missing right now. The newest record by seq is the charger's state; a record newer by its
ts under a lower number means the charger's numbering restarted, which is logged.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from host.fleet.topics import MAX_ACK_RANGES, DrEvent, Setpoint, Telemetry, ranges_of

HOLE_WINDOW = 10_000  # numbers kept above a charger's watermark, at most


@dataclass
class Seen:
    last: Telemetry
    at: float  # when it arrived (our clock: a charger's clock may be wrong)
    below: int = 0  # every seq <= below has arrived
    above: set[int] = field(default_factory=set)  # arrived seqs > below

    def had(self, seq: int) -> bool:
        return seq <= self.below or seq in self.above

    def add(self, seq: int) -> None:
        self.above.add(seq)
        if len(self.above) > HOLE_WINDOW:
            # holes this far behind will not fill (another fog of the group got those
            # numbers, or the charger's bounded queue dropped them): forget the older half,
            # so a fog's memory per charger is bounded. A late one is a duplicate then
            # (acknowledged all the same, so the charger still deletes it).
            keep = sorted(self.above)[len(self.above) // 2:]
            self.below, self.above = keep[0] - 1, set(keep)
        while self.below + 1 in self.above:
            self.below += 1
            self.above.discard(self.below)

    def holes(self) -> int:
        return max(self.above, default=self.below) - self.below - len(self.above)


@dataclass
class Counts:
    telemetry: int = 0
    duplicates: int = 0
    bad: int = 0
    setpoints: int = 0
    dr_events: int = 0


@dataclass
class _Sent:
    setpoint: Setpoint


@dataclass
class FogState:
    fog_id: str
    feeder_limits: dict[str, float] = field(default_factory=dict)  # import limit, W
    stale_after: float = 5.0
    ttl: float = 30.0
    deadband_w: float = 50.0
    chargers: dict[str, Seen] = field(default_factory=dict)
    events: dict[str, DrEvent] = field(default_factory=dict)  # the latest per feeder
    counts: Counts = field(default_factory=Counts)
    upstream_up: bool = False
    _sent: dict[str, Setpoint] = field(default_factory=dict)
    _short: set[str] = field(default_factory=set)
    _log: deque[str] = field(default_factory=deque)
    _to_ack: dict[str, list[int]] = field(default_factory=dict)

    # -- inputs --------------------------------------------------------------------------

    def telemetry(self, t: Telemetry, now: float) -> None:
        self.counts.telemetry += 1
        self._to_ack.setdefault(t.charger, []).append(t.seq)
        seen = self.chargers.get(t.charger)
        if seen is None:
            # what is below its first number here was acknowledged (by this fog before a
            # restart, or by another of the group) and deleted: not holes, never to come
            seen = self.chargers[t.charger] = Seen(t, now, below=t.seq - 1)
        elif seen.had(t.seq):
            if t.ts <= seen.last.ts:  # a resend: made no later than what we hold
                self.counts.duplicates += 1
                return
            # a newer record under a number already had: the charger's queue started
            # again (its file lost); ignoring it would leave the charger unheard for good
            self._log.append(f"charger {t.charger}: telemetry numbering restarted at "
                             f"{t.seq} (was {seen.last.seq})")  # fmt: skip
            seen = self.chargers[t.charger] = Seen(t, now, below=t.seq - 1)
        seen.add(t.seq)
        if t.seq >= seen.last.seq or t.ts > seen.last.ts:
            seen.last, seen.at = t, now

    def acks(self) -> list[tuple[str, str, tuple[tuple[int, int], ...]]]:
        """(feeder, charger, ranges) for every charger heard from since the last call;
        several for one charger when its numbers make more ranges than a charger reads in
        one acknowledgement (MAX_ACK_RANGES: it refuses a longer one whole)."""
        out = []
        for charger, numbers in self._to_ack.items():
            feeder, ranges = self.chargers[charger].last.feeder, ranges_of(numbers)
            for i in range(0, len(ranges), MAX_ACK_RANGES):
                out.append((feeder, charger, ranges[i:i + MAX_ACK_RANGES]))
        self._to_ack = {}
        return out

    def holes(self) -> int:
        """Records missing right now, over all chargers (below each one's newest)."""
        return sum(seen.holes() for seen in self.chargers.values())

    def bad_payload(self, reason: str) -> None:
        self.counts.bad += 1
        if self.counts.bad <= 10 or self.counts.bad % 1000 == 0:
            self._log.append(f"dropped a bad payload ({self.counts.bad} so far): {reason}")

    def dr_event(self, event: DrEvent, now: float) -> None:
        old = self.events.get(event.feeder)
        if old is not None and old.id == event.id and old == event:
            return  # the same event again (QoS 1 resend, retained copy)
        self.counts.dr_events += 1
        self.events[event.feeder] = event
        self._log.append(
            f"DR event {event.id} for feeder {event.feeder}: {event.target_w:+.0f} W from "
            f"{event.start:.1f} for {event.duration_s:.0f} s")  # fmt: skip

    def upstream(self, up: bool, now: float) -> None:
        if up == self.upstream_up:
            return
        self.upstream_up = up
        if up:
            self._log.append("upstream (DERMS) link up")
            return
        running = [e for e in self.events.values() if e.end > now]
        keep = "; ".join(f"DR event {e.id} on {e.feeder} until {e.end:.1f}" for e in running)
        limits = ", ".join(f"{f} {w:.0f} W" for f, w in sorted(self.feeder_limits.items()))
        self._log.append(
            "upstream (DERMS) link lost: carrying on with the local feeder limits "
            f"({limits or 'none'}) and {keep or 'no DR event'}")  # fmt: skip

    # -- outputs -------------------------------------------------------------------------

    def next_log(self) -> str | None:
        return self._log.popleft() if self._log else None

    def fresh(self, feeder: str, now: float) -> list[Telemetry]:
        return sorted((s.last for s in self.chargers.values()
                       if s.last.feeder == feeder and now - s.at <= self.stale_after),
                      key=lambda t: t.charger)  # fmt: skip

    def feeders(self) -> set[str]:
        return {s.last.feeder for s in self.chargers.values()} | set(self.feeder_limits)

    def wanted(self, feeder: str, now: float) -> list[Setpoint]:
        """What every fresh charger of the feeder should do now (no deadband)."""
        chargers = self.fresh(feeder, now)
        event = self.events.get(feeder)
        limit = self.feeder_limits.get(feeder)
        if event is not None and event.start <= now < event.end:
            target = event.target_w
            if limit is not None and target > limit:
                target = limit
            caps = [t.max_discharge_w if target < 0 else t.max_charge_w for t in chargers]
            total = sum(caps)
            share = min(1.0, abs(target) / total) if total > 0 else 0.0
            if abs(target) > total and event.id not in self._short:
                self._short.add(event.id)
                self._log.append(f"DR event {event.id}: feeder {feeder} can give {total:.0f} W "
                                 f"of {abs(target):.0f} W asked")  # fmt: skip
            sign = -1.0 if target < 0 else 1.0
            expires = min(event.end, now + self.ttl)
            return [Setpoint(t.charger, event.id, "target", sign * cap * share, now, expires)
                    for t, cap in zip(chargers, caps, strict=True)]  # fmt: skip
        if limit is None:
            return []
        total = sum(t.max_charge_w for t in chargers)
        if total <= limit:
            return []
        return [Setpoint(t.charger, "limit", "limit", t.max_charge_w * limit / total, now,
                         now + self.ttl) for t in chargers]  # fmt: skip

    def dispatch(self, now: float) -> list[Setpoint]:
        """The setpoints to publish now: new ones, moved ones, and refreshes."""
        out = []
        for feeder in sorted(self.feeders()):
            wanted = self.wanted(feeder, now)
            named = {sp.charger: sp.kind for sp in wanted}
            for charger, held in list(self._sent.items()):
                # a setpoint of a kind no longer wanted (a feeder limit that stopped binding,
                # the target of an event cut short or replaced) is lifted at once, not left
                # to expire: a charger holds one of each kind, a new kind does not replace it
                if (held.expires > now and named.get(charger) != held.kind
                        and self._feeder_of(charger) == feeder):
                    lift = Setpoint(charger, held.event, held.kind, held.setpoint_w, now, now)
                    self._sent[charger] = lift
                    out.append(lift)
            send = []
            for sp in wanted:
                old = self._sent.get(sp.charger)
                if (old is None or old.event != sp.event or old.kind != sp.kind
                        or abs(old.setpoint_w - sp.setpoint_w) > self.deadband_w
                        or now >= (old.issued + old.expires) / 2):
                    send.append(sp)
            limit = self.feeder_limits.get(feeder)
            if limit is not None:
                # the deadband may keep each import setpoint a little high; together they
                # must not pass the feeder limit, so then every lowered one goes out
                chosen = {sp.charger for sp in send}
                held_w = sum(max(0.0, (sp if sp.charger in chosen else self._sent[sp.charger])
                               .setpoint_w) for sp in wanted)  # fmt: skip
                if held_w > limit * (1 + 1e-9):
                    send += [sp for sp in wanted if sp.charger not in chosen
                             and self._sent[sp.charger].setpoint_w > sp.setpoint_w]  # fmt: skip
            for sp in send:
                self._sent[sp.charger] = sp
                out.append(sp)
        self.counts.setpoints += len(out)
        return out

    def unsent(self, charger: str) -> None:
        """A setpoint could not be published: dispatch it again next time."""
        self._sent.pop(charger, None)

    def _feeder_of(self, charger: str) -> str | None:
        seen = self.chargers.get(charger)
        return seen.last.feeder if seen else None

    def aggregates(self, now: float) -> dict[str, dict[str, float | int | str | None]]:
        result: dict[str, dict[str, float | int | str | None]] = {}
        for feeder in sorted(self.feeders()):
            chargers = self.fresh(feeder, now)
            event = self.events.get(feeder)
            running = event is not None and event.start <= now < event.end
            result[feeder] = {
                "chargers": sum(1 for s in self.chargers.values() if s.last.feeder == feeder),
                "fresh": len(chargers),
                "power_w": round(sum(t.power_w for t in chargers), 1),
                "max_charge_w": round(sum(t.max_charge_w for t in chargers), 1),
                "max_discharge_w": round(sum(t.max_discharge_w for t in chargers), 1),
                "limit_w": self.feeder_limits.get(feeder),
                "dr_event": event.id if running and event else None,
                "dr_target_w": event.target_w if running and event else None,
            }
        return result
