"""Line-oriented bridge to the reference EXI codec (runs inside the peer virtualenv).

Reads one JSON request per line on stdin, answers one JSON line on stdout:
  {"op": "encode", "ns": URN, "json": "<message JSON>"} -> {"hex": "..."} | {"error": "..."}
  {"op": "decode", "ns": URN, "hex": "..."}            -> {"json": "..."} | {"error": "..."}
  {"op": "bench", "ns": URN, "json": ..., "n": N}      -> {"encode_us": [...], "decode_us": [...]}
It calls the jar exactly as the `iso15118` package does (its ExificientEXICodec over py4j),
so the benchmark measures what that package pays per message. This file must not import
anything from v2gate: it runs under the peer's interpreter with the peer's pins.
"""

import json
import sys
import time


def main() -> int:
    from iso15118.shared.exificient_exi_codec import ExificientEXICodec

    codec = ExificientEXICodec()
    out = sys.stdout
    out.write(json.dumps({"ready": codec.get_version()}) + "\n")
    out.flush()
    for line in sys.stdin:
        req = json.loads(line)
        try:
            reply = handle(codec, req)
        except Exception as exc:  # the peer reports any failure as text; we compare it
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    return 0


def handle(codec, req: dict) -> dict:
    op, ns = req["op"], req["ns"]
    if op == "encode":
        return {"hex": bytes(codec.encode(req["json"], ns)).hex()}
    if op == "decode":
        return {"json": codec.decode(bytes.fromhex(req["hex"]), ns)}
    if op == "bench":
        enc, dec = [], []
        exi = bytes(codec.encode(req["json"], ns))
        for _ in range(int(req["n"])):
            t0 = time.perf_counter()
            exi = bytes(codec.encode(req["json"], ns))
            t1 = time.perf_counter()
            codec.decode(exi, ns)
            t2 = time.perf_counter()
            enc.append((t1 - t0) * 1e6)
            dec.append((t2 - t1) * 1e6)
        return {"encode_us": enc, "decode_us": dec}
    return {"error": f"unknown op {op!r}"}


if __name__ == "__main__":
    sys.exit(main())
