"""Fuzzed V2GTP headers and EXI bodies into live sessions of a real SeccServer over TCP.

Each fuzz connection plays a valid start (SupportedAppProtocol, then the first requests of
a DIN or -2 DC session, a random number of them) and then one to three fuzzed inputs, then
half-closes; it reads whatever the server answers until the server closes. An input is a
frame of the session (or a random schema-valid request) with its header or its EXI body
mutated, or left whole, or random bytes. Everything comes from one seed.

    python -m tests.host.v2g.livefuzz --inputs 200000 [--seed N]   (the long run)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from host.exi import codec, sample
from host.exi.schemas import din as d
from host.exi.schemas import iso2 as i
from host.v2g import sap
from host.v2g.v2gtp import PayloadType, frame

SID = bytes.fromhex("5a5a5a5a5a5a5a5a")  # every fuzzed session's SessionID (fixed factory)
EVCC_ID = bytes.fromhex("02000000fa22")


def _frame(schema: Any, body: Any, sid: bytes = SID) -> bytes:
    message = schema.V2G_Message(Header=schema.MessageHeaderType(SessionID=sid),
                                 Body=schema.BodyType(BodyElement=body))
    return frame(PayloadType.EXI, codec.encode(message, schema.NAMESPACE))


def _iso2_start() -> list[bytes]:
    status = i.DC_EVStatus(EVReady=True, EVErrorCode=i.DC_EVErrorCodeType.NO_ERROR,
                           EVRESSSOC=30)  # fmt: skip

    def pv(unit: str, value: int) -> i.PhysicalValueType:
        return i.PhysicalValueType(Multiplier=0, Unit=i.unitSymbolType[unit], Value=value)

    param = i.DC_EVChargeParameter(
        DepartureTime=None, DC_EVStatus=status, EVMaximumCurrentLimit=pv("A", 200),
        EVMaximumPowerLimit=None, EVMaximumVoltageLimit=pv("V", 450),
        EVEnergyCapacity=None, EVEnergyRequest=None, FullSOC=None, BulkSOC=None)  # fmt: skip
    return [
        frame(PayloadType.EXI, sap.push_request([(sap.ISO2, 1, 1)])),
        _frame(i, i.SessionSetupReq(EVCCID=EVCC_ID), bytes(8)),
        _frame(i, i.ServiceDiscoveryReq(ServiceScope=None, ServiceCategory=None)),
        _frame(i, i.PaymentServiceSelectionReq(
            SelectedPaymentOption=i.paymentOptionType.ExternalPayment,
            SelectedServiceList=i.SelectedServiceListType(
                SelectedService=[i.SelectedServiceType(ServiceID=1, ParameterSetID=None)]))),
        _frame(i, i.AuthorizationReq(Id=None, GenChallenge=None)),
        _frame(i, i.ChargeParameterDiscoveryReq(
            MaxEntriesSAScheduleTuple=None,
            RequestedEnergyTransferMode=i.EnergyTransferModeType.DC_extended,
            EVChargeParameter=param)),
        _frame(i, i.CableCheckReq(DC_EVStatus=status)),
    ]  # fmt: skip


def _din_start() -> list[bytes]:
    return [
        frame(PayloadType.EXI, sap.push_request([(sap.DIN, 1, 1)])),
        _frame(d, d.SessionSetupReq(EVCCID=EVCC_ID), bytes(8)),
        _frame(d, d.ServiceDiscoveryReq(ServiceScope=None, ServiceCategory=None)),
        _frame(d, d.ServicePaymentSelectionReq(
            SelectedPaymentOption=d.paymentOptionType.ExternalPayment,
            SelectedServiceList=d.SelectedServiceListType(
                SelectedService=[d.SelectedServiceType(ServiceID=1, ParameterSetID=None)]))),
        _frame(d, d.ContractAuthenticationReq(Id=None, GenChallenge=None)),
    ]  # fmt: skip


def _pool(schema: Any, rng: random.Random, n: int) -> list[bytes]:
    """``n`` random schema-valid requests of ``schema`` as frames, most with our SID."""
    names = [name for name, _cls in sample.message_roots(schema) if name.endswith("Req")]
    out = []
    while len(out) < n:
        message = sample.random_message(schema, rng.choice(names), rng)
        if rng.random() < 0.8:
            message.Header.SessionID = SID
        try:
            out.append(frame(PayloadType.EXI, codec.encode(message, schema.NAMESPACE)))
        except ValueError:
            continue  # too big for a frame: not an input
    return out


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One fuzzed input from a frame: its header or its body changed, or left whole, or
    random bytes under a valid header."""
    b = bytearray(data)
    kind = rng.random()
    if kind < 0.25:  # the header: version, inverse, type or length
        at = rng.randrange(8)
        b[at] = rng.randrange(256) if rng.random() < 0.7 else b[at] ^ (1 << rng.randrange(8))
    elif kind < 0.35:  # a length that disagrees with the payload
        length = rng.choice([0, 1, len(b) - 9, len(b) - 7, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF])
        b[4:8] = max(0, length).to_bytes(4, "big")
    elif kind < 0.65 and len(b) > 8:  # bit flips in the EXI body
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(8, len(b))
            b[at] ^= 1 << rng.randrange(8)
    elif kind < 0.75 and len(b) > 9:  # the body cut short, the header fixed to match
        b = b[:rng.randrange(9, len(b))]
        b[4:8] = (len(b) - 8).to_bytes(4, "big")
    elif kind < 0.85:  # random bytes as the body
        body = rng.randbytes(rng.randrange(0, 80))
        b = bytearray(frame(PayloadType.EXI, body))
    # else: the frame whole (a schema-valid request, in sequence or not)
    return bytes(b)


