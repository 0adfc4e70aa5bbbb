"""A charger's side of the fleet tier: telemetry out through the outbox, setpoints in.

`ChargerLink.record(...)` stores a telemetry record (on disk first) and wakes the sender;
`run()` keeps a broker session up for as long as it runs: it reconnects with back-off,
sends the outbox oldest first, deletes a record only when the fog acknowledges its number
(the broker's PUBACK is not enough: host/fleet/outbox.py says why), sends everything
unacknowledged again when no acknowledgement came for `ack_timeout` seconds or after a
reconnect, and hands every setpoint for this charger to `SetpointHolder`, which the
station's arbitration reads.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiomqtt

from host.fleet import topics
from host.fleet.mqtt import Broker, raise_if_cancelled
from host.fleet.outbox import Outbox
from host.fleet.topics import PayloadError, Setpoint, Telemetry

log = logging.getLogger("v2gate.fleet")


class SetpointHolder:
    """The fog's word for one charger, until it expires.

    `target(now)` is the power a DR event asks for (None: no event), `limit(now)` the
    feeder's cap on import (None: none). Older setpoints (by `issued`) never replace
    newer ones, so a QoS 1 resend after a reconnect cannot bring back an old value.
    """

    def __init__(self) -> None:
        self.current: dict[str, Setpoint] = {}  # by kind
        self.received = 0
        self.stale = 0

    def offer(self, sp: Setpoint) -> bool:
        old = self.current.get(sp.kind)
        self.received += 1
        if old is not None and sp.issued < old.issued:
            self.stale += 1
            return False
        self.current[sp.kind] = sp
        return True

    def _valid(self, kind: str, now: float) -> float | None:
        # not `issued <= now`: `issued` is the fog's clock, and a refresh from a fog a
        # little ahead would leave the charger with no setpoint at all until ours caught up
        sp = self.current.get(kind)
        return sp.setpoint_w if sp is not None and now < sp.expires else None

    def target(self, now: float) -> float | None:
        return self._valid("target", now)

    def limit(self, now: float) -> float | None:
        return self._valid("limit", now)


@dataclass
class LinkCounts:
    published: int = 0
    connects: int = 0
    setpoints: int = 0
    bad_setpoints: int = 0
    acked: int = 0
    resends: int = 0  # times everything unacknowledged went out again


class ChargerLink:
    def __init__(self, charger: str, feeder: str, outbox: Outbox, broker: Broker, *,
                 holder: SetpointHolder | None = None, clock: Callable[[], float] = time.time,
                 backoff: tuple[float, float] = (0.2, 5.0), ack_timeout: float = 10.0,
                 on_setpoint: Callable[[Setpoint, float], None] | None = None) -> None:  # fmt: skip
        self.charger, self.feeder = charger, feeder
        self.outbox, self.broker = outbox, broker
        self.holder = holder if holder is not None else SetpointHolder()
        self.clock = clock
        self.backoff = backoff
        self.on_setpoint = on_setpoint
        self.counts = LinkCounts()
        self.ack_timeout = ack_timeout
        self.batched_acks = False  # deletes at the outbox's flush (a simulator's many chargers)
        self._cursor = 0  # the highest number sent on this connection
        self._sent_at: dict[int, float] = {}  # sent, not yet acknowledged: monotonic time
        self.connected = asyncio.Event()
        self._wake = asyncio.Event()
        self._topic = topics.telemetry_topic(feeder, charger)

    def record(self, **fields: object) -> int:
        """Store one telemetry record (charger, feeder, seq and ts are filled in)."""
        seq = self.outbox.put(*self.telemetry(**fields))
        self.wake()
        return seq

    def telemetry(self, **fields: object) -> tuple[str, str, Callable[[int], bytes]]:
        """(owner, topic, build) of a record, for `Outbox.put_many`; then call `wake`."""
        now = self.clock()

        def build(seq: int) -> bytes:
            return Telemetry(charger=self.charger, feeder=self.feeder, seq=seq, ts=now,
                             **fields).encode()  # type: ignore[arg-type]

        return self.charger, self._topic, build

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        delay = self.backoff[0]
        state = topics.state_topic(self.feeder, self.charger)
        will = aiomqtt.Will(state, b"offline", qos=1, retain=True)
        while True:
            try:
                async with self.broker.client(f"charger-{self.charger}", will=will) as client:
                    self.counts.connects += 1
                    delay = self.backoff[0]
                    await client.subscribe(topics.setpoint_topic(self.feeder, self.charger), qos=1)
                    await client.subscribe(topics.ack_topic(self.feeder, self.charger), qos=1)
                    self._cursor = 0  # everything unacknowledged goes out again
                    self._sent_at.clear()
                    await client.publish(state, b"online", qos=1, retain=True)
                    raise_if_cancelled()  # lost in the CONNACK, SUBACK or PUBACK's turn
                    self.connected.set()
                    await self._session(client)
            except* (aiomqtt.MqttError, OSError) as group:
                self.connected.clear()
                log.debug("charger %s: broker lost (%s), retry in %.1f s", self.charger,
                          group.exceptions[0], delay)  # fmt: skip
            # jittered, so a fleet that lost its broker does not come back as one herd
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, self.backoff[1])

    async def _session(self, client: aiomqtt.Client) -> None:
        """`_send` and `_receive` until one fails (its error is raised) or we are cancelled.

        Not a TaskGroup: on 3.11 one whose task fails while it waits for the others
        leaves its parent's `cancelling()` at 1 for good, and `raise_if_cancelled` in
        `run` would then end the link at its next reconnect."""
        both = {asyncio.create_task(self._send(client)), asyncio.create_task(self._receive(client))}
        try:
            done, _ = await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in both:
                task.cancel()
            await asyncio.wait(both)
        for task in done:
            task.result()

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            raise_if_cancelled()  # a PUBACK with the cancel: the publish returned anyway
            now = time.monotonic()
            if self._sent_at and now - min(self._sent_at.values()) > self.ack_timeout:
                # the oldest one sent never came back (later ones may have): from it, again
                self._cursor = min(self._sent_at) - 1
                self._sent_at.clear()
                self.counts.resends += 1
            batch = self.outbox.pending(self.charger, 50, after=self._cursor)
            if not batch:
                self._wake.clear()
                try:  # not wait_for: a wake with the cancel would swallow it (on 3.11)
                    async with asyncio.timeout(self.ack_timeout / 2):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            for number, topic, payload in batch:
                await client.publish(topic, payload, qos=1, timeout=10)
                self._cursor = number
                self._sent_at.setdefault(number, time.monotonic())
                self.counts.published += 1

    def _on_ack(self, ack: topics.Ack) -> None:
        self.outbox.ack_ranges(self.charger, ack.ranges, defer=self.batched_acks)
        self.counts.acked += sum(last - first + 1 for first, last in ack.ranges)
        # by bisection over the ranges sorted by start (with the furthest end reached so
        # far, as ranges may overlap): every sent number against every range was
        # 10000 x the numbers in flight per acknowledgement
        spans = sorted(ack.ranges)
        firsts = [a for a, _ in spans]
        reach = list(itertools.accumulate((b for _, b in spans), max))
        for number in list(self._sent_at):
            i = bisect.bisect_right(firsts, number) - 1
            if i >= 0 and reach[i] >= number:
                del self._sent_at[number]

    async def _receive(self, client: aiomqtt.Client) -> None:
        ack_topic = topics.ack_topic(self.feeder, self.charger)
        async for message in client.messages:
            if str(message.topic) == ack_topic:
                try:
                    ack = topics.decode_ack(bytes(message.payload))  # type: ignore[arg-type]
                    if ack.charger != self.charger:
                        raise PayloadError(f"ack for {ack.charger} on {self.charger}'s topic")
                except PayloadError as exc:
                    log.warning("charger %s: acknowledgement dropped: %s", self.charger, exc)
                    continue
                self._on_ack(ack)
                continue
            try:
                sp = topics.decode_setpoint(bytes(message.payload))  # type: ignore[arg-type]
                if sp.charger != self.charger:
                    raise PayloadError(f"setpoint for {sp.charger} on {self.charger}'s topic")
            except PayloadError as exc:
                self.counts.bad_setpoints += 1
                log.warning("charger %s: setpoint dropped: %s", self.charger, exc)
                continue
            self.counts.setpoints += 1
            if self.holder.offer(sp) and self.on_setpoint is not None:
                self.on_setpoint(sp, self.clock())
