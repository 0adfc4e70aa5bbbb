"""The MQTT topic tree and the JSON payloads of the fleet tier (schema version 1).

    v2g/<feeder>/<charger>/telemetry   charger -> fog    QoS 1, one record per period
    v2g/<feeder>/<charger>/setpoint    fog -> charger    QoS 1, a power setpoint with expiry
    v2g/<feeder>/<charger>/ack         fog -> charger    QoS 1, the telemetry numbers it got
    v2g/<feeder>/<charger>/state       charger, retained "online" / "offline" (will message)
    v2g/dr/<feeder>                    DERMS -> fog      QoS 1, a demand-response event
    v2g/fog/<fog>/aggregate            fog -> DERMS      QoS 0, per-feeder aggregate

Power is in watts, positive into the EV (charge) and negative out of it (discharge), as
everywhere in v2gate. Times are Unix seconds (float). Every payload carries "v": 1.
A payload that does not parse or breaks a rule raises `PayloadError` naming the field;
the receiver counts it and drops it, it never ends the receiver.

Identifiers become topic levels, so they may not contain "/", "+", "#" or be empty.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

SCHEMA = 1
MAX_ACK_RANGES = 10000  # per acknowledgement: the fog splits a longer list
MAX_SEQ = 2**63 - 1  # the largest number the outbox (SQLite INTEGER) can hold
ROOT = "v2g"


class PayloadError(ValueError):
    pass


def check_id(kind: str, value: str) -> str:
    if not value or any(c in value for c in "/+#") or len(value) > 64:
        raise PayloadError(f"{kind} {value!r}: 1-64 characters, none of / + #")
    return value


def telemetry_topic(feeder: str, charger: str) -> str:
    return f"{ROOT}/{check_id('feeder', feeder)}/{check_id('charger', charger)}/telemetry"


def setpoint_topic(feeder: str, charger: str) -> str:
    return f"{ROOT}/{check_id('feeder', feeder)}/{check_id('charger', charger)}/setpoint"


def state_topic(feeder: str, charger: str) -> str:
    return f"{ROOT}/{check_id('feeder', feeder)}/{check_id('charger', charger)}/state"


def ack_topic(feeder: str, charger: str) -> str:
    return f"{ROOT}/{check_id('feeder', feeder)}/{check_id('charger', charger)}/ack"


def dr_topic(feeder: str) -> str:
    return f"{ROOT}/dr/{check_id('feeder', feeder)}"


def aggregate_topic(fog: str) -> str:
    return f"{ROOT}/fog/{check_id('fog', fog)}/aggregate"


# what a fog subscribes to: every charger's telemetry; "$share/<group>/" in front splits
# the chargers between the fog processes of one group (MQTT 5 shared subscriptions,
# which mosquitto also honours on 3.1.1 sessions)
ALL_TELEMETRY = f"{ROOT}/+/+/telemetry"
ALL_DR = f"{ROOT}/dr/+"


def shared(group: str, topic: str) -> str:
    return f"$share/{check_id('group', group)}/{topic}"


@dataclass(frozen=True)
class Telemetry:
    charger: str
    feeder: str
    seq: int  # per charger, from 1, never reused (the store-and-forward queue's number)
    ts: float
    power_w: float  # present power at the meter
    max_charge_w: float  # what the charger could take now (EV plugged, limits applied)
    max_discharge_w: float  # what it could give now (>= 0; 0 when no V2G)
    soc: float | None = None  # 0..1 when the EV reports it
    energy_import_wh: float | None = None
    energy_export_wh: float | None = None
    grid_hz: float | None = None
    grid_v: float | None = None
    cp_state: str | None = None
    faults: tuple[str, ...] = ()

    def encode(self) -> bytes:
        body = asdict(self)
        body["faults"] = list(self.faults)
        return json.dumps({"v": SCHEMA, **body}, separators=(",", ":")).encode()


KINDS = ("target", "limit")


@dataclass(frozen=True)
class Setpoint:
    charger: str
    event: str  # the DR event it serves, or "limit" for the feeder limit alone
    kind: str  # "target": follow setpoint_w (a DR event); "limit": stay at or below it
    setpoint_w: float  # signed watts, until `expires`
    issued: float
    expires: float

    def encode(self) -> bytes:
        return json.dumps({"v": SCHEMA, **asdict(self)}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class DrEvent:
    id: str
    feeder: str
    target_w: float  # the feeder's aggregate: < 0 export (discharge), > 0 import
    start: float
    duration_s: float

    @property
    def end(self) -> float:
        return self.start + self.duration_s

    def encode(self) -> bytes:
        return json.dumps({"v": SCHEMA, **asdict(self)}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Ack:
    """Telemetry the fog received: inclusive ranges of seq, so the charger may delete them."""

    charger: str
    ranges: tuple[tuple[int, int], ...]

    def encode(self) -> bytes:
        body = {"v": SCHEMA, "charger": self.charger, "ranges": [list(r) for r in self.ranges]}
        return json.dumps(body, separators=(",", ":")).encode()


def ranges_of(numbers: list[int]) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for n in sorted(set(numbers)):
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return tuple(out)


def _object(data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # too deep: RecursionError
        raise PayloadError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise PayloadError("not a JSON object")
    if body.get("v") != SCHEMA:
        raise PayloadError(f"v: {body.get('v')!r}, this reader knows schema {SCHEMA}")
    return body


def _num(body: dict[str, Any], key: str, *, optional: bool = False,
         low: float = -math.inf, high: float = math.inf) -> Any:
    value = body.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PayloadError(f"{key}: {value!r} is not a finite number")
    try:  # a JSON integer of hundreds of digits is a Python int no float holds
        finite = math.isfinite(value)
    except OverflowError:
        finite = False
    if not finite:
        raise PayloadError(f"{key}: a number too large or not finite")
    if not low <= value <= high:
        raise PayloadError(f"{key}: {value} outside {low}..{high}")
    return value


def _text(body: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{key}: {value!r} is not a string")
    return value


def decode_telemetry(data: bytes) -> Telemetry:
    b = _object(data)
    faults = b.get("faults", [])
    if not isinstance(faults, list) or not all(isinstance(f, str) for f in faults):
        raise PayloadError("faults: not a list of strings")
    seq = _num(b, "seq", low=1, high=MAX_SEQ)
    if not isinstance(seq, int):
        raise PayloadError(f"seq: {seq!r} is not an integer")
    return Telemetry(
        charger=check_id("charger", _text(b, "charger")),
        feeder=check_id("feeder", _text(b, "feeder")),
        seq=seq, ts=_num(b, "ts", low=0), power_w=_num(b, "power_w"),
        max_charge_w=_num(b, "max_charge_w", low=0), max_discharge_w=_num(b, "max_discharge_w", low=0),
        soc=_num(b, "soc", optional=True, low=0, high=1),
        energy_import_wh=_num(b, "energy_import_wh", optional=True, low=0),
        energy_export_wh=_num(b, "energy_export_wh", optional=True, low=0),
        grid_hz=_num(b, "grid_hz", optional=True, low=0),
        grid_v=_num(b, "grid_v", optional=True, low=0),
        cp_state=_text(b, "cp_state", optional=True), faults=tuple(faults),
    )  # fmt: skip


def decode_setpoint(data: bytes) -> Setpoint:
    b = _object(data)
    kind = _text(b, "kind")
    if kind not in KINDS:
        raise PayloadError(f"kind: {kind!r}, not one of {', '.join(KINDS)}")
    sp = Setpoint(charger=check_id("charger", _text(b, "charger")), event=_text(b, "event"),
                  kind=kind, setpoint_w=_num(b, "setpoint_w"), issued=_num(b, "issued", low=0),
                  expires=_num(b, "expires", low=0))  # fmt: skip
    if sp.expires < sp.issued:
        raise PayloadError("expires before issued")
    return sp


def decode_dr(data: bytes) -> DrEvent:
    b = _object(data)
    return DrEvent(id=check_id("id", _text(b, "id")), feeder=check_id("feeder", _text(b, "feeder")),
                   target_w=_num(b, "target_w"), start=_num(b, "start", low=0),
                   duration_s=_num(b, "duration_s", low=0, high=7 * 86400))  # fmt: skip


def decode_ack(data: bytes) -> Ack:
    b = _object(data)
    raw = b.get("ranges")
    if not isinstance(raw, list) or len(raw) > MAX_ACK_RANGES:
        raise PayloadError(f"ranges: not a list of at most {MAX_ACK_RANGES} [first, last] pairs")
    spans = []
    for pair in raw:
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in pair)
                or not 1 <= pair[0] <= pair[1] <= MAX_SEQ):  # fmt: skip
            raise PayloadError(f"ranges: {pair!r} is not [first, last] with "
                               f"1 <= first <= last <= {MAX_SEQ}")
        spans.append((pair[0], pair[1]))
    return Ack(check_id("charger", _text(b, "charger")), tuple(spans))
