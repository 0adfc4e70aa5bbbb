"""A ChargerLink (and so `v2gate` on Ctrl-C, and SimFleet in the fleet tests) stops when
cancelled, even when the cancel comes in the same loop turn as the broker's answer.

aiomqtt waits for CONNACK and PUBACK with `asyncio.wait_for`, which on Python 3.11
returns the result instead of raising CancelledError when the awaited thing completes
in the loop turn the cancel arrives in (CPython gh-86296, fixed in 3.12). Under load a
turn handles many PUBACKs of 50 chargers, so a fleet test's `runner.cancel(); await
runner` sometimes waited forever (pytest-timeout's 300 s) for a charger that had
swallowed its cancel and went on sending. Here the cancel is made to coincide: the
paho callback that handles the broker's answer cancels the link's task right after it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from host.fleet.charger import ChargerLink
from host.fleet.mqtt import Broker
from host.fleet.outbox import Outbox
from tests.apt import require
from tests.host.fleet.broker import Mosquitto

pytestmark = [pytest.mark.system, pytest.mark.xdist_group("fleet")]


@dataclass(frozen=True)
class _CancelOnAnswer(Broker):
    """Clients whose paho callback for `answer` ("on_connect": CONNACK, "on_publish":
    PUBACK) cancels `victim[0]` just after aiomqtt's own handler ran, once armed."""

    answer: str = "on_publish"
    victim: list[asyncio.Task[None]] = None  # type: ignore[assignment]
    armed: list[bool] = None  # type: ignore[assignment]

    def client(self, identifier: str, **kw: Any) -> aiomqtt.Client:
        client = super().client(identifier, **kw)
        paho = client._client
        handler = getattr(paho, self.answer)

        def answered(*args: object) -> None:
            handler(*args)
            if self.armed[0] and self.victim:
                self.armed[0] = False
                self.victim[0].cancel()

        setattr(paho, self.answer, answered)
        return client


@pytest.mark.parametrize("answer", ["on_connect", "on_publish"])
def test_a_cancel_arriving_with_the_brokers_answer_stops_the_link(tmp_path: Path,
                                                                   answer: str) -> None:  # fmt: skip
    mosquitto = Mosquitto(require("mosquitto"), tmp_path / "broker")
    mosquitto.start()
    try:
        asyncio.run(_cancel_with_answer(mosquitto, tmp_path, answer))
    finally:
        mosquitto.stop()


async def _cancel_with_answer(mosquitto: Mosquitto, tmp_path: Path, answer: str) -> None:
    plain = mosquitto.broker()
    victim: list[asyncio.Task[None]] = []
    armed = [answer == "on_connect"]
    broker = _CancelOnAnswer(plain.host, plain.port, cafile=plain.cafile, answer=answer,
                             victim=victim, armed=armed)  # fmt: skip
    link = ChargerLink("c1", "f0", Outbox(tmp_path / "outbox.sqlite"), broker)
    task = asyncio.create_task(link.run())
    victim.append(task)
    if answer == "on_publish":
        async with asyncio.timeout(30):
            await link.connected.wait()
        armed[0] = True  # the PUBACK of the next record's publish cancels the link
        link.record(power_w=0.0, max_charge_w=7400.0, max_discharge_w=0.0, cp_state="B")
    # a link that swallowed its cancel would run on (connected, sending) for good
    await asyncio.wait({task}, timeout=15)
    print(f"connects {link.counts.connects}, published {link.counts.published}")
    assert not armed[0]  # the cancel did come with the broker's answer
    assert task.cancelled(), "the link went on after its cancel"
