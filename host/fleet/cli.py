"""`v2gate fog`: the fog node service, and `v2gate fog --dr` to send it a DR event.

    v2gate fog --broker 127.0.0.1:8883 --cafile ca.pem --feeder-limit f1=250000
    v2gate fog --broker ... --dr f1=-50000 --duration 900      # what the DERMS sends

The node prints one line per thing an operator should know (DR events, the upstream link
lost or back, shortfalls, payloads dropped) and, every --report seconds, its counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiomqtt

from host.fleet import topics
from host.fleet.dispatch import FogState
from host.fleet.fog import FogNode
from host.fleet.mqtt import Broker, parse_broker
from host.fleet.topics import DrEvent, PayloadError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("fog", help="fog node: aggregate chargers over MQTT, dispatch DR setpoints",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--broker", required=True,
                   help="the chargers' broker, host:port (TLS); a cluster: host:port,host:port,...")
    p.add_argument("--upstream", help="the DERMS broker, host:port (default: --broker)")
    p.add_argument("--cafile", type=Path, help="CA of the broker(s) (default: the system's)")
    p.add_argument("--cert", type=Path, help="client certificate, if the broker asks for one")
    p.add_argument("--key", type=Path, help="its private key")
    p.add_argument("--no-tls", action="store_true", help="plain MQTT (lab only)")
    p.add_argument("--fog-id", default="fog1")
    p.add_argument("--group", default="fog", help="shared-subscription group of the fog processes")
    p.add_argument("--no-share", action="store_true",
                   help="the broker has no shared subscriptions (NATS, RabbitMQ): every fog "
                        "of the group hears every charger (hot standby)")
    p.add_argument("--feeder-limit", action="append", default=[], metavar="FEEDER=WATTS",
                   help="import limit of a feeder (repeat per feeder)")
    p.add_argument("--period", type=float, default=1.0, help="dispatch period, s")
    p.add_argument("--report", type=float, default=0.0, help="print counts every N s (0: never)")
    p.add_argument("--dr", metavar="FEEDER=WATTS",
                   help="instead of serving: publish one DR event (watts < 0: export) and exit")
    p.add_argument("--duration", type=float, default=900.0, help="of the --dr event, s")
    p.set_defaults(func=lambda args: run(args, p))


def _limits(items: list[str], ap: argparse.ArgumentParser) -> dict[str, float]:
    limits = {}
    for item in items:
        feeder, _, watts = item.partition("=")
        try:
            limits[topics.check_id("feeder", feeder)] = float(watts)
        except (ValueError, PayloadError):
            ap.error(f"--feeder-limit {item}: expected FEEDER=WATTS, e.g. f1=250000")
        # an import limit below 0 would make every charger's share a discharge order
        if not 0 <= limits[feeder] < math.inf:
            ap.error(f"--feeder-limit {item}: the import limit is watts >= 0, e.g. f1=250000")
    return limits


def run(args: argparse.Namespace, ap: argparse.ArgumentParser) -> int:
    for path in (args.cafile, args.cert, args.key):
        if path is not None and not path.is_file():
            ap.exit(2, f"v2gate fog: {path}: no such file (give the broker's CA with --cafile)\n")
    tls: dict[str, Any] = dict(cafile=args.cafile, certfile=args.cert, keyfile=args.key,
                               tls=not args.no_tls, share=not args.no_share)  # fmt: skip
    try:
        local = parse_broker(args.broker, **tls)
        upstream = parse_broker(args.upstream, **tls) if args.upstream else None
        local.context()  # a CA or key that does not load says so now, not at each retry
    except ValueError as exc:
        ap.error(str(exc))
    except OSError as exc:
        ap.exit(2, f"v2gate fog: TLS files: {exc}\n")
    if args.dr:
        return asyncio.run(_send_dr(args, ap, upstream or local))
    state = FogState(args.fog_id, feeder_limits=_limits(args.feeder_limit, ap))
    node = FogNode(state, local, upstream, group=args.group, period=args.period,
                   say=lambda line: print(line, flush=True))  # fmt: skip
    print(f"fog {args.fog_id}: serving {args.broker} as group {args.group}", flush=True)
    asyncio.run(_serve(node, args.report))
    return 0


async def _serve(node: FogNode, report: float) -> None:
    async with asyncio.TaskGroup() as tg:
        tg.create_task(node.run())
        if report > 0:
            tg.create_task(_report(node, report))


async def _report(node: FogNode, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        c = node.state.counts
        print(json.dumps({"fog": node.state.fog_id, "chargers": len(node.state.chargers),
                          "telemetry": c.telemetry, "duplicates": c.duplicates, "holes": node.state.holes(),
                          "bad": c.bad, "setpoints": c.setpoints, "dr_events": c.dr_events}),
              flush=True)  # fmt: skip


async def _send_dr(args: argparse.Namespace, ap: argparse.ArgumentParser, broker: Broker) -> int:
    feeder, _, watts = args.dr.partition("=")
    try:
        event = DrEvent(f"dr-{uuid.uuid4().hex[:8]}", topics.check_id("feeder", feeder),
                        float(watts), time.time(), args.duration)  # fmt: skip
    except (ValueError, PayloadError):
        ap.error(f"--dr {args.dr}: expected FEEDER=WATTS, e.g. f1=-50000")
    try:  # what every fog would drop as a bad payload is not sent as if it were taken
        topics.decode_dr(event.encode())
    except PayloadError as exc:
        ap.error(f"--dr {args.dr} --duration {args.duration:g}: the fog would refuse it ({exc})")
    try:
        async with broker.client(f"dr-{event.id}", clean=True) as client:
            await client.publish(topics.dr_topic(event.feeder), event.encode(), qos=1)
    except aiomqtt.MqttError as exc:
        print(f"v2gate fog: broker {broker.host}:{broker.port}: {exc} (is it running? TLS?)",
              file=sys.stderr)  # fmt: skip
        return 2
    print(f"DR event {event.id}: {event.target_w:+.0f} W on {event.feeder} for "
          f"{event.duration_s:.0f} s", file=sys.stdout)  # fmt: skip
    return 0
