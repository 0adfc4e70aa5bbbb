"""An in-process stand-in for a veth pair, for when raw sockets cannot be had (not root).

Each end has links like sockets bound to it: a frame sent on one end reaches every link on
the other end as incoming, and the ETH_P_ALL links on its own end as outgoing - what the
kernel does for a veth pair, so the modem simulators work unchanged.
"""

from __future__ import annotations

import asyncio

from host.slac import constants as c


class ChannelLink:
    def __init__(self, channel: Channel, end: int, mac: bytes, sees_outgoing: bool) -> None:
        self.channel, self.end, self.mac = channel, end, mac
        self.sees_outgoing = sees_outgoing
        self.queue: asyncio.Queue[tuple[bytes, bool]] = asyncio.Queue()

    def send(self, frame: bytes) -> None:
        self.channel.deliver(self, frame)

    async def recv(self) -> tuple[bytes, bool]:
        return await self.queue.get()

    def close(self) -> None:
        self.channel.links.remove(self)


class Channel:
    """Two ends (0 = EVSE, 1 = EV) with a MAC address each, like the two veth interfaces."""

    def __init__(self, macs: tuple[bytes, bytes] = (b"\x02\x00\x00\x00\x00\x01",
                                                    b"\x02\x00\x00\x00\x00\x02")) -> None:  # fmt: skip
        self.macs = macs
        self.links: list[ChannelLink] = []

    def open(self, end: int, protocol: int = c.ETH_P_HOMEPLUG) -> ChannelLink:
        link = ChannelLink(self, end, self.macs[end], protocol == c.ETH_P_ALL)
        self.links.append(link)
        return link

    def deliver(self, sender: ChannelLink, frame: bytes) -> None:
        for link in self.links:
            if link.end != sender.end:
                link.queue.put_nowait((frame, False))
            elif link.sees_outgoing and link is not sender:
                link.queue.put_nowait((frame, True))
