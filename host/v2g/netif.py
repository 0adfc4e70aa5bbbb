"""The PLC interface's IPv6 link-local address, read from the kernel's table.

Read through /proc/thread-self so that a thread that entered another network namespace
(host.bench.veth.in_netns) sees that namespace's addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from .errors import ConfigError

IF_INET6 = "/proc/thread-self/net/if_inet6"
_SCOPE_LINK = 0x20
_IFA_F_TENTATIVE = 0x40  # duplicate address detection still running: not usable yet
_IFA_F_DADFAILED = 0x08


@dataclass(frozen=True, slots=True)
class LinkLocal:
    address: ipaddress.IPv6Address
    ifname: str
    ifindex: int

    def sockaddr(self, port: int) -> tuple[str, int, int, int]:
        return (str(self.address), port, 0, self.ifindex)


def link_local(ifname: str) -> LinkLocal | None:
    """The interface's usable link-local address; None while it has none (or only a
    tentative one). ConfigError when the interface does not exist."""
    try:
        ifindex = socket.if_nametoindex(ifname)
    except OSError:
        raise ConfigError(
            f"no network interface {ifname!r} here (`ip link` lists the ones there are)"
        ) from None
    with open(IF_INET6) as table:
        for line in table:
            hexaddr, _index, _plen, scope, flags, name = line.split()
            if name != ifname or int(scope, 16) != _SCOPE_LINK:
                continue
            if int(flags, 16) & (_IFA_F_TENTATIVE | _IFA_F_DADFAILED):
                continue
            return LinkLocal(ipaddress.IPv6Address(bytes.fromhex(hexaddr)), ifname, ifindex)
    return None
