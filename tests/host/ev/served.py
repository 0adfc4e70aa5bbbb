"""One EVCC session against an in-process SeccServer, to the SECC's SessionEnded."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

from host.ev.evcc.driver import run_connection
from host.secc.core import SessionEnded


def serve_one(server: Any, evcc: Any, host: str, port: int, secc_events: list[object], *,
              tls: ssl.SSLContext | None = None,
              on_event: Callable[[object], None] | None = None) -> None:  # fmt: skip
    """Start ``server``, run ``evcc`` over one connection (30 s at most), wait until the
    server has noted the session's end (it does so after its last write), close."""

    async def main() -> None:
        await server.start()
        try:
            kw = {} if on_event is None else {"on_event": on_event}
            await asyncio.wait_for(run_connection(evcc, host, port, tls=tls, **kw), 30)
            for _ in range(200):
                if any(isinstance(e, SessionEnded) for e in secc_events):
                    break
                await asyncio.sleep(0.01)
        finally:
            await server.close()

    asyncio.run(main())
