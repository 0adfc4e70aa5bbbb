"""`v2gate ev`: the car side of ISO 15118 on one interface (a PLC modem's, or a veth end):
SDP to find the SECC, TCP or TLS to it, one DIN, ISO 15118-2 or ISO 15118-20 session with a
simulated battery, to SessionStopRes.

  v2gate ev --interface eth1 --protocol iso2-dc
  v2gate ev --interface eth1 --protocol iso2-ac --tls --pki lab-pki
  v2gate ev --interface eth1 --protocol iso2-dc --tls --pnc --pki lab-pki
  v2gate ev --interface eth1 --protocol iso20-dc-bpt --control dynamic --tls --pki lab-pki20
  v2gate ev --interface eth1 --protocol iso20-ac-bpt --control scheduled --discharge
            --soc 80 --tls --pki lab-pki20
  v2gate ev --interface eth1 --protocol iso20-dc --tls --pnc --pki lab-pki20

The iso20 protocols (ISO 15118-20 DC, DC_BPT, AC, AC_BPT) run over TLS 1.3 only: --pki is a
`v2gate pki init --profile iso20` folder (v2g_root.pem; oem_prov_chain.pem and oem_prov.key,
when there, answer a SECC that asks for the vehicle certificate). --control picks scheduled
(the station's schedules; default) or dynamic control (the station's setpoints); with BPT in
scheduled control --discharge makes the EV ask to give power back. --soc sets the battery's
starting SoC, --target-soc the EV's target.

With --pnc the EV pays by Contract (ISO 15118-2 Plug & Charge) with contract_chain.pem and
contract.key of --pki (its OEM provisioning oem_prov.pem / oem_prov.key sign a
CertificateInstallationReq when the SECC asks for one); with an iso20 protocol by -20 Plug &
Charge (the -20 contract of a `--profile iso20` --pki, signing AuthorizationReq) when the
SECC offers it, else EIM.

Each response prints one line. Exit 0 after SessionStopRes OK, 1 when the session failed,
2 when it cannot start (no such interface, no IPv6 link-local address, missing V2G root,
no SECC answering SDP, --pnc without TLS or without the contract files, iso20 without
--tls, a -20 option with another protocol).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from host.argtypes import positive
from host.v2g.errors import ConfigError

if TYPE_CHECKING:  # the machines and schemas load in `run`: `v2gate --help` stays quick
    import ssl

    from host.bench.dcplant import Battery

    from .evcc.driver import EvccMachine

MODES = {"iso2-ac": "AC_three_phase_core", "iso2-dc": "DC_extended"}  # EnergyTransferModeType
ISO20 = {"iso20-dc": "SERVICE_DC", "iso20-dc-bpt": "SERVICE_DC_BPT",  # iso20_constants
         "iso20-ac": "SERVICE_AC", "iso20-ac-bpt": "SERVICE_AC_BPT"}
CONTROLS = ("scheduled", "dynamic")
EXIT_UNUSABLE = 2


def add_parser(sub: Any) -> None:
    p = sub.add_parser("ev", help="run the car side of ISO 15118 (SDP + TCP/TLS + one "
                                  "DIN / ISO 15118-2 / -20 session) on an interface",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--interface", "-i", required=True, help="PLC or veth interface")
    p.add_argument("--protocol", required=True, choices=("din", *MODES, *ISO20))
    p.add_argument("--control", choices=CONTROLS,
                   help="iso20: scheduled (default) or dynamic control")  # fmt: skip
    p.add_argument("--discharge", action="store_true",
                   help="iso20 BPT, scheduled control: ask to give power back (V2G)")
    p.add_argument("--soc", type=float, metavar="PCT", help="the battery's starting SoC")
    p.add_argument("--target-soc", type=float, metavar="PCT",
                   help="iso20: the EV's target SoC (default 80)")  # fmt: skip
    p.add_argument("--pnc", action="store_true",
                   help="Plug & Charge (ISO 15118-2 or -20, over TLS)")  # fmt: skip
    p.add_argument("--tls", action="store_true",
                   help="ask SDP for a TLS SECC (not with din; iso20 needs it)")  # fmt: skip
    p.add_argument("--pki", type=Path, default=Path("pki"), metavar="DIR",
                   help="a `v2gate pki init` folder: v2g_root.pem (default ./pki)")  # fmt: skip
    p.add_argument("--charge-for", type=positive(float), default=2.0, metavar="S",
                   help="charge this many seconds, then stop (default 2)")  # fmt: skip
    p.add_argument("--timeout", type=positive(float), default=120.0, metavar="S",
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
              battery: Battery | None = None, pki: Path = Path("pki"),
              control: str | None = None, discharge: bool = False,
              target_soc: float | None = None) -> EvccMachine:  # fmt: skip
    from host.bench.dcplant import Battery
    from host.exi.schemas import iso2 as i

    from .evcc.din import DinEvcc
    from .evcc.ev import SimEv
    from .evcc.iso2 import Iso2Config, Iso2Evcc

    if protocol in ISO20:
        return make_iso20(protocol, battery or Battery(), charge_for, control, discharge,
                          target_soc, pnc, pki)  # fmt: skip
    ev = SimEv(battery or Battery(), charge_for=charge_for)
    if protocol == "din":
        if pnc:
            raise ConfigError("DIN SPEC 70121 has no Plug & Charge: use --protocol iso2-ac|iso2-dc")
        return DinEvcc(ev)
    options = pnc_options(pki) if pnc else {}
    return Iso2Evcc(ev, Iso2Config(mode=i.EnergyTransferModeType[MODES[protocol]], **options))


def pnc20_options(pki: Path) -> dict[str, Any]:
    """``Iso20Config(pnc=...)``: the EV's -20 contract (contract_chain.pem, contract.key of
    a `v2gate pki init --profile iso20` folder); ConfigError naming what is wrong."""
    from host.pki.files import PkiError

    from .evcc.pnc20 import ev20_from_folder

    try:
        return {"pnc": ev20_from_folder(pki)}
    except (PkiError, OSError) as exc:
        raise ConfigError(f"-20 Plug & Charge needs the -20 contract of {pki}: {exc} (make a "
                          f"lab PKI with `v2gate pki init {pki} --profile iso20`)") from None


def make_iso20(protocol: str, battery: Battery, charge_for: float, control: str | None,
               discharge: bool, target_soc: float | None, pnc: bool = False,
               pki: Path = Path("pki")) -> EvccMachine:  # fmt: skip
    from host.secc import iso20_constants as k

    from .evcc.ev import SimEv
    from .evcc.iso20 import Iso20Config, Iso20Evcc

    target = 0.8 if target_soc is None else target_soc / 100.0
    mode = k.CONTROL_DYNAMIC if control == "dynamic" else k.CONTROL_SCHEDULED
    options = pnc20_options(pki) if pnc else {}
    return Iso20Evcc(SimEv(battery, charge_for=charge_for, target_soc=target),
                     Iso20Config(service=getattr(k, ISO20[protocol]), control_mode=mode,
                                 discharge=discharge, target_soc=target, **options))  # fmt: skip


def check_iso20(args: argparse.Namespace) -> None:
    """The -20 options' errors: each needs an iso20 protocol, -20 needs TLS (1.3)."""
    iso20 = args.protocol in ISO20
    for given, option in ((args.control is not None, "--control"),
                          (args.discharge, "--discharge"),
                          (args.target_soc is not None, "--target-soc")):  # fmt: skip
        if given and not iso20:
            raise ConfigError(f"{option} is an ISO 15118-20 option: use --protocol "
                              f"{'|'.join(ISO20)}")  # fmt: skip
    if args.discharge and not args.protocol.endswith("-bpt"):
        raise ConfigError("--discharge needs bidirectional power: use --protocol "
                          "iso20-dc-bpt|iso20-ac-bpt")  # fmt: skip
    if args.discharge and args.control == "dynamic":
        raise ConfigError("--discharge is for scheduled control (in dynamic control the "
                          "station's setpoint decides): drop it or --control dynamic")
    for value, option in ((args.soc, "--soc"), (args.target_soc, "--target-soc")):
        if value is not None and not 0.0 <= value <= 100.0:
            raise ConfigError(f"{option} {value:g}: give a percentage, 0-100")
    if iso20 and not args.tls:
        raise ConfigError("ISO 15118-20 runs over TLS 1.3 only ([V2G20-2356]): add --tls "
                          "(and --pki a `v2gate pki init --profile iso20` folder)")  # fmt: skip


