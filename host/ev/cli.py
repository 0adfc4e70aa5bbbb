"""`v2gate ev`: the car side of ISO 15118 on one interface (a PLC modem's, or a veth end):
SDP to find the SECC, TCP or TLS to it, one DIN or ISO 15118-2 session with a simulated
battery, to SessionStopRes.

  v2gate ev --interface eth1 --protocol iso2-dc
  v2gate ev --interface eth1 --protocol iso2-ac --tls --pki lab-pki
  v2gate ev --interface eth1 --protocol iso2-dc --tls --pnc --pki lab-pki

With --pnc the EV pays by Contract (ISO 15118-2 Plug & Charge) with contract_chain.pem and
contract.key of --pki (its OEM provisioning oem_prov.pem / oem_prov.key sign a
CertificateInstallationReq when the SECC asks for one).

Each response prints one line. Exit 0 after SessionStopRes OK, 1 when the session failed,
2 when it cannot start (no such interface, no IPv6 link-local address, missing V2G root,
no SECC answering SDP, --pnc without TLS or without the contract files).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from host.v2g.errors import ConfigError

if TYPE_CHECKING:  # the machines and schemas load in `run`: `v2gate --help` stays quick
    import ssl

    from host.bench.dcplant import Battery

    from .evcc.driver import EvccMachine

MODES = {"iso2-ac": "AC_three_phase_core", "iso2-dc": "DC_extended"}  # EnergyTransferModeType
EXIT_UNUSABLE = 2


def add_parser(sub: Any) -> None:
    p = sub.add_parser("ev", help="run the car side of ISO 15118 (SDP + TCP/TLS + one "
                                  "DIN / ISO 15118-2 session) on an interface",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--interface", "-i", required=True, help="PLC or veth interface")
    p.add_argument("--protocol", required=True, choices=("din", *MODES))
    p.add_argument("--pnc", action="store_true", help="Plug & Charge (ISO 15118-2, over TLS)")
    p.add_argument("--tls", action="store_true", help="ask SDP for a TLS SECC (not with din)")
    p.add_argument("--pki", type=Path, default=Path("pki"), metavar="DIR",
                   help="a `v2gate pki init` folder: v2g_root.pem (default ./pki)")  # fmt: skip
    p.add_argument("--charge-for", type=float, default=2.0, metavar="S",
                   help="charge this many seconds, then stop (default 2)")  # fmt: skip
    p.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="give up after this many seconds (default 120)")  # fmt: skip
    p.set_defaults(func=run)


def pnc_options(pki: Path) -> dict[str, Any]:
    """``Iso2Config(pnc=...)``: the EV's contract and OEM credentials from a `v2gate pki
    init` folder; ConfigError naming the missing file."""
    from host.pki.files import PkiError

    from .evcc.pnc import ev_from_folder

    try:
        return {"pnc": ev_from_folder(pki)}
    except (PkiError, OSError) as exc:
        raise ConfigError(f"Plug & Charge needs the contract of {pki}: {exc} (make a lab PKI "
                          f"with `v2gate pki init {pki}` or point --pki at yours)") from None  # fmt: skip


def make_evcc(protocol: str, *, pnc: bool = False, charge_for: float = 2.0,
              battery: Battery | None = None, pki: Path = Path("pki")) -> EvccMachine:  # fmt: skip
    from host.bench.dcplant import Battery
    from host.exi.schemas import iso2 as i

    from .evcc.din import DinEvcc
    from .evcc.ev import SimEv
    from .evcc.iso2 import Iso2Config, Iso2Evcc

    ev = SimEv(battery or Battery(), charge_for=charge_for)
    if protocol == "din":
        if pnc:
            raise ConfigError("DIN SPEC 70121 has no Plug & Charge: use --protocol iso2-ac|iso2-dc")
        return DinEvcc(ev)
    options = pnc_options(pki) if pnc else {}
    return Iso2Evcc(ev, Iso2Config(mode=i.EnergyTransferModeType[MODES[protocol]], **options))


def check(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The set-up errors, before any packet goes out; the TLS context when --tls."""
    if args.protocol == "din" and args.pnc:
        raise ConfigError("DIN SPEC 70121 has no Plug & Charge: use --protocol iso2-ac|iso2-dc")
    if args.protocol == "din" and args.tls:
        raise ConfigError("DIN SPEC 70121 runs without TLS ([V2G-DC-618]): drop --tls")
    if args.pnc and not args.tls:
        raise ConfigError("Plug & Charge runs over TLS only: add --tls")
    from host.v2g import tls

    ctx = None
    if args.tls:
        root = args.pki / "v2g_root.pem"
        if not root.is_file():
            raise ConfigError(f"missing V2G root {root}: make a lab PKI with "
                              f"`v2gate pki init {args.pki}` or point --pki at yours")  # fmt: skip
        ctx = tls.client_context(root)
    return ctx


def check_interface(args: argparse.Namespace) -> None:
    from host.v2g.netif import link_local

    if link_local(args.interface) is None:
        raise ConfigError(f"{args.interface} has no usable IPv6 link-local address (is it up? "
                          f"`ip -6 addr show dev {args.interface}`)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from .evcc.common import ResponseReceived, SessionFailed, SessionStopped
    from .evcc.driver import discover_and_run

    try:
        ctx = check(args)
        machine = make_evcc(args.protocol, pnc=args.pnc, charge_for=args.charge_for,
                            pki=args.pki)  # fmt: skip
        check_interface(args)
    except ConfigError as exc:
        print(f"v2gate ev: {exc}", file=sys.stderr, flush=True)
        return EXIT_UNUSABLE
    started = time.monotonic()
    pnc = getattr(getattr(machine, "config", None), "pnc", None)

    def show(event: object) -> None:
        at = time.monotonic() - started
        if isinstance(event, ResponseReceived):
            print(f"{at:8.3f} {event.name} {event.response_code}", flush=True)
            if event.name == "PaymentDetailsRes" and pnc is not None:
                print(f"{at:8.3f} Plug & Charge: contract {pnc.emaid}", flush=True)
        elif isinstance(event, SessionStopped):
            print(f"{at:8.3f} session stopped (SessionID {event.session_id.hex()})", flush=True)
        elif isinstance(event, SessionFailed):
            print(f"{at:8.3f} session failed: {event.reason.value} {event.detail}", flush=True)

    async def main() -> None:
        await asyncio.wait_for(discover_and_run(machine, args.interface, tls=ctx, on_event=show),
                               args.timeout)  # fmt: skip

    asyncio.run(main())
    result = getattr(machine, "result", None)
    return 0 if isinstance(result, SessionStopped) else 1
