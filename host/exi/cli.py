"""`v2gate decode`: EXI hex to the reference codec's JSON, and back with --encode."""

from __future__ import annotations

import argparse
import json
import sys

from host import exi


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "decode", help="decode EXI hex to JSON (or encode JSON to EXI hex)",
        description="Decode an ISO 15118 / DIN 70121 EXI stream, or encode JSON with --encode.",
    )
    parser.add_argument("--ns", required=True, metavar="URN",
                        help=f"schema namespace, one of: {', '.join(exi.MODULES)}")
    parser.add_argument("--encode", metavar="JSON", help="encode this JSON message instead")
    parser.add_argument("--fragment", action="store_true", default=None,
                        help="an EXI fragment (default: only for xmldsig)")
    parser.add_argument("hex", nargs="?", help="the EXI stream in hex")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        if args.encode is not None:
            message = exi.from_json(args.ns, json.loads(args.encode))
            print(exi.encode(message, args.ns, fragment=args.fragment).hex())
            return 0
        if args.hex is None:
            print("v2gate decode: give HEX, or --encode JSON", file=sys.stderr)
            return 2
        data = bytes.fromhex(args.hex)
        print(json.dumps(exi.to_json(exi.decode(args.ns, data, fragment=args.fragment), args.ns)))
        return 0
    except (exi.ExiError, ValueError) as exc:  # ValueError: bad hex or bad JSON text
        print(f"v2gate decode: {exc}", file=sys.stderr)
        return 1