def check(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The set-up errors, before any packet goes out; the TLS context when --tls."""
    check_iso20(args)
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
        if args.protocol in ISO20:  # TLS 1.3; the vehicle certificate when the folder has it
            chain, key = args.pki / "oem_prov_chain.pem", args.pki / "oem_prov.key"
            mine = chain.is_file() and key.is_file()
            ctx = tls.client_context(root, tls13=True, cert_chain=chain if mine else None,
                                     key=key if mine else None)  # fmt: skip
            # no fallback: this EV offers only -20, which TLS 1.2 must not carry ([V2G20-1235])
            ctx.minimum_version = ctx.maximum_version
        else:
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
        battery = None
        if args.soc is not None:
            from host.bench.dcplant import Battery

            battery = Battery(soc=args.soc / 100.0)
        machine = make_evcc(args.protocol, pnc=args.pnc, charge_for=args.charge_for,
                            pki=args.pki, battery=battery, control=args.control,
                            discharge=args.discharge, target_soc=args.target_soc)  # fmt: skip
        check_interface(args)
    except ConfigError as exc:
        print(f"v2gate ev: {exc}", file=sys.stderr, flush=True)
        return EXIT_UNUSABLE
    started = time.monotonic()
    pnc = getattr(getattr(machine, "config", None), "pnc", None)
    paid_by, contract = "PaymentDetailsRes", getattr(pnc, "emaid", "")  # -2
    if args.protocol in ISO20 and pnc is not None:
        from host.secc.certs import common_name

        # -20: the contract goes in AuthorizationReq, if the SECC offered PnC (else EIM)
        paid_by, contract = "AuthorizationRes", common_name(pnc.contract.leaf)

    def show(event: object) -> None:
        at = time.monotonic() - started
        if isinstance(event, ResponseReceived):
            print(f"{at:8.3f} {event.name} {event.response_code}", flush=True)
            if event.name == paid_by and pnc is not None and \
                    getattr(machine, "paid_by_contract", True):  # fmt: skip
                print(f"{at:8.3f} Plug & Charge: contract {contract}", flush=True)
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
