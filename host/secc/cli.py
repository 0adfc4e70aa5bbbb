"""`v2gate secc`: the charger side of ISO 15118 on one interface (a PLC modem's, or a veth
end): SDP on UDP 15118, the TCP or TLS server on a fixed port, a DIN or ISO 15118-2 session
per connection, against the simulated DC power stage (host.bench.dcplant) until stopped.

  v2gate secc --interface eth1 --protocols iso2,din --port 50000
  v2gate secc --interface eth1 --tls --pki lab-pki [--pki20 lab-pki20 [--mutual]]

Each request answered prints one line; each session's end prints its reason. Errors of the
set-up (no such interface, no IPv6 link-local address, port busy, missing certificates)
print one line and exit 2. With --sessions N it exits after N sessions: 0 when all ended
with SessionStop, else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from host.v2g import constants as c
from host.v2g import sap
from host.v2g.errors import ConfigError

if TYPE_CHECKING:  # the machines and schemas load in `run`: `v2gate --help` stays quick
    import ssl

    from host.v2g.session import V2gConnection

    from .core import SessionEnded

PROTOCOLS = {"din": sap.DIN, "iso2": sap.ISO2}
DEFAULT_PORT = 50000
EXIT_UNUSABLE = 2


def add_parser(sub: Any) -> None:
    p = sub.add_parser("secc", help="run the charger side of ISO 15118 (SDP + TCP/TLS + "
                                    "DIN / ISO 15118-2 sessions) on an interface",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--interface", "-i", required=True, help="PLC or veth interface")
    p.add_argument("--protocols", type=_protocols, default=(sap.ISO2, sap.DIN),
                   help="offered protocols in priority order (default iso2,din)")  # fmt: skip
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"TCP port, 49152-65535 (default {DEFAULT_PORT})")  # fmt: skip
    p.add_argument("--tls", action="store_true",
                   help="serve TLS (1.2 for -2; 1.3 too) instead of plain TCP")  # fmt: skip
    p.add_argument("--pki", type=Path, default=Path("pki"), metavar="DIR",
                   help="a `v2gate pki init` folder: secc_chain.pem, secc.key (default ./pki)")
    p.add_argument("--pki20", type=Path, metavar="DIR",
                   help="a `v2gate pki init --profile iso20` folder: its SECC chain serves "
                        "TLS 1.3")  # fmt: skip
    p.add_argument("--mutual", action="store_true",
                   help="ask the EV for its vehicle certificate (-20 PnC), verified against "
                        "oem_root.pem and v2g_root.pem of --pki20 (or --pki)")  # fmt: skip
    p.add_argument("--sessions", type=int, metavar="N", help="exit after N sessions")
    p.set_defaults(func=run)


def _protocols(text: str) -> tuple[sap.AppProtocol, ...]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in PROTOCOLS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give some of {','.join(PROTOCOLS)} (ISO 15118-20 is not in this build)")
    return tuple(PROTOCOLS[n] for n in dict.fromkeys(names))


def run(args: argparse.Namespace) -> int:
    from .serve import tls_context

    try:
        ctx = tls_context(args.pki, args.pki20, args.mutual) if args.tls else None
        return asyncio.run(_serve(args, ctx))
    except ConfigError as exc:
        print(f"v2gate secc: {exc}", file=sys.stderr, flush=True)
        return EXIT_UNUSABLE


async def _serve(args: argparse.Namespace, ctx: ssl.SSLContext | None) -> int:
    from .core import SessionEnded
    from .serve import describe, start_secc

    ends: list[SessionEnded] = []
    enough = asyncio.Event()
    started = time.monotonic()

    def on_event(conn: V2gConnection, event: object) -> None:
        text = describe(event)
        if text is not None:
            print(f"{time.monotonic() - started:8.3f} {conn.peer}: {text}", flush=True)
        if isinstance(event, SessionEnded):
            ends.append(event)
            if args.sessions is not None and len(ends) >= args.sessions:
                enough.set()

    server, transport = await start_secc(args.interface, args.port, args.protocols, ctx,
                                         on_event=on_event)  # fmt: skip
    security = "TLS" if ctx else "plain TCP"
    print(f"secc: {', '.join(o.name for o in args.protocols)} over {security} on "
          f"[{server.config.host}]:{args.port}, SDP on UDP {c.SDP_PORT}", flush=True)
    try:
        await enough.wait()
    finally:
        await server.close()
        transport.close()
    return 0 if all(e.reason.name == "STOPPED" for e in ends) else 1
