"""`v2gate secc`: the charger side of ISO 15118 on one interface (a PLC modem's, or a veth
end): SDP on UDP 15118, the TCP or TLS server on a fixed port, a DIN, ISO 15118-2 or
ISO 15118-20 session per connection, against the simulated DC power stage
(host.bench.dcplant) until stopped.

  v2gate secc --interface eth1 --protocols iso2,din --port 50000
  v2gate secc --interface eth1 --tls --pki lab-pki [--pki20 lab-pki20 [--mutual]]
  v2gate secc --interface eth1 --protocols iso20,iso2,din --tls --pki lab-pki
              --pki20 lab-pki20 --mutual --export-limit 10000 --setpoint -5000
  v2gate secc --interface eth1 --tls --pki lab-pki --pnc [--allow-list FILE]
              [--cert-backend local]
  v2gate secc --interface eth1 --protocols iso20,iso2 --tls --pki lab-pki --pki20 lab-pki20
              --mutual --pnc

iso20 offers ISO 15118-20 DC and AC (AC, DC, AC_BPT, DC_BPT; scheduled and dynamic
control) over TLS 1.3 only, with the chain of --pki20 (`v2gate pki init --profile iso20`),
on the same port as -2 over TLS 1.2; an EV asking for -20 over plain TCP is refused
([V2G20-2356]). Discharge (BPT) needs the grid operator's export enable: --export-limit W
enables it with that limit, --soc-floor the owner's floor; --setpoint W is the station's
setpoint in dynamic control (negative: discharge).

With --pnc, ISO 15118-2 sessions over TLS offer Plug & Charge (Contract) besides EIM:
contracts are checked against mo_root.pem of --pki, SalesTariffs signed with its
mo_sub2.key; --allow-list narrows them to the EMAIDs / sha256:HEX contract fingerprints
in FILE (one a line, # comments); --cert-backend local answers CertificateInstallation
and CertificateUpdate with an in-process CPS under the folder's MO Sub-CA (a lab only).
-20 sessions (TLS 1.3) offer PnC besides EIM with the contracts checked against
mo_root.pem of --pki20 (the -20 signature, the same --allow-list; no -20
CertificateInstallation).

Each request answered prints one line; each session's end prints its reason. Errors of the
set-up (no such interface, no IPv6 link-local address, port busy, missing certificates)
print one line and exit 2. With --sessions N it exits after N sessions: 0 when all ended
with SessionStop, else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import math
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

PROTOCOLS = {"din": (sap.DIN,), "iso2": (sap.ISO2,), "iso20": (sap.ISO20_DC, sap.ISO20_AC)}
ISO20 = (sap.ISO20_DC, sap.ISO20_AC)
DEFAULT_PORT = 50000
EXIT_UNUSABLE = 2


def add_parser(sub: Any) -> None:
    p = sub.add_parser("secc", help="run the charger side of ISO 15118 (SDP + TCP/TLS + "
                                    "DIN / ISO 15118-2 / -20 sessions) on an interface",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--interface", "-i", required=True, help="PLC or veth interface")
    p.add_argument("--protocols", type=_protocols, default=(sap.ISO2, sap.DIN),
                   help="offered protocols in priority order, of iso20,iso2,din "
                        "(default iso2,din)")  # fmt: skip
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
    p.add_argument("--pnc", action="store_true",
                   help="offer Plug & Charge (needs --tls): ISO 15118-2 with the MO root of "
                        "--pki, -20 with that of --pki20")  # fmt: skip
    p.add_argument("--allow-list", type=Path, metavar="FILE",
                   help="PnC: admit only these EMAIDs / sha256:HEX contract fingerprints")
    p.add_argument("--cert-backend", choices=("none", "local"), default="none",
                   help="PnC: who answers -2 CertificateInstallation/Update (local: an "
                        "in-process CPS, a lab only; default none)")  # fmt: skip
    p.add_argument("--export-limit", type=float, metavar="W",
                   help="-20 BPT: the grid operator's export enable on, with this limit "
                        "(default 0: no discharge)")  # fmt: skip
    p.add_argument("--soc-floor", type=float, metavar="PCT",
                   help="-20 BPT: no discharge at or below this SoC (default 40)")
    p.add_argument("--setpoint", type=float, metavar="W",
                   help="-20 dynamic control: the station's setpoint (negative: discharge)")
    p.add_argument("--comm-log", type=Path, metavar="FILE",
                   help="the communication log (default /var/log/v2g/communication.log as "
                        "root, else var/log/ of the project)")  # fmt: skip
    p.add_argument("--sessions", type=int, metavar="N", help="exit after N sessions")
    p.set_defaults(func=run)


def _protocols(text: str) -> tuple[sap.AppProtocol, ...]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in PROTOCOLS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: give some of {','.join(PROTOCOLS)}")
    return tuple(o for n in dict.fromkeys(names) for o in PROTOCOLS[n])


def check_iso20(args: argparse.Namespace) -> None:
    """ConfigError for what an iso20 offer lacks: TLS and its TLS 1.3 chain ([V2G20-2356]:
    never over plain TCP), and the -20 BPT options' values: finite numbers (a NaN setpoint
    clamps to the full discharge allowed), asked for only with iso20 (else ignored)."""
    values = (("--export-limit", args.export_limit), ("--soc-floor", args.soc_floor),
              ("--setpoint", args.setpoint))  # fmt: skip
    iso20 = any(o in ISO20 for o in args.protocols)
    for option, value in values:
        if value is None:
            continue
        if not iso20:
            raise ConfigError(f"{option} is for ISO 15118-20 sessions: add iso20 to --protocols")
        if not math.isfinite(value):
            raise ConfigError(f"{option} {value:g}: give a finite number")
    if args.export_limit is not None and args.export_limit < 0:
        raise ConfigError(f"--export-limit {args.export_limit:g}: give the limit in W, 0 or "
                          "more (0: no discharge)")  # fmt: skip
    if not iso20:
        return
    if not args.tls:
        raise ConfigError("ISO 15118-20 runs over TLS 1.3 only ([V2G20-2356]): add --tls and "
                          "--pki20 DIR (a `v2gate pki init --profile iso20` folder)")  # fmt: skip
    if args.pki20 is None:
        raise ConfigError("ISO 15118-20 needs its TLS 1.3 chain: add --pki20 DIR (a "
                          "`v2gate pki init --profile iso20` folder)")  # fmt: skip
    if args.soc_floor is not None and not 0.0 <= args.soc_floor <= 100.0:
        raise ConfigError(f"--soc-floor {args.soc_floor:g}: give a percentage, 0-100")


def pnc_options(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(``iso2_options``, ``iso20_options``) for Plug & Charge, ({}, {}) without --pnc;
    ConfigError for a PnC option without --pnc / --tls, or what the folders or the
    allow-list lack."""
    from .serve import pnc20_config, pnc_config

    wanted = args.pnc or args.allow_list is not None or args.cert_backend != "none"
    if not wanted:
        return {}, {}
    if not args.pnc:
        raise ConfigError("--allow-list and --cert-backend are Plug & Charge options: add --pnc")
    if not args.tls:
        raise ConfigError("Plug & Charge runs over TLS only (-2 offers Contract over TLS only): "
                          "add --tls")  # fmt: skip
    iso20 = any(o in ISO20 for o in args.protocols)
    if sap.ISO2 not in args.protocols and not iso20:
        raise ConfigError("Plug & Charge is ISO 15118-2 or -20 here: add iso2 or iso20 to "
                          "--protocols")  # fmt: skip
    iso2_options = {}
    if sap.ISO2 in args.protocols:
        iso2_options = {"pnc": pnc_config(args.pki, args.allow_list, args.cert_backend)}
    iso20_options = {"pnc": pnc20_config(args.pki20, args.allow_list)} if iso20 else {}
    return iso2_options, iso20_options


