"""`python -m host.meter sim|poll ...`: the same as `v2gate meter ...`."""

import sys

from host.cli import OneLineParser

from .cli import add_parser

parser = OneLineParser(prog="python -m host.meter")
add_parser(parser.add_subparsers(dest="command"))
args = parser.parse_args(["meter", *sys.argv[1:]])
try:
    sys.exit(int(args.func(args)))
except KeyboardInterrupt:
    sys.exit(130)
