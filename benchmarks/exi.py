"""EXI encode/decode: our generated codec vs the reference jar, the way `iso15118` calls it.

    .venv/bin/python benchmarks/exi.py [--n 3000] [--jar-n 300] [--quick]

Prints p50/p99 in microseconds per message and direction, and jar/ours ratios. The jar is
timed inside the peer virtualenv through py4j (ExificientEXICodec.encode/decode with a JSON
string), which is what the `iso15118` package pays per message; ours is encode(message) and
decode(namespace, bytes) on typed messages. Not a pass/fail test: numbers depend on the host.
--quick (CI, so that the script keeps working): 200 iterations of ours, 3 of the jar
(its figures are then rough), and no jar at all without Java, saying so.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from host import exi  # noqa: E402

ISO2 = "urn:iso:15118:2:2013:MsgDef"
DIN = "urn:din:70121:2012:MsgDef"
DC20 = "urn:iso:std:iso:15118:-20:DC"
AC20 = "urn:iso:std:iso:15118:-20:AC"
DSIG = "http://www.w3.org/2000/09/xmldsig#"
HEADER20 = {"SessionID": "0102030405060708", "TimeStamp": 1700000000}


def rn(value: int, exponent: int = 0) -> dict:
    return {"Exponent": exponent, "Value": value}


def pv(value: int, unit: str, multiplier: int = 0) -> dict:
    return {"Multiplier": multiplier, "Unit": unit, "Value": value}


CASES: list[tuple[str, str, dict | bytes]] = [
    ("SessionSetupReq (ISO-2)", ISO2, {"V2G_Message": {
        "Header": {"SessionID": "00"},
        "Body": {"SessionSetupReq": {"EVCCID": "0A0B0C0D0E0F"}}}}),
    ("ChargeParameterDiscoveryRes (ISO-2, SAScheduleList)", ISO2, {"V2G_Message": {
        "Header": {"SessionID": "0102030405060708"},
        "Body": {"ChargeParameterDiscoveryRes": {
            "ResponseCode": "OK", "EVSEProcessing": "Finished",
            "SAScheduleList": {"SAScheduleTuple": [{
                "SAScheduleTupleID": 1,
                "PMaxSchedule": {"PMaxScheduleEntry": [
                    {"RelativeTimeInterval": {"start": 0}, "PMax": pv(50, "W", 3)},
                    {"RelativeTimeInterval": {"start": 3600}, "PMax": pv(22, "W", 3)},
                    {"RelativeTimeInterval": {"start": 7200, "duration": 79200},
                     "PMax": pv(11, "W", 3)}]}}]},
            "DC_EVSEChargeParameter": {
                "DC_EVSEStatus": {"NotificationMaxDelay": 0, "EVSENotification": "None",
                                  "EVSEIsolationStatus": "Valid",
                                  "EVSEStatusCode": "EVSE_Ready"},
                "EVSEMaximumCurrentLimit": pv(200, "A"),
                "EVSEMaximumPowerLimit": pv(50, "W", 3),
                "EVSEMaximumVoltageLimit": pv(500, "V"),
                "EVSEMinimumCurrentLimit": pv(1, "A"),
                "EVSEMinimumVoltageLimit": pv(150, "V"),
                "EVSEPeakCurrentRipple": pv(5, "A")}}}}}),
    # a Polestar 2 / Model Y frame from vectors/din_real_cars.txt
    ("CurrentDemandReq (DIN, real car)", DIN, bytes.fromhex(
        "809a02004080c1014181c210d100000ba0406014010285010004061a01e04070c84c0400c081e00604"
        "000040a1503c00")),
    ("DC_ChargeLoopReq (ISO-20 BPT)", DC20, {"DC_ChargeLoopReq": {
        "Header": HEADER20, "MeterInfoRequested": False, "EVPresentVoltage": rn(400),
        "BPT_Scheduled_DC_CLReqControlMode": {
            "EVTargetCurrent": rn(-50), "EVTargetVoltage": rn(400),
            "EVMaximumChargePower": rn(50, 3), "EVMaximumDischargePower": rn(11, 3)}}}),
    ("DC_ChargeLoopRes (ISO-20 BPT)", DC20, {"DC_ChargeLoopRes": {
        "Header": HEADER20, "ResponseCode": "OK",
        "EVSEPresentCurrent": rn(-50), "EVSEPresentVoltage": rn(400),
        "EVSEPowerLimitAchieved": False, "EVSECurrentLimitAchieved": False,
        "EVSEVoltageLimitAchieved": False,
        "BPT_Scheduled_DC_CLResControlMode": {
            "EVSEMaximumChargePower": rn(50, 3), "EVSEMaximumDischargePower": rn(11, 3)}}}),
    ("AC_ChargeLoopRes (ISO-20)", AC20, {"AC_ChargeLoopRes": {
        "Header": HEADER20, "ResponseCode": "OK", "EVSETargetFrequency": rn(50),
        "Scheduled_AC_CLResControlMode": {
            "EVSETargetActivePower": rn(11, 3), "EVSEPresentActivePower": rn(10, 3)}}}),
    ("SignedInfo (xmldsig fragment)", DSIG, {"SignedInfo": {
        "CanonicalizationMethod": {"Algorithm": "http://www.w3.org/TR/canonical-exi/"},
        "SignatureMethod": {"Algorithm": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"},
        "Reference": [{"URI": "#id1",
                       "Transforms": {"Transform": [
                           {"Algorithm": "http://www.w3.org/TR/canonical-exi/"}]},
                       "DigestMethod": {"Algorithm": "http://www.w3.org/2001/04/xmlenc#sha256"},
                       "DigestValue": "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs="}]}}),
]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def time_ours(ns: str, message: object, n: int) -> tuple[list[float], list[float], bytes]:
    data = exi.encode(message, ns)
    fragment = exi.schema_module(ns).FRAGMENT_DEFAULT or None
    enc, dec = [], []
    clock = time.perf_counter
    for _ in range(n):
        t0 = clock()
        data = exi.encode(message, ns)
        t1 = clock()
        exi.decode(ns, data, fragment=fragment)
        t2 = clock()
        enc.append((t1 - t0) * 1e6)
        dec.append((t2 - t1) * 1e6)
    return enc, dec, data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="iterations for our codec")
    parser.add_argument("--jar-n", type=int, default=300, help="iterations for the jar")
    parser.add_argument("--quick", action="store_true", help="--n 200 --jar-n 3 (CI)")
    args = parser.parse_args()
    if args.quick:
        args.n, args.jar_n = 200, 3

    jar = None
    if shutil.which("java"):
        from tools.exi_peer.venv import JarPeer

        jar = JarPeer()
    else:
        print("no Java here: the reference jar is skipped, its columns stay empty")

    head = f"{'message':52} {'bytes':>5} {'':4} {'ours p50':>9} {'p99':>7} " \
           f"{'jar p50':>9} {'p99':>8} {'ratio p50':>9}"
    print(head)
    print("-" * len(head))
    for label, ns, source in CASES:
        message = exi.decode(ns, source) if isinstance(source, bytes) else \
            exi.from_json(ns, source)
        enc, dec, data = time_ours(ns, message, args.n)
        jar_times = None
        if jar is not None:
            reply = jar.batch([{"op": "bench", "ns": ns, "n": args.jar_n,
                                "json": json.dumps(exi.to_json(message, ns))}])[0]
            if "error" in reply:
                print(f"{label}: jar error {reply['error'][:100]}")
            else:
                jar_times = (reply["encode_us"], reply["decode_us"])
        for i, (direction, ours) in enumerate((("enc", enc), ("dec", dec))):
            o50, o99 = percentiles(ours)
            row = f"{label if i == 0 else '':52} {len(data) if i == 0 else '':>5} " \
                  f"{direction:4} {o50:9.1f} {o99:7.1f}"
            if jar_times is not None:
                j50, j99 = percentiles(jar_times[i])
                row += f" {j50:9.1f} {j99:8.1f} {j50 / o50:8.0f}x"
            print(row)
    if jar is not None:
        jar.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