def run(args: argparse.Namespace) -> int:
    from .serve import tls_context

    try:
        check_iso20(args)
        options, options20 = pnc_options(args)
        ctx = tls_context(args.pki, args.pki20, args.mutual) if args.tls else None
        return asyncio.run(_serve(args, ctx, options, options20))
    except ConfigError as exc:
        print(f"v2gate secc: {exc}", file=sys.stderr, flush=True)
        return EXIT_UNUSABLE


async def _serve(args: argparse.Namespace, ctx: ssl.SSLContext | None,
                 options: dict[str, Any], options20: dict[str, Any]) -> int:  # fmt: skip
    from .core import SessionEnded
    from .serve import authorized_contract, describe, sim_controller_for, start_secc

    ends: list[SessionEnded] = []
    enough = asyncio.Event()
    started = time.monotonic()

    def on_event(conn: V2gConnection, event: object) -> None:
        text = describe(event)
        if text is not None:
            print(f"{time.monotonic() - started:8.3f} {conn.peer}: {text}", flush=True)
        emaid = authorized_contract(conn, event)
        if emaid is not None:
            print(f"{time.monotonic() - started:8.3f} {conn.peer}: Plug & Charge: contract "
                  f"{emaid} authorized", flush=True)  # fmt: skip
        if isinstance(event, SessionEnded):
            ends.append(event)
            if args.sessions is not None and len(ends) >= args.sessions:
                enough.set()

    from host.v2g.commlog import CommLog

    try:
        commlog = CommLog(args.comm_log)
    except OSError as exc:
        raise ConfigError(f"communication log {exc.filename}: {exc.strerror} "
                          "(choose a writable --comm-log FILE)") from None  # fmt: skip
    floor = 40.0 if args.soc_floor is None else args.soc_floor  # %
    try:
        server, transport = await start_secc(args.interface, args.port, args.protocols, ctx,
                                             on_event=on_event, iso2_options=options,
                                             iso20_options=options20,
                                             commlog=commlog, controller_for=sim_controller_for(
                                                 args.export_limit or 0.0, floor / 100.0,
                                                 args.setpoint))  # fmt: skip
    except BaseException:
        commlog.close()
        raise
    security = "TLS" if ctx else "plain TCP"
    payment = "Plug & Charge and EIM" if options or options20 else "EIM"
    print(f"secc: {', '.join(o.name for o in args.protocols)} over {security} on "
          f"[{server.config.host}]:{args.port}, SDP on UDP {c.SDP_PORT}; {payment}", flush=True)
    print(f"secc: communication log {commlog.path}", flush=True)
    try:
        await enough.wait()
    finally:
        await server.close()
        transport.close()
        commlog.close()
    return 0 if all(e.reason.name == "STOPPED" for e in ends) else 1
