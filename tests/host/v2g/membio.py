"""A TLS handshake between two contexts over memory BIOs: no sockets, no network."""

from __future__ import annotations

import ssl


def handshake(client_ctx: ssl.SSLContext,
              server_ctx: ssl.SSLContext) -> tuple[ssl.SSLObject, ssl.SSLObject, bytes]:  # fmt: skip
    """(client, server, every byte the server sent) once both sides have a version (or
    after 10 rounds); ssl.SSLError if the two cannot agree."""
    bios = [ssl.MemoryBIO() for _ in range(4)]
    server = server_ctx.wrap_bio(bios[0], bios[1], server_side=True)
    client = client_ctx.wrap_bio(bios[2], bios[3])
    from_server = b""
    for _ in range(10):
        for side in (client, server):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        bios[0].write(bios[3].read())
        sent = bios[1].read()
        from_server += sent
        bios[2].write(sent)
        if client.version() and server.version():
            break
    return client, server, from_server
