"""`v2gate csms`: the test CSMS (host/ocpp/csms.py) as its own process.

    v2gate csms --port P [--log FILE] [--send FILE] [--password PW] [--cert PEM --key PEM] ...

It prints ``listening on PORT`` once it accepts stations (``--port 0``: any free port), logs
every received frame to ``--log`` (fsynced before it answers), and in scripted mode
(``--send FILE``) sends FILE's lines as frames after each BootNotification. Ctrl-C or
SIGTERM stop it. Exit 2: a bad argument, a file it cannot read, a port it cannot bind.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from .csms import UsageError, add_arguments, prepare, serve_csms

EXIT_USAGE = 2


def add_parser(sub: Any) -> None:
    p = sub.add_parser("csms", help="an OCPP 2.0.1/2.1 CSMS for tests and simulation",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        prepare(args)
    except UsageError as e:
        print(f"v2gate csms: {e} (see v2gate csms --help)", file=sys.stderr)
        return EXIT_USAGE
    asyncio.run(serve_csms(args))
    return 0