@dataclass
class Corpus:
    """Everything the fuzzer draws from, made once per seed."""

    starts: list[list[bytes]]
    pools: list[list[bytes]]

    @classmethod
    def make(cls, rng: random.Random, pool_size: int = 120) -> Corpus:
        return cls([_iso2_start(), _din_start()],
                   [_pool(i, rng, pool_size), _pool(d, rng, pool_size // 2)])

    def connection_bytes(self, rng: random.Random) -> tuple[bytes, int]:
        """What one fuzz connection sends, and how many fuzzed inputs are in it."""
        which = rng.randrange(len(self.starts))
        start, pool = self.starts[which], self.pools[which]
        cut = rng.randint(0, len(start))
        prefix = start[:cut]
        inputs = rng.choice((1, 1, 1, 2, 3))
        fuzzed = []
        for _ in range(inputs):
            # the next frame of the session, a request from the pool, or the SAP frame
            base = (start[cut] if cut < len(start) and rng.random() < 0.4
                    else rng.choice(pool) if rng.random() < 0.9 else start[0])  # fmt: skip
            fuzzed.append(mutate(base, rng))
        return b"".join(prefix + fuzzed), inputs


@dataclass
class FuzzStats:
    connections: int = 0
    inputs: int = 0
    answered_bytes: int = 0
    resets: int = 0
    done: bool = False
    progress: list[float] = field(default_factory=list)


async def fuzz_connection(host: str, port: int, data: bytes) -> tuple[int, bool]:
    """Send ``data``, half-close, read until the server closes: (bytes read, reset?)."""
    reader, writer = await asyncio.open_connection(host, port)
    got, reset = 0, False
    try:
        writer.write(data)
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        while chunk := await reader.read(65536):
            got += len(chunk)
    except ConnectionError:
        reset = True  # the server closed with our bytes unread (a refused header): a RST
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    return got, reset


async def run_fuzz(host: str, port: int, seed: int, inputs: int, workers: int = 4,
                   stats: FuzzStats | None = None,
                   on_progress: Callable[[FuzzStats], None] | None = None,
                   ) -> FuzzStats:  # fmt: skip
    """At least ``inputs`` fuzzed inputs over ``workers`` concurrent connections."""
    rng = random.Random(seed)
    corpus = Corpus.make(rng)
    stats = stats if stats is not None else FuzzStats()
    plan: list[tuple[bytes, int]] = []
    planned = 0
    while planned < inputs:
        data, n = corpus.connection_bytes(rng)
        plan.append((data, n))
        planned += n
    queue = iter(plan)

    async def worker() -> None:
        for data, n in queue:
            got, reset = await fuzz_connection(host, port, data)
            stats.connections += 1
            stats.inputs += n
            stats.answered_bytes += got
            stats.resets += reset
            if on_progress is not None:
                on_progress(stats)

    await asyncio.gather(*(worker() for _ in range(workers)))
    stats.done = True
    return stats


def main() -> None:  # the long run, against a fresh server on loopback
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=15118)
    args = parser.parse_args()
    from tests.host.v2g.test_live_fuzz import live_fuzz, problems

    started = time.monotonic()
    result = live_fuzz(args.seed, args.inputs)
    took = time.monotonic() - started
    print(f"{result.fuzz.inputs} inputs over {result.fuzz.connections} connections in "
          f"{took:.1f} s ({result.fuzz.inputs / took:.0f}/s); {result.summary()}")
    found = problems(result, args.inputs)
    for why in found:
        print(f"PROBLEM: {why}")
    raise SystemExit(1 if found else 0)


if __name__ == "__main__":
    main()
