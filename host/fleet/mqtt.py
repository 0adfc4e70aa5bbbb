"""How the fleet tier reaches a broker: MQTT over TLS (port 8883, the seeds' backhaul).

One place builds the aiomqtt client, so chargers, the fog node, tests and the benchmark
connect the same way: TLS with the broker's CA (and a client certificate when given),
MQTT 3.1.1, a persistent session (clean_session False) so QoS 1 messages to a charger
that is briefly away wait for it at the broker.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
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
        return aiomqtt.Client(
            self.host, self.port, identifier=identifier, tls_context=self.context(),
            username=self.username, password=self.password, keepalive=self.keepalive,
            clean_session=clean, will=will, timeout=10,
            max_queued_outgoing_messages=None, max_inflight_messages=inflight,
        )  # fmt: skip


def parse_broker(text: str, **kw: object) -> Broker:
    """"host:port" or "host" (8883)."""
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "8883")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"broker {text!r}: port {port!r} is not a number (host:port)") from None
    if not 0 < number < 65536 or not host:
        raise ValueError(f"broker {text!r}: expected host:port with a port in 1-65535")
    return Broker(host.strip("[]"), number, **kw)  # type: ignore[arg-type]
