"""OCMF signed meter values: parse, verify, sign (for the simulator), hand to OCPP.

Open Charge Metering Format (S.A.F.E. e.V., OCMF 1.x): a record is
`OCMF|{payload JSON}|{signature JSON}`. The signature covers the payload's bytes exactly
as they stand between the two separators, so we keep that text and never re-serialise it.

Payload fields used here: FV format version, GI/GS gateway id and serial, PG pagination
("T" transaction / "F" fiscal, then a counter), MV meter vendor, MS meter serial, and RD,
the readings, each with TM time ("2018-07-24T13:22:04,000+0200 S": the last letter is the
clock's sync state), TX transaction point (B begin, C charging, E end, ...), RV value,
RI OBIS id ("1-b:1.8.0" import / "1-b:2.8.0" export active energy), RU unit, ST status
("G" good). Signature fields: SA algorithm, SE encoding ("hex", the default, or
"base64"), SM MIME type (only "application/x-der": an ASN.1 DER ECDSA signature),
SD the signature.

We require SA rather than assume a default: a billing record whose algorithm we would
have to guess is one we should not vouch for.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

HEADER = "OCMF"
ENCODING_METHOD = "OCMF"       # OCPP 2.0.1 SignedMeterValueType.encodingMethod
OCPP_MAX_LEN = 2500            # OCPP 2.0.1 signedMeterData / publicKey maxLength

# OCMF SA values cryptography can check. ECDSA-secp192k1-SHA256 is in the spec too but
# OpenSSL has no secp192k1: such a record is refused as unsupported, not as forged.
CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ECDSA-secp256r1-SHA256": ec.SECP256R1,
    "ECDSA-secp384r1-SHA256": ec.SECP384R1,
    "ECDSA-secp256k1-SHA256": ec.SECP256K1,
    "ECDSA-brainpool256r1-SHA256": ec.BrainpoolP256R1,
    "ECDSA-secp192r1-SHA256": ec.SECP192R1,
}
KNOWN_UNSUPPORTED = {"ECDSA-secp192k1-SHA256"}

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d{3}[+-]\d{4} [UISR]$")
OBIS_RE = re.compile(r"^\d+-\w+:(\d+)\.(\d+)\.(\d+)")
UNITS_WH = {"kWh": 1000.0, "Wh": 1.0}


class OcmfError(ValueError):
    """A record we refuse: malformed, unsupported, forged, or not matching the meter."""


@dataclass(frozen=True)
class OcmfReading:
    tm: str
    tx: str | None
    rv: float
    ri: str | None
    ru: str
    st: str

    @property
    def kind(self) -> str | None:
        """"import" or "export" active energy, by the OBIS id; None for anything else."""
        m = OBIS_RE.match(self.ri or "")
        if not m or m.group(2) != "8":
            return None
        return {"1": "import", "2": "export"}.get(m.group(1))

    @property
    def wh(self) -> float | None:
        scale = UNITS_WH.get(self.ru)
        return None if scale is None else self.rv * scale


@dataclass(frozen=True)
class OcmfRecord:
    text: str               # the whole record, as received
    payload_text: str       # the signed bytes
    payload: dict[str, Any]
    signature: dict[str, Any]
    readings: tuple[OcmfReading, ...]

    @property
    def algorithm(self) -> str:
        return str(self.signature["SA"])

    @property
    def meter_serial(self) -> str:
        return str(self.payload["MS"])


def parse(text: str) -> OcmfRecord:
    """Split and check the shape of an OCMF record (no signature check)."""
    if not text.startswith(HEADER + "|"):
        raise OcmfError("not an OCMF record (no 'OCMF|' header)")
    rest = text[len(HEADER) + 1:]
    decoder = json.JSONDecoder()
    try:
        payload, end = decoder.raw_decode(rest)
    except json.JSONDecodeError as e:
        raise OcmfError(f"payload is not JSON: {e.msg}") from None
    if rest[end:end + 1] != "|":
        raise OcmfError("no '|' between payload and signature")
    try:
        signature, sig_end = decoder.raw_decode(rest, end + 1)
    except json.JSONDecodeError as e:
        raise OcmfError(f"signature is not JSON: {e.msg}") from None
    if rest[sig_end:].strip():
        raise OcmfError("trailing data after the signature")
    if not isinstance(payload, dict) or not isinstance(signature, dict):
        raise OcmfError("payload and signature must be JSON objects")
    for key in ("PG", "MS", "RD"):
        if key not in payload:
            raise OcmfError(f"payload lacks {key}")
    for key in ("FV", "GI", "GS", "PG", "MV", "MS"):
        if key in payload and not isinstance(payload[key], str):
            raise OcmfError(f"payload {key} must be a string")
    if not isinstance(payload["RD"], list) or not payload["RD"]:
        raise OcmfError("RD must be a non-empty list of readings")
    readings = tuple(_reading(i, rd) for i, rd in enumerate(payload["RD"]))
    if "SA" not in signature:
        raise OcmfError("signature lacks SA")
    if not isinstance(signature.get("SD"), str):
        raise OcmfError("signature lacks SD")
    return OcmfRecord(text, rest[:end], payload, signature, readings)


def _reading(i: int, rd: Any) -> OcmfReading:
    if not isinstance(rd, dict):
        raise OcmfError(f"RD[{i}] is not an object")
    for key in ("TM", "RV", "RU", "ST"):
        if key not in rd:
            raise OcmfError(f"RD[{i}] lacks {key}")
    if not isinstance(rd["TM"], str) or not TIME_RE.match(rd["TM"]):
        raise OcmfError(f"RD[{i}].TM is not an OCMF time: {rd['TM']!r}")
    rv = rd["RV"]
    if isinstance(rv, bool) or not isinstance(rv, int | float):
        raise OcmfError(f"RD[{i}].RV is not a number")
    for key in ("TX", "RI", "RU", "ST"):
        if key in rd and not isinstance(rd[key], str):
            raise OcmfError(f"RD[{i}].{key} must be a string")
    return OcmfReading(rd["TM"], rd.get("TX"), float(rv), rd.get("RI"), rd["RU"], rd["ST"])


def load_public_key(data: bytes | str) -> ec.EllipticCurvePublicKey:
    """A meter's public key as PEM, DER (SubjectPublicKeyInfo) or the hex of the DER,
    which is how signing meters print it on their label and in their OCMF tools."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(raw)
        else:
            try:
                der = binascii.unhexlify(raw.strip())
            except (binascii.Error, ValueError):
                der = raw
            key = serialization.load_der_public_key(der)
    except ValueError as e:
        raise OcmfError(f"not a public key: {e}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise OcmfError("not an elliptic-curve public key")
    return key


def _signature_bytes(signature: dict[str, Any]) -> bytes:
    se = signature.get("SE", "hex")
    sm = signature.get("SM", "application/x-der")
    if sm != "application/x-der":
        raise OcmfError(f"unsupported signature MIME type {sm!r}")
    try:
        if se == "hex":
            return binascii.unhexlify(signature["SD"])
        if se == "base64":
            return base64.b64decode(signature["SD"], validate=True)
    except (binascii.Error, ValueError):
        raise OcmfError(f"SD is not valid {se}") from None
    raise OcmfError(f"unsupported signature encoding {se!r}")


def verify(record: OcmfRecord, key: ec.EllipticCurvePublicKey) -> None:
    """Raise OcmfError unless `key` signed the record's payload with its SA."""
    sa = record.algorithm
    curve = CURVES.get(sa)
    if curve is None:
        what = "unsupported" if sa in KNOWN_UNSUPPORTED else "unknown"
        raise OcmfError(f"{what} signature algorithm {sa!r}")
    if not isinstance(key.curve, curve):
        raise OcmfError(f"key is on {key.curve.name}, record says {sa}")
    try:
        key.verify(_signature_bytes(record.signature), record.payload_text.encode(),
                   ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise OcmfError("bad signature") from None


def sign(payload: dict[str, Any], key: ec.EllipticCurvePrivateKey, sa: str,
         se: str = "hex") -> str:
    """A record signed by `key` (the simulated meter's side)."""
    curve = CURVES.get(sa)
    if curve is None or not isinstance(key.curve, curve):
        raise OcmfError(f"cannot sign {sa} with a {key.curve.name} key")
    text = json.dumps(payload, separators=(",", ":"))
    der = key.sign(text.encode(), ec.ECDSA(hashes.SHA256()))
    sd = der.hex().upper() if se == "hex" else base64.b64encode(der).decode()
    sig = json.dumps({"SA": sa, "SE": se, "SM": "application/x-der", "SD": sd},
                     separators=(",", ":"))
    return f"{HEADER}|{text}|{sig}"


def public_key_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def signed_meter_value(record: OcmfRecord, key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """OCPP 2.0.1 SignedMeterValueType for a verified record: the whole OCMF text
    base64-encoded (it carries its own signature), the SA as signingMethod, and the
    meter's key as base64 of its DER SubjectPublicKeyInfo."""
    smv = {
        "signedMeterData": base64.b64encode(record.text.encode()).decode(),
        "signingMethod": record.algorithm,
        "encodingMethod": ENCODING_METHOD,
        "publicKey": base64.b64encode(public_key_der(key)).decode(),
    }
    for name in ("signedMeterData", "publicKey"):
        if len(smv[name]) > OCPP_MAX_LEN:
            raise OcmfError(f"{name} is {len(smv[name])} characters, OCPP allows "
                            f"{OCPP_MAX_LEN}")
    return smv


def mismatch(record: OcmfRecord, registers_wh: dict[str, float], slack_wh: float,
             tolerance_wh: float) -> str | None:
    """Why the record's energy readings disagree with the registers, or None.

    `registers_wh` holds the import/export registers read just before the record;
    the meter may have counted on for up to `slack_wh` (rated power times the time
    between the two reads) and both sides round to `tolerance_wh`."""
    checked = 0
    for rd in record.readings:
        if rd.kind is None:
            continue
        if rd.st != "G":
            return f"{rd.kind} reading has status {rd.st!r}, not good"
        wh = rd.wh
        if wh is None:
            return f"{rd.kind} reading in unknown unit {rd.ru!r}"
        reg = registers_wh.get(rd.kind)
        if reg is None:
            continue
        if not reg - tolerance_wh <= wh <= reg + slack_wh + tolerance_wh:
            return (f"signed {rd.kind} {wh:.0f} Wh does not match the register's "
                    f"{reg:.0f} Wh")
        checked += 1
    if not checked:
        return "no import/export energy reading to check against the registers"
    return None
