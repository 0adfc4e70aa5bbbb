"""The fog node's I/O: two broker sessions around one `FogState`.

- local (the chargers' broker): a shared subscription to every charger's telemetry, so
  several fog processes of one group split the chargers;
- dispatch (the same broker, a session of its own): the setpoints out. Apart from the
  telemetry session because paho, under a steady inflow of QoS 1 messages, took seconds
  to complete a burst of QoS 1 publishes on the same connection (500 setpoints: 6.4 s
  against 0.13 s alone, measured with aiomqtt 2.5 / paho 2.2);
- upstream (the DERMS): DR events in, per-feeder aggregates out. Only aggregates leave.

Each session reconnects on its own with back-off; the state lives on, so a broker
restart needs no fog restart, and an upstream outage leaves local control running.
Setpoints go out every `period` seconds and at once when a DR event arrives.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

import aiomqtt

from host.fleet import topics
from host.fleet.dispatch import FogState
from host.fleet.mqtt import Broker
from host.fleet.topics import PayloadError

log = logging.getLogger("v2gate.fog")


class FogNode:
    def __init__(self, state: FogState, local: Broker, upstream: Broker | None = None, *,
                 group: str = "fog", period: float = 1.0, aggregate_period: float = 5.0,
                 clock: Callable[[], float] = time.time,
                 say: Callable[[str], None] = print) -> None:  # fmt: skip
        self.state, self.local, self.upstream = state, local, upstream or local
        self.group, self.period, self.aggregate_period = group, period, aggregate_period
        self.clock, self.say = clock, say
        self.ready = asyncio.Event()  # setpoints can go out
        self._client: aiomqtt.Client | None = None
        self._kick = asyncio.Event()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._session(self._local_session, "local broker"))
            tg.create_task(self._session(self._dispatch_session, "dispatch session"))
            tg.create_task(self._session(self._upstream_session, "upstream"))
            tg.create_task(self._dispatcher())

    def _flush_log(self) -> None:
        while (line := self.state.next_log()) is not None:
            log.info("%s", line)
            self.say(f"fog {self.state.fog_id}: {line}")

    async def _session(self, body: Callable[[], object], what: str) -> None:
        delay = 0.2
        while True:
            try:
                await body()  # type: ignore[misc]
            except* (aiomqtt.MqttError, OSError) as group:
                if what == "upstream":
                    self.state.upstream(False, self.clock())
                    self._flush_log()
                else:
                    self.say(f"fog {self.state.fog_id}: {what} lost ({group.exceptions[0]}), "
                             f"reconnecting")  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _local_session(self) -> None:
        async with self.local.client(f"fog-{self.state.fog_id}") as client:
            await client.subscribe(topics.shared(self.group, topics.ALL_TELEMETRY), qos=1)
            self.say(f"fog {self.state.fog_id}: subscribed to the chargers' telemetry on "
                     f"{self.local.host}:{self.local.port} as group {self.group}")
            async for message in client.messages:
                try:
                    t = topics.decode_telemetry(bytes(message.payload))  # type: ignore[arg-type]
                    if str(message.topic) != topics.telemetry_topic(t.feeder, t.charger):
                        raise PayloadError(f"{t.charger} on topic {message.topic}")
                except PayloadError as exc:
                    self.state.bad_payload(str(exc))
                    self._flush_log()
                    continue
                self.state.telemetry(t, self.clock())

    async def _dispatch_session(self) -> None:
        # a DR event sends one setpoint per charger at once: let them all be in flight
        # rather than 20 at a time (paho's default), each 20 waiting a round trip
        async with self.local.client(f"fog-{self.state.fog_id}-out", inflight=1000) as client:
            self._client = client
            self.ready.set()
            try:
                # held open for the dispatcher; with no subscription this loop ends only when
                # the connection drops (MqttError), so a dead broker node is noticed here
                # and the session reconnects (awaiting a bare Future never noticed it)
                async for _ in client.messages:
                    pass
            finally:
                self._client = None
                self.ready.clear()

    async def _upstream_session(self) -> None:
        async with self.upstream.client(f"fog-{self.state.fog_id}-up") as client:
            await client.subscribe(topics.ALL_DR, qos=1)
            self.state.upstream(True, self.clock())
            self._flush_log()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._aggregates(client))
                async for message in client.messages:
                    try:
                        event = topics.decode_dr(bytes(message.payload))  # type: ignore[arg-type]
                    except PayloadError as exc:
                        self.state.bad_payload(f"DR event: {exc}")
                        self._flush_log()
                        continue
                    self.state.dr_event(event, self.clock())
                    self._flush_log()
                    self._kick.set()

    async def _aggregates(self, client: aiomqtt.Client) -> None:
        topic = topics.aggregate_topic(self.state.fog_id)
        while True:
            body = {"v": topics.SCHEMA, "fog": self.state.fog_id, "ts": self.clock(),
                    "feeders": self.state.aggregates(self.clock())}  # fmt: skip
            await client.publish(topic, json.dumps(body, separators=(",", ":")), qos=0)
            await asyncio.sleep(self.aggregate_period)

    async def _dispatcher(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._kick.wait(), self.period)
            except TimeoutError:
                pass
            self._kick.clear()
            client = self._client
            if client is None:
                continue
            setpoints = self.state.dispatch(self.clock())
            self._flush_log()
            if setpoints:
                await asyncio.gather(*(self._publish(client, sp) for sp in setpoints))

    async def _publish(self, client: aiomqtt.Client, sp: topics.Setpoint) -> None:
        feeder = self.state.chargers[sp.charger].last.feeder
        try:
            await client.publish(topics.setpoint_topic(feeder, sp.charger), sp.encode(), qos=1,
                                 timeout=10)  # fmt: skip
        except (aiomqtt.MqttError, OSError):
            self.state.unsent(sp.charger)  # next round sends it again
