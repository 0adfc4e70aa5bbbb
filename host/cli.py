"""The `v2gate` command.

Each subcommand lives beside the code it drives and exposes ``add_parser(subparsers)``;
the parser it adds sets ``func(args) -> int``. This file only lists them, so adding a
subcommand is one line here.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# module path of each subcommand, in the order `v2gate --help` shows them
SUBCOMMANDS = [
    "host.bench.cli",
    "host.slac.cli",
    "host.exi.cli",
    "host.station.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="v2gate", description="Controller for bidirectional (V2G) EV chargers."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
