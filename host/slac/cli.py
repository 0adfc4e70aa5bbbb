"""`v2gate slac evse|pev --interface IF`: one SLAC side against a real modem, or against the
modem simulator on the other end of a veth pair (`--modem-sim PEER_IF[@NETNS]`).

Prints each step; exits 0 on a match (NID, peer MAC, average attenuation, time taken),
1 when the match failed, 2 when the interface, permissions or modem are not usable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator

from host.bench.modem_sim import ModemSim
from host.bench.veth import in_netns
from host.ev.slac import PevSlac

from . import constants as c
from .driver import (
    Link,
    RawLink,
    modem_request,
    open_packet_socket,
    read_modem_version,
    run_machine,
    serve_modem_sim,
)
from .errors import DriverError, LocalProtocolError, ModemNotAnswering, ModemVersionUnreadable
from .events import (
    Event,
    FailReason,
    KeySet,
    LinkLost,
    LinkReady,
    Matched,
    MatchFailed,
    MatchStarted,
    ToggleCp,
)
from .evse import EvseSlac
from .messages import VsNwInfoCnf, VsNwInfoReq, mac_str, station_id

EXIT_MATCHED, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "slac", help="run one SLAC side (ISO 15118-3) on a PLC interface"
    )
    sides = parser.add_subparsers(dest="side", metavar="SIDE")
    sides.required = True
    for side, text in (("evse", "charger side: set a fresh key, answer the EV, match"),
                       ("pev", "EV side: sound the EVSEs, match the closest, join")):  # fmt: skip
        p = sides.add_parser(side, help=text)
        p.add_argument("--interface", "-i", required=True, help="PLC (QCA7000) network interface")
        p.add_argument("--modem-sim", metavar="PEER_IF[@NETNS]",
                       help="no modem: simulate it on the other end of this veth pair")  # fmt: skip
        p.add_argument("--sim-attenuation", type=int, default=20, metavar="DB",
                       help="attenuation the simulated modem reports (default 20)")  # fmt: skip
        p.add_argument("--timeout", type=float, default=60.0, help="give up after this many s")
        p.add_argument("--json", action="store_true", help="print the result as one JSON line")
        p.add_argument("--attenuation-threshold", type=float, metavar="DB",
                       default=c.DEFAULT_ATTENUATION_THRESHOLD_DB,
                       help="never match a peer heard above this average attenuation "
                            "(default %(default)s dB)")  # fmt: skip
        p.add_argument("--set-key-success", type=_codes, metavar="CODES",
                       default=tuple(sorted(c.SET_KEY_SUCCESS_RESULTS)),
                       help="CM_SET_KEY.CNF results that mean success (default 0,1: QCA modems "
                            "send 1, HomePlug GP says 0)")  # fmt: skip
        p.add_argument("--no-vendor-probe", action="store_true",
                       help="skip the Qualcomm VS_SW_VER probe (a non-Qualcomm modem)")  # fmt: skip
        if side == "evse":
            p.add_argument("--init-timeout", type=float, default=c.TT_EVSE_SLAC_INIT,
                           help="TT_EVSE_SLAC_init: wait this long for the EV (s)")  # fmt: skip
            p.add_argument("--evse-id", type=_evse_id, default="", metavar="ID",
                           help=f"EVSE_ID sent in CM_SLAC_MATCH.CNF (up to {c.STATION_ID_LEN} "
                                "octets)")  # fmt: skip
        else:
            p.add_argument("--no-join", action="store_true",
                           help="stop at the match: do not set the key on the EV modem")  # fmt: skip
        p.set_defaults(func=run)


def _codes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(code, 0) for code in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give codes like 0,1") from None


def _evse_id(text: str) -> bytes:
    try:
        return station_id(text)
    except LocalProtocolError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.json:
        print(text, flush=True)


def describe(event: Event) -> str:
    if isinstance(event, KeySet):
        return f"modem confirmed CM_SET_KEY (NID {event.nid.hex()})"
    if isinstance(event, MatchStarted):
        return (
            f"CM_SLAC_PARM exchanged with {mac_str(event.peer_mac)} (run id {event.run_id.hex()})"
        )
    if isinstance(event, Matched):
        return (f"CM_SLAC_MATCH with {mac_str(event.peer_mac)}: NID {event.nid.hex()}, "
                f"average attenuation {event.attenuation_db:.1f} dB")  # fmt: skip
    if isinstance(event, ToggleCp):
        return (f"validating {mac_str(event.peer_mac)}: {event.toggles} CP toggle(s) B->C->B, "
                f"{event.state_s * 1000:.0f} ms per state")  # fmt: skip
    if isinstance(event, LinkReady):
        return "D-LINK_READY: modems in one logical network"
    if isinstance(event, LinkLost):
        return event.reason
    assert isinstance(event, MatchFailed)
    return f"match failed: {event.reason.value}" + (
        " (waiting for a retry)" if event.retrying else ""
    )


@contextlib.contextmanager
def _modem_sim(args: argparse.Namespace) -> Iterator[None]:
    if not args.modem_sim:
        yield
        return
    ifname, _, ns = args.modem_sim.partition("@")
    sock = in_netns(ns, lambda: open_packet_socket(ifname, c.ETH_P_ALL)) if ns else \
        open_packet_socket(ifname, c.ETH_P_ALL)  # fmt: skip
    link = RawLink(sock)
    task = asyncio.ensure_future(
        serve_modem_sim(ModemSim(attenuation_db=args.sim_attenuation), link)
    )
    _say(args, f"modem simulator on {args.modem_sim} (attenuation {args.sim_attenuation} dB)")
    try:
        yield
    finally:
        task.cancel()
        link.close()


async def _run(args: argparse.Namespace) -> int:
    try:
        link = RawLink.open(args.interface)
    except DriverError as exc:
        return _fail(args, EXIT_UNUSABLE, str(exc))
    _say(args, f"{args.side}: raw socket on {args.interface} ({mac_str(link.mac)})")
    try:
        with _modem_sim(args):
            return await _match(args, link, qualcomm=await _probe(args, link))
    except DriverError as exc:
        return _fail(args, EXIT_UNUSABLE, str(exc))
    finally:
        link.close()


async def _probe(args: argparse.Namespace, link: Link) -> bool:
    """Whether the modem is a Qualcomm one (it answers VS_SW_VER). Another Green PHY modem
    does SLAC all the same, only without the vendor link status: warn, and carry on."""
    if args.no_vendor_probe:
        return False
    try:
        version = await read_modem_version(link, timeout=c.MODEM_TIMEOUT)
    except ModemVersionUnreadable:
        print(f"warning: no answer to the Qualcomm VS_SW_VER probe ({1 + c.MODEM_RETRIES} x "
              f"{c.MODEM_TIMEOUT:g} s): not a QCA modem? carrying on, the link taken as up "
              "once the key is set", file=sys.stderr, flush=True)  # fmt: skip
        return False
    _say(args, f"modem firmware: {version}")
    return True


async def _match(args: argparse.Namespace, link: Link, qualcomm: bool = True) -> int:
    """One SLAC run; without ``qualcomm`` nothing asks the modem for its link status."""
    machine: EvseSlac | PevSlac
    start: Callable[[float], None]
    common = {"attenuation_threshold_db": args.attenuation_threshold,
              "set_key_success": args.set_key_success, "confirm_link": qualcomm}  # fmt: skip
    if args.side == "evse":
        evse = machine = EvseSlac(link.mac, slac_init_timeout=args.init_timeout,
                                  evse_id=args.evse_id, **common)  # fmt: skip
        _say(args, "CP state B with 5 % PWM (taken as given: no CP input on the bench)")
        start = lambda now: evse.cp_state("B", True, now)  # noqa: E731
    else:
        machine = PevSlac(link.mac, join=not args.no_join, **common)
        _say(args, "broadcasting CM_SLAC_PARM.REQ")
        start = machine.start

    t0 = time.monotonic()
    match: list[Matched] = []

    def seen(event: Event) -> None:
        nonlocal t0
        _say(args, describe(event))
        if isinstance(event, MatchStarted) and args.side == "evse":
            t0 = time.monotonic()  # the EVSE times from the EV's CM_SLAC_PARM.REQ
        if isinstance(event, Matched):
            match.append(event)
            match_time[0] = time.monotonic() - t0

    def done(event: Event) -> bool:
        if isinstance(event, MatchFailed):
            return not event.retrying
        return isinstance(event, LinkReady) or (isinstance(event, Matched) and args.side == "pev"
                                                and args.no_join)  # fmt: skip

    match_time = [0.0]
    try:
        last = await asyncio.wait_for(run_machine(machine, link, until=done, on_event=seen,
                                                  before=start), args.timeout)  # fmt: skip
    except TimeoutError:
        return _fail(args, EXIT_FAILED, f"no match within {args.timeout:g} s")
    if isinstance(last, MatchFailed):
        if last.reason is FailReason.MODEM_NO_SET_KEY_CNF:
            raise ModemNotAnswering(f"{last.reason.value} on {args.interface} "
                                    f"({1 + c.MODEM_RETRIES} tries, {c.MODEM_TIMEOUT:g} s each)")  # fmt: skip
        return _fail(args, EXIT_FAILED, last.reason.value)
    m = match[-1]
    if isinstance(last, LinkReady) and qualcomm:
        info = await modem_request(link, VsNwInfoReq(), VsNwInfoCnf, timeout=0.5, tries=1)
        for net in info.networks() if info is not None else []:
            _say(args, f"modem network {net.nid.hex()}: {len(net.stations)} other station(s) "
                       + " ".join(mac_str(sta.mac) for sta in net.stations))  # fmt: skip
    result = {"result": "match", "side": args.side, "nid": m.nid.hex(), "peer_mac": mac_str(m.peer_mac),
              "attenuation_db": m.attenuation_db, "match_ms": round(match_time[0] * 1000, 1)}  # fmt: skip
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        print(f"MATCH: NID {result['nid']}, peer {result['peer_mac']}, average attenuation "
              f"{m.attenuation_db:.1f} dB, {result['match_ms']:.0f} ms", flush=True)  # fmt: skip
    return EXIT_MATCHED


def _fail(args: argparse.Namespace, code: int, reason: str) -> int:
    if args.json:
        print(json.dumps({"result": "failed", "side": args.side, "reason": reason}), flush=True)
    else:
        print(f"FAILED: {reason}", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="v2gate")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["slac", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
