"""`python -m host.station --port DEV`: serve one connector, one JSON line per event
(the same program as `v2gate station`, see host/station/cli.py)."""

import sys

from host.station.cli import main

if __name__ == "__main__":
    sys.exit(main())
