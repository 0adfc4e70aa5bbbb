"""A broker given as several endpoints (a cluster's nodes): each new client for the same
identifier goes to the next node; one endpoint behaves as before."""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest

from host.fleet.mqtt import Broker, parse_broker


def test_one_endpoint_keeps_the_old_behaviour() -> None:
    b = parse_broker("10.0.0.1:1883", tls=False)
    assert b == Broker("10.0.0.1", 1883, tls=False)
    assert b.endpoints == ()
    assert [b.next_endpoint("c1") for _ in range(2)] == [("10.0.0.1", 1883)] * 2
    assert parse_broker("broker.example").port == 8883


def test_several_endpoints_rotate_per_identifier() -> None:
    b = parse_broker("10.0.0.1:8883, 10.0.0.2:8884,[::1]:8885", tls=False)
    assert b.all_endpoints() == [("10.0.0.1", 8883), ("10.0.0.2", 8884), ("::1", 8885)]
    every = b.all_endpoints()
    seen = [b.next_endpoint("c1") for _ in range(4)]
    start = every.index(seen[0])
    assert seen == [every[(start + k) % 3] for k in range(4)]  # each node in turn, round
    # each identifier has its own turn, and a fleet starts spread over the nodes
    firsts = {b.next_endpoint(f"c{i:04d}") for i in range(2, 40)}
    assert firsts == set(every)
    assert b.next_endpoint("c1") == every[(start + 4) % 3]


def test_client_connects_to_the_rotated_endpoint() -> None:
    b = Broker("10.0.0.1", 1, tls=False, endpoints=(("10.0.0.2", 2),))

    async def make() -> list[object]:  # aiomqtt wants a running loop
        return [b.client("fog-a") for _ in range(3)]

    clients = asyncio.run(make())
    got = [(c._hostname, c._port) for c in clients]  # type: ignore[attr-defined]
    assert set(got) == {("10.0.0.1", 1), ("10.0.0.2", 2)}
    assert got[0] != got[1] and got[0] == got[2]


def test_without_shared_subscriptions_the_plain_filter_is_subscribed() -> None:
    asked: list[object] = []

    async def fake(self: object, topic: object, *a: object, **k: object) -> None:
        asked.append(topic)

    async def go(share: bool) -> None:
        client = Broker("10.0.0.1", 1, tls=False, share=share).client("fog-a")
        original = aiomqtt.Client.subscribe
        aiomqtt.Client.subscribe = fake  # type: ignore[method-assign,assignment]
        try:
            await client.subscribe("$share/fog/v2g/+/+/telemetry", qos=1)
            await client.subscribe("v2g/dr/+", qos=1)
        finally:
            aiomqtt.Client.subscribe = original  # type: ignore[method-assign]

    asyncio.run(go(True))
    asyncio.run(go(False))
    assert asked == ["$share/fog/v2g/+/+/telemetry", "v2g/dr/+", "v2g/+/+/telemetry", "v2g/dr/+"]


def test_a_bad_endpoint_in_the_list_is_named() -> None:
    with pytest.raises(ValueError, match="10.0.0.2:x"):
        parse_broker("10.0.0.1:8883,10.0.0.2:x")
    with pytest.raises(ValueError, match="host:port"):
        parse_broker("10.0.0.1:8883,,10.0.0.2:8883")
