"""The ISO 15118 session scenarios of `v2gate simulate`: din-dc, iso2-ac, iso2-dc-pnc,
iso20-dc, iso20-dc-bpt, iso20-ac-bpt.

Firmware + SLAC + SDP + TLS + session: the sim board's firmware on a pty with an ISO 15118
EV in its plant and the station on the link (host.bench.v2g_firmware): the EV plugs in
(CP B), the station offers 5 % PWM, then SLAC (host.bench.slac_pair: our EVSE and EV,
simulated modems), SDP, TCP or TLS and one session: our SECC (host.secc.serve) against our
EVCC, to SessionStopRes. The session's contactor requests close and open the firmware's
contactor through the link (host.station.v2g.StationEvseController); the power stage and
the EV battery are the plant model (host.bench.dcplant). As root, SLAC and the session run
over one veth pair in two network namespaces (host.bench.v2g_transport); else SLAC over the
in-process channel and the session over loopback TCP without SDP (SDP needs an interface
with an IPv6 link-local address and multicast; loopback has neither); the reason is printed.
The timeline shows the CP states, the contactor and the session's messages together.

DC (din-dc, iso2-dc-pnc): the firmware's one contactor stands in for the DC contactor
pair; pre-charge and the isolation check are the plant model's.

iso2-dc-pnc is Plug & Charge over TLS 1.2: a fresh lab PKI (`v2gate pki init`), the EV
pays with its contract (contract_chain.pem), the SECC checks it against the MO root and
signs its SalesTariffs with the MO Sub-CA 2 key; the verdict names the EMAID authorized.

The iso20-* scenarios run -20 over TLS 1.3 with the -20 chain, dynamic control, and print
each loop iteration's power, SoC and export enable (host.bench.v2g_iso20): BPT charges,
discharges on the station's setpoint, stops discharging within one iteration when the
export enable drops.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from host.bench import v2g_firmware, v2g_iso20
from host.bench.bench import LISTENER
from host.bench.registry import register
from host.bench.v2g_transport import (
    Outcome,
    Run,
    Timeline,
    Variant,
    in_process,
    over_veth,
    preload,  # fmt: skip
)
from host.bench.veth import why_no_veth

CHARGE_FOR = 1.5  # s of charging loop: enough for a readable timeline

VARIANTS = {
    "din-dc": Variant("din", tls=False, pnc=False),
    "iso2-ac": Variant("iso2-ac", tls=False, pnc=False),
    "iso2-dc-pnc": Variant("iso2-dc", tls=True, pnc=True),
    "iso20-dc": Variant("iso20-dc", tls=True, pnc=False),
    "iso20-dc-bpt": Variant("iso20-dc-bpt", tls=True, pnc=False),
    "iso20-ac-bpt": Variant("iso20-ac-bpt", tls=True, pnc=False),
}


async def run_variant(name: str, quiet: bool, runtime: str | None = None) -> dict[str, Any]:
    """One scenario; the summary dict `v2gate simulate` prints (or gives as JSON).
    ``runtime``: the firmware's (micropython / cpython; None: MicroPython when there is
    one, as `v2gate simulate --runtime auto`)."""
    from host.bench.processes import micropython_binary

    if runtime is None:
        runtime = "micropython" if micropython_binary() else "cpython"
    variant = VARIANTS[name]
    tl = Timeline(show=not quiet)
    no_veth = why_no_veth()
    if no_veth is None:
        out = Outcome("veth", "veth pair in two network namespaces: SLAC, SDP, TCP/TLS")
    else:
        out = Outcome("in-process", f"in-process SLAC channel and loopback TCP, no SDP "
                                    f"({no_veth})")  # fmt: skip
    if not quiet:
        print(f"{name}: transport {out.note}; firmware on {runtime}", flush=True)
    with tempfile.TemporaryDirectory(prefix="v2gate-sim-") as tmp:
        pki = None
        if variant.tls:
            pki = Path(tmp)
            _lab_pki(pki)
            if _iso20(variant):
                v2g_iso20.lab_pki20(pki)
        carry = over_veth if no_veth is None else in_process
        charge_for = v2g_iso20.CHARGE_FOR if _iso20(variant) else CHARGE_FOR

        async def session(station: Callable[[Any], Any]) -> None:
            await carry(variant, Run(pki, charge_for, station), tl, out)

        preload()
        try:
            await v2g_firmware.with_firmware(runtime, tl, out, session)
        finally:
            tl.close()
    return _summary(name, variant, out, tl)


def _iso20(variant: Variant) -> bool:
    return variant.protocol.startswith("iso20")


def _lab_pki(directory: Path) -> None:
    import datetime as dt

    from host.pki import hierarchy
    from host.pki.profiles import PROFILES

    hierarchy.init(directory, PROFILES["iso2"], hierarchy.Names(), dt.datetime.now(dt.UTC))


def _summary(name: str, variant: Variant, out: Outcome, tl: Timeline) -> dict[str, Any]:
    from host.ev.evcc.common import SessionStopped
    from host.secc.core import EndReason, SessionEnded

    failed = [f"{req} {code}" for req, code in out.answered if code.startswith("FAILED")]
    energy = sum(p.energy_in_wh for p in out.plants)
    safe = all(not p.energised and not p.contactors_closed for p in out.plants)
    stopped = isinstance(out.ev_result, SessionStopped)
    ended = isinstance(out.secc_end, SessionEnded) and out.secc_end.reason is EndReason.STOPPED
    want_tls = "TLSv1.3" if _iso20(variant) else "TLSv1.2"
    tls_ok = not variant.tls or (out.tls is not None and out.tls.version == want_tls)
    bpt_ok, bpt_text, bpt = True, "", None
    if _iso20(variant):
        energy_out = sum(p.energy_out_wh for p in out.plants)
        is_bpt = v2g_iso20.service_of(variant.protocol)[2]
        bpt_ok, bpt_text = v2g_iso20.verdict(tl.records, is_bpt, energy_out)
        bpt = {"ok": bpt_ok, "text": bpt_text, "energy_out_wh": round(energy_out, 3),
               "soc_floor_percent": v2g_iso20.FLOOR * 100}  # fmt: skip
    pnc_ok = not variant.pnc or out.contract is not None
    fw_ok, fw_text = v2g_firmware.verdict(out, tl)
    ok = (stopped and ended and not failed and energy > 0 and safe and tls_ok and pnc_ok
          and fw_ok and bpt_ok and not out.error)  # fmt: skip
    took = (None if out.sdp_at is None or out.stopped_at is None
            else round(out.stopped_at - out.sdp_at, 3))  # fmt: skip
    security = (f"{out.tls.version} {out.tls.cipher}" if out.tls is not None
                else "TLS (no handshake)" if variant.tls else "plain TCP")  # fmt: skip
    pnc = variant.pnc
    auth = ("EIM" if not pnc else f"Plug & Charge, contract {out.contract} authorized"
            if out.contract else "Plug & Charge, no contract authorized")  # fmt: skip
    if ok:
        verdict = (f"{out.negotiated} session to SessionStopRes in {took:.2f} s from SDP, "
                   f"{len(out.answered)} requests answered, none FAILED; {energy:.1f} Wh "
                   f"delivered, stage off at the end; {security}; {auth}; SLAC matched in "
                   f"{out.slac_ms:.0f} ms; {fw_text}"
                   + (f"; {bpt_text}" if bpt_text else ""))  # fmt: skip
    elif stopped and ended and not failed and not out.error and energy > 0 and not fw_ok:
        verdict = f"session clean but {fw_text}; {security}; {auth}"
    else:
        why = out.error or (f"FAILED answers: {', '.join(failed)}" if failed else
                            f"EV: {out.ev_result}, SECC: {out.secc_end}")  # fmt: skip
        refused = [c.refusal for c in out.controllers if getattr(c, "refusal", None)]
        if refused:
            why += f"; contactor refused: {refused[0]}"
        if not bpt_ok:
            why += f"; {bpt_text}"
        verdict = f"no clean SessionStop ({why}); {security}; {auth}; {fw_text}"
    return {
        "result": "pass" if ok else "fail", "verdict": verdict,
        "v2g": {"transport": out.transport, "protocol": out.negotiated, "security": security,
                "authorization": "pnc" if pnc else "eim", "emaid": out.contract,
                "requests": len(out.answered),
                "sdp_to_stop_s": took, "slac_match_ms": out.slac_ms,
                "energy_wh": round(energy, 2), "transport_note": out.note},
        "firmware": {"ok": fw_ok, **_firmware_summary(out)},
        **({"power": bpt} if bpt is not None else {}),
        "timeline": tl.records,
    }


def _firmware_summary(out: Outcome) -> dict[str, Any]:
    from host.bench.bench import summarize

    return summarize(out.firmware)


def _scenario(name: str) -> Callable[[str], Any]:
    async def run(runtime: str) -> dict[str, Any]:
        return await run_variant(name, quiet=LISTENER.get() is None, runtime=runtime)

    return run


register("din-dc", _scenario("din-dc"),
         "DIN 70121 DC: firmware (5 % PWM, contactor), SLAC, SDP, TCP, session to "
         "SessionStopRes (veth in netns when root)")  # fmt: skip
register("iso2-ac", _scenario("iso2-ac"),
         "ISO 15118-2 AC EIM: firmware (5 % PWM, contactor), SLAC, SDP, TCP, session to "
         "SessionStopRes (veth when root)")  # fmt: skip
register("iso2-dc-pnc", _scenario("iso2-dc-pnc"),
         "ISO 15118-2 DC Plug & Charge over TLS 1.2: firmware, SLAC, SDP, TLS, contract "
         "checked and authorized, session to SessionStopRes")  # fmt: skip
register("iso20-dc", _scenario("iso20-dc"),
         "ISO 15118-20 DC, dynamic control, over TLS 1.3 (-20 chain, mutual): firmware, SLAC, "
         "SDP, session to SessionStopRes; power and SoC per loop")  # fmt: skip
register("iso20-dc-bpt", _scenario("iso20-dc-bpt"),
         "ISO 15118-20 DC_BPT over TLS 1.3: charge, discharge on the station's setpoint, "
         "export enable dropped and back; power, SoC, export enable per loop")  # fmt: skip
register("iso20-ac-bpt", _scenario("iso20-ac-bpt"),
         "ISO 15118-20 AC_BPT over TLS 1.3: as iso20-dc-bpt on the AC loop")  # fmt: skip
