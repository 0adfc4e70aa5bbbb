"""`v2gate decode`: EXI hex to the reference codec's JSON, and back with --encode.

The input is hex (whitespace and a `0x` prefix allowed), from the argument or from stdin
(no argument, or `-`). An explicit argument (hex, or --encode JSON) wins and stdin is
never touched then, so that `while read f; do v2gate decode "$f"; done < frames.txt`
leaves the rest of the file to the loop. A whole V2GTP frame, as a capture shows it, is accepted too: its
8-byte header is checked and stripped. `--pcap FILE` decodes a whole capture instead
(host/exi/capture.py), TLS included with `--keylog`. Every error is one line on stderr
and exit 2.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
from pathlib import Path

from host import exi
from host.exi import capture
from host.v2g import pcap
from host.v2g.tlsrecords import TlsError

V2GTP_VERSION = 0x01
V2GTP_HEADER_LEN = 8
# ISO 15118-2 §7.8.3 (0x8001: SAP, DIN 70121, -2) and ISO 15118-20 (0x8002-0x8006: one
# per namespace); SDP's 0x9000/0x9001 carry no EXI
EXI_PAYLOAD_TYPES = range(0x8001, 0x8007)
SDP_PAYLOAD_TYPES = (0x9000, 0x9001)


class InputError(ValueError):
    """The input cannot be decoded as given; the message is the whole explanation."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "decode", help="decode EXI hex (or a V2GTP frame) to JSON; --encode JSON to hex",
        description=__doc__,
    )
    parser.add_argument("--ns", metavar="URN",
                        help=f"schema namespace, one of: {', '.join(exi.MODULES)} "
                             "(not with --pcap: the capture's handshake says it)")
    parser.add_argument("--pcap", type=Path, metavar="FILE",
                        help="decode every V2G message of a capture (pcap or pcapng; TCP "
                             "reassembled), one JSON object a line")
    parser.add_argument("--keylog", type=Path, metavar="SSLKEYLOGFILE",
                        help="--pcap: decrypt TLS streams with these secrets (TLS 1.2 and 1.3)")
    parser.add_argument("--encode", metavar="JSON",
                        help="encode this JSON message instead (`-`: read it from stdin)")
    parser.add_argument("--fragment", action="store_true", default=None,
                        help="an EXI fragment (default: only for xmldsig)")
    parser.add_argument("hex", nargs="*",
                        help="the EXI stream or V2GTP frame in hex, spaces allowed "
                             "(none or `-`: read stdin)")
    parser.set_defaults(func=run)


def parse_hex(text: str) -> bytes:
    """Hex digits to bytes: whitespace anywhere and one leading `0x` are allowed."""
    digits = "".join(text.split())
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    if not digits:
        raise InputError("no hex digits given")
    for i, ch in enumerate(digits):
        if ch not in string.hexdigits:
            raise InputError(f"{ch!r} at position {i + 1} is not a hex digit")
    if len(digits) % 2:
        raise InputError(f"odd number of hex digits ({len(digits)}): a byte is two digits")
    return bytes.fromhex(digits)


def strip_v2gtp(data: bytes) -> bytes:
    """The EXI payload of a V2GTP frame, or `data` itself when it is not a frame.

    An EXI stream starts with 0x80 (or the `$EXI` cookie), a V2GTP header with a version
    byte and its inverse (0x01 0xFE), so the two cannot be mistaken for each other.
    """
    if len(data) < 2 or data[1] != data[0] ^ 0xFF:
        return data
    if data[0] != V2GTP_VERSION:
        raise InputError(f"V2GTP header: protocol version {data[0]:#04x}, expected 0x01")
    if len(data) < V2GTP_HEADER_LEN:
        raise InputError(f"V2GTP header cut short: {len(data)} of {V2GTP_HEADER_LEN} bytes")
    ptype = int.from_bytes(data[2:4], "big")
    if ptype in SDP_PAYLOAD_TYPES:
        raise InputError(f"V2GTP payload type {ptype:#06x} is SDP, not an EXI message")
    if ptype not in EXI_PAYLOAD_TYPES:
        raise InputError(f"V2GTP payload type {ptype:#06x} is not an EXI message (0x8001-0x8006)")
    length = int.from_bytes(data[4:8], "big")
    payload = data[V2GTP_HEADER_LEN:]
    if length != len(payload):
        raise InputError(f"V2GTP header says {length} payload bytes, the frame has {len(payload)}")
    return payload


_stdin_text: str | None = None


def _read_stdin() -> str:
    global _stdin_text
    if _stdin_text is None:
        _stdin_text = sys.stdin.read() if sys.stdin is not None else ""
    return _stdin_text


def _source(arg: str | None, what: str) -> str:
    """The text of an argument that may say `-` (or be absent) for stdin."""
    if arg is not None and arg != "-":
        return arg
    if sys.stdin is None or sys.stdin.isatty():
        raise InputError(f"give {what} as an argument, or pipe it in")
    return _read_stdin()


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (exi.ExiError, ValueError) as exc:  # ValueError: InputError, or a JSON value
        return _error(str(exc))                  # the codec cannot convert (bad hex in it)


def _run(args: argparse.Namespace) -> int:
    if args.pcap is not None:
        return _run_pcap(args)
    if args.keylog is not None:
        raise InputError("--keylog goes with --pcap")
    if args.ns is None:
        raise InputError("say the schema: --ns URN (or decode a capture with --pcap FILE)")
    hex_arg = "".join(args.hex) if args.hex else None
    if args.hex and "-" in args.hex and args.hex != ["-"]:
        raise InputError("`-` (read stdin) cannot be mixed with hex arguments")
    if args.encode is not None:
        if hex_arg is not None:
            raise InputError("give HEX to decode or --encode JSON, not both")
        try:
            obj = json.loads(_source(args.encode, "the JSON"))
        except ValueError as exc:
            raise InputError(f"--encode: not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise InputError("--encode: expected a JSON object with one root element")
        message = exi.from_json(args.ns, obj)
        print(exi.encode(message, args.ns, fragment=args.fragment).hex())
        return 0
    data = strip_v2gtp(parse_hex(_source(hex_arg, "HEX (or --encode JSON)")))
    print(json.dumps(exi.to_json(exi.decode(args.ns, data, fragment=args.fragment), args.ns)))
    return 0


def _run_pcap(args: argparse.Namespace) -> int:
    if args.hex or args.encode is not None or args.ns is not None:
        raise InputError("--pcap decodes a whole capture: no HEX, --encode or --ns with it")
    failed = False
    try:
        for record in capture.decode_capture(args.pcap, args.keylog):
            print(json.dumps(record), flush=True)
            failed = failed or "error" in record
    except (pcap.CaptureError, TlsError) as exc:
        raise InputError(str(exc)) from None
    except BrokenPipeError:
        raise  # the reader went away (`| head`): host/cli.py's quiet exit
    except OSError as exc:
        raise InputError(f"cannot read {exc.filename}: {exc.strerror}") from None
    return 1 if failed else 0  # it ran; some of it did not decode (the records say what)


def _error(text: str) -> int:
    print("v2gate decode: " + " ".join(text.split()), file=sys.stderr)
    return 2

