"""The `slac` scenario of `v2gate simulate`: our EVSE against our EV, each with a simulated
modem - over a veth pair in two network namespaces when root, else the in-process channel.
"""

from __future__ import annotations

from host.bench.slac_pair import Links, channel_links, run_pair, veth_links
from host.bench.veth import veth_pair, why_no_veth
from host.slac.events import Event, ToggleCp
from host.slac.messages import mac_str


async def _run(links: Links, json_out: bool, validate: bool) -> dict:
    def show(side: str, event: Event) -> None:
        if not json_out:
            from host.slac.cli import describe

            print(f"  {side:>4}: {describe(event)}", flush=True)

    try:
        result = await run_pair(links, on_event=show, validate=validate)
    finally:
        links.close()
    return {
        "result": "match" if result.matched else "failed",
        "transport": result.transport,
        "match_ms": None if result.match_s is None else round(result.match_s * 1000, 1),
        "link_ms": None if result.link_s is None else round(result.link_s * 1000, 1),
        "nid": result.nid.hex(),
        "peer_mac": mac_str(result.evse_mac),
        "pev_mac": mac_str(result.pev_mac),
        "attenuation_db": result.attenuation_db,
        "reason": result.reason,
        "validated_toggles": next((e.toggles for e in result.pev_events
                                   if isinstance(e, ToggleCp)), None),  # fmt: skip
    }


async def run_slac_scenario(json_out: bool, validate: bool = False) -> dict:
    """Run one SLAC match (with ``validate``, the EV validates the EVSE by CP toggles first);
    the dict says which transport was used and why."""
    no_veth = why_no_veth()
    if no_veth is None:
        note = "veth pair in two network namespaces, raw AF_PACKET sockets"
        if not json_out:
            print(f"slac: transport {note}", flush=True)
        with veth_pair("sim") as pair:
            out = await _run(veth_links(pair), json_out, validate)
    else:
        note = f"in-process channel ({no_veth})"
        if not json_out:
            print(f"slac: transport {note}", flush=True)
        out = await _run(channel_links(), json_out, validate)
    out["transport_note"] = note
    if not json_out:
        print(f"slac: {out['result']} in {out['match_ms']} ms, NID {out['nid']}, "
              f"EVSE {out['peer_mac']}, attenuation {out['attenuation_db']} dB", flush=True)  # fmt: skip
    return out
