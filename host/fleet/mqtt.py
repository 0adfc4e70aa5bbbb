"""How the fleet tier reaches a broker: MQTT over TLS (port 8883, the seeds' backhaul).

One place builds the aiomqtt client, so chargers, the fog node, tests and the benchmark
connect the same way: TLS with the broker's CA (and a client certificate when given),
MQTT 3.1.1, a persistent session (clean_session False) so QoS 1 messages to a charger
that is briefly away wait for it at the broker.

A clustered broker is several endpoints (`endpoints`, after `host`:`port`): a client
starts on the node its identifier hashes to (a fleet spreads over the nodes) and each new
client for the same identifier goes to the next node, so a charger or fog whose node died
reconnects to a surviving node on its next attempt. The session lives in the cluster
(with NATS, in JetStream), so the node a client lands on does not matter.

`share=False` is for brokers without shared subscriptions (NATS 2.9 and RabbitMQ 3.10
speak MQTT 3.1.1 only and take `$share/<group>/<filter>` as a literal topic, which no
charger publishes to): the client then subscribes to the plain filter, so every fog of
the group hears every charger (hot standby instead of a split; see README.md).
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt


@dataclass(frozen=True)
class Broker:
    host: str = "127.0.0.1"
    port: int = 8883
    cafile: Path | None = None  # None with tls: the system's CAs
    certfile: Path | None = None
    keyfile: Path | None = None
    tls: bool = True
    username: str | None = None
    password: str | None = None
    keepalive: int = 10
    endpoints: tuple[tuple[str, int], ...] = ()  # more nodes of the same cluster, in turn
    share: bool = True  # the broker implements $share/<group>/ subscriptions
    # identifier -> connection attempts so far (which endpoint the next client uses)
    _turns: dict[str, int] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def all_endpoints(self) -> list[tuple[str, int]]:
        return [(self.host, self.port), *self.endpoints]

    def next_endpoint(self, identifier: str) -> tuple[str, int]:
        """host:port for this identifier's next connection: the endpoint its name hashes
        to, then the next one at each further call, round the list."""
        every = self.all_endpoints()
        turn = self._turns.get(identifier, zlib.crc32(identifier.encode()) % len(every))
        self._turns[identifier] = turn + 1
        return every[turn % len(every)]

    def context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=str(self.cafile) if self.cafile else None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.certfile:
            ctx.load_cert_chain(str(self.certfile), str(self.keyfile) if self.keyfile else None)
        return ctx

    def client(self, identifier: str, *, will: aiomqtt.Will | None = None,
               clean: bool = False, inflight: int = 20) -> aiomqtt.Client:  # fmt: skip
        host, port = self.next_endpoint(identifier) if self.endpoints else (self.host, self.port)
        kind = aiomqtt.Client if self.share else _UnsharedClient
        return kind(
            host, port, identifier=identifier, tls_context=self.context(),
            username=self.username, password=self.password, keepalive=self.keepalive,
            clean_session=clean, will=will, timeout=10,
            max_queued_outgoing_messages=None, max_inflight_messages=inflight,
        )  # fmt: skip


def raise_if_cancelled() -> None:
    """Raise CancelledError if this task was cancelled but an await returned anyway.

    aiomqtt waits for CONNACK, SUBACK and PUBACK with `asyncio.wait_for`, which on Python
    3.11 returns the answer instead of raising when the answer completes in the loop turn
    the cancel arrives in (CPython gh-86296, fixed in 3.12): under load one turn handles
    many chargers' PUBACKs, and a charger that lost its cancel this way ran on for good,
    so `v2gate` could not stop and the fleet tests waited 300 s for their fleet. The
    cancel request is still counted on the task (`cancelling()`): call this after such
    awaits, in every loop that would otherwise go on. Not in a task that has used an
    asyncio.TaskGroup whose child failed: on 3.11 that leaves `cancelling()` at 1.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class _UnsharedClient(aiomqtt.Client):
    """`$share/<group>/<filter>` subscribes to <filter>: the broker has no shared ones."""

    async def subscribe(self, topic: object, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        if isinstance(topic, str) and topic.startswith("$share/") and topic.count("/") >= 2:
            topic = topic.split("/", 2)[2]
        return await super().subscribe(topic, *args, **kwargs)  # type: ignore[arg-type]


def parse_broker(text: str, **kw: object) -> Broker:
    """"host:port" or "host" (8883); several, comma-separated, are the nodes of a cluster."""
    if "," in text:
        nodes = [parse_broker(part.strip(), **kw) for part in text.split(",")]
        rest = tuple((n.host, n.port) for n in nodes[1:])
        return Broker(nodes[0].host, nodes[0].port, endpoints=rest, **kw)  # type: ignore[arg-type]
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "8883")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"broker {text!r}: port {port!r} is not a number (host:port)") from None
    if not 0 < number < 65536 or not host:
        raise ValueError(f"broker {text!r}: expected host:port with a port in 1-65535")
    return Broker(host.strip("[]"), number, **kw)  # type: ignore[arg-type]
