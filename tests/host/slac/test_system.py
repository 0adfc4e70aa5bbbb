"""Root: real AF_PACKET sockets on a veth pair in two namespaces made by the test."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from host.bench.modem_sim import SIM_VERSION, ModemSim
from host.bench.slac_pair import run_pair, veth_links
from host.bench.veth import VethPair, in_netns
from host.slac import constants as c
from host.slac.driver import (
    RawLink,
    open_packet_socket,
    read_modem_version,
    run_machine,
    serve_modem_sim,
)
from host.slac.errors import InterfaceNotFound, ModemVersionUnreadable
from host.slac.events import FailReason, LinkReady, MatchFailed
from host.slac.evse import EvseSlac

pytestmark = pytest.mark.system


def test_our_evse_and_ev_match_over_veth(veth: VethPair) -> None:
    async def main():
        links = veth_links(veth)
        try:
            return await run_pair(links, attenuation_db=18)
        finally:
            links.close()

    result = asyncio.run(main())
    print(f"veth match in {result.match_s * 1000:.1f} ms, link in {result.link_s * 1000:.1f} ms")
    assert result.matched and result.transport == "veth"
    assert result.attenuation_db == 18.0
    assert isinstance(result.evse_events[-1], LinkReady) and isinstance(
        result.pev_events[-1], LinkReady
    )
    assert result.evse_events[-1].nid == result.nid


def _far_end_sim(veth: VethPair, sim: ModemSim) -> tuple[RawLink, RawLink]:
    host = RawLink(in_netns(veth.ns_evse, lambda: open_packet_socket(veth.if_evse)))
    far = RawLink(in_netns(veth.ns_pev, lambda: open_packet_socket(veth.if_pev, c.ETH_P_ALL)))
    return host, far


def test_modem_version_read_and_unreadable(veth: VethPair) -> None:
    async def main(version):
        host, far = _far_end_sim(veth, sim := ModemSim(version=version))
        task = asyncio.ensure_future(serve_modem_sim(sim, far))
        try:
            return await read_modem_version(host, timeout=0.2, tries=2)
        finally:
            task.cancel()
            host.close(), far.close()

    assert asyncio.run(main(SIM_VERSION)) == SIM_VERSION.decode()
    with pytest.raises(ModemVersionUnreadable, match="did not answer VS_SW_VER"):
        asyncio.run(main(None))


def test_modem_not_answering_set_key(veth: VethPair) -> None:
    async def main():
        host, far = _far_end_sim(veth, sim := ModemSim(answer_set_key=False))
        task = asyncio.ensure_future(serve_modem_sim(sim, far))
        evse = EvseSlac(host.mac)
        try:
            return await run_machine(evse, host, until=lambda e: isinstance(e, MatchFailed),
                                     before=lambda now: evse.cp_state("B", True, now))  # fmt: skip
        finally:
            task.cancel()
            host.close(), far.close()

    assert asyncio.run(main()) == MatchFailed(FailReason.MODEM_NO_SET_KEY_CNF)


def test_no_such_interface(veth: VethPair) -> None:
    with pytest.raises(InterfaceNotFound, match="no network interface 'nonexistent0'"):
        in_netns(veth.ns_evse, lambda: open_packet_socket("nonexistent0"))


def test_raw_socket_not_permitted_without_cap_net_raw(veth: VethPair) -> None:
    code = "from host.slac.driver import open_packet_socket; open_packet_socket('lo')"
    proc = subprocess.run(["setpriv", "--bounding-set", "-net_raw", sys.executable, "-c", code],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode != 0
    assert "RawSocketNotPermitted: raw Ethernet sockets need root or CAP_NET_RAW" in proc.stderr


def _cli(veth: VethPair, side: str, *extra: str) -> subprocess.Popen:
    ns, ifname, peer = ((veth.ns_evse, veth.if_evse, f"{veth.if_pev}@{veth.ns_pev}") if side == "evse"
                        else (veth.ns_pev, veth.if_pev, f"{veth.if_evse}@{veth.ns_evse}"))  # fmt: skip
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "host.slac.cli", side,
                             "--interface", ifname, "--modem-sim", peer, "--timeout", "20", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def test_cli_evse_and_pev_in_two_namespaces(veth: VethPair) -> None:
    evse = _cli(veth, "evse")
    assert evse.stdout is not None
    evse_lines = []
    while "modem confirmed CM_SET_KEY" not in (line := evse.stdout.readline()):  # ready
        assert line, evse.communicate()[1]
        evse_lines.append(line)
    pev = _cli(veth, "pev", "--json")
    pev_out, pev_err = pev.communicate(timeout=60)
    evse_out, evse_err = evse.communicate(timeout=60)
    evse_out = "".join(evse_lines) + line + evse_out
    print(pev_out, evse_out)
    assert pev.returncode == 0, pev_err
    assert evse.returncode == 0, evse_err
    result = json.loads(pev_out.strip().splitlines()[-1])
    assert result["result"] == "match" and result["attenuation_db"] == 20.0
    assert f"MATCH: NID {result['nid']}" in evse_out
    steps = ("modem firmware: MAC-QCA7000", "CM_SLAC_PARM exchanged", "D-LINK_READY",
             f"modem network {result['nid']}: 1 other station(s)")  # fmt: skip
    for step in steps:
        assert step in evse_out


def test_cli_without_a_modem_says_so(veth: VethPair) -> None:
    proc = subprocess.run(["ip", "netns", "exec", veth.ns_evse, sys.executable, "-m",
                           "host.slac.cli", "evse", "-i", veth.if_evse],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("warning: no answer to the Qualcomm VS_SW_VER probe")  # carries on
    assert "FAILED: local modem did not confirm CM_SET_KEY" in lines[-1]  # then SLAC itself stops
