"""OCPP-J framing (OCPP 2.0.1 / 2.1 Part 4 §4): CALL, CALLRESULT, CALLERROR (and on 2.1
CALLRESULTERROR and SEND), with payloads checked against the official JSON schemas the
`ocpp` package ships (``ocpp.messages.get_validator``).

``parse_frame`` turns one websocket text message into a frame or raises ``RpcError``
carrying the CALLERROR to answer with: the code, and the MessageId when it could be read
("-1" when not, Part 4 §4.2.3).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cache

import ocpp.messages
from jsonschema.exceptions import ValidationError, best_match

CALL, CALLRESULT, CALLERROR, CALLRESULTERROR, SEND = 2, 3, 4, 5, 6
MAX_MESSAGE_ID = 36  # Part 4 §4.1.4: messageId is string[36]
UNKNOWN_ID = "-1"

SUBPROTOCOLS = ("ocpp2.1", "ocpp2.0.1")  # in order of preference, Part 4 §3.1.2
VERSION_OF = {"ocpp2.1": "2.1", "ocpp2.0.1": "2.0.1"}


class RpcError(Exception):
    """The peer sent something we answer with a CALLERROR (``code`` from Part 4 §4.3)."""

    def __init__(self, code: str, description: str, msg_id: str = UNKNOWN_ID,
                 kind: int | None = None) -> None:  # fmt: skip
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description[:255]  # ErrorDescription is string[255]
        self.msg_id = msg_id
        self.kind = kind  # the offending frame's MessageTypeId, when it could be read


@dataclass(frozen=True)
class Call:
    msg_id: str
    action: str
    payload: dict = field(hash=False)


@dataclass(frozen=True)
class CallResult:
    msg_id: str
    payload: dict = field(hash=False)


@dataclass(frozen=True)
class CallError:
    msg_id: str
    code: str
    description: str
    details: dict = field(hash=False)


@dataclass(frozen=True)
class CallResultError(CallError):
    """2.1: the peer could not process our CALLRESULT."""


@dataclass(frozen=True)
class Send(Call):
    """2.1: an unconfirmed message; never answered."""


Frame = Call | CallResult | CallError


_HEAD = re.compile(r'\s*\[\s*(\d)\s*,\s*"([^"\\]{1,36})"')


def peek_head(text: str) -> tuple[int | None, str]:
    """MessageTypeId and MessageId of a frame we refuse to parse (too large), if its head
    shows them."""
    m = _HEAD.match(text[:64])
    return (int(m.group(1)), m.group(2)) if m else (None, UNKNOWN_ID)


def parse_frame(data: str | bytes, version: str, *, max_size: int) -> Frame:
    if len(data) > max_size:
        text = data if isinstance(data, str) else data[:64].decode("utf-8", "replace")
        head_kind, head_id = peek_head(text)
        raise RpcError("RpcFrameworkError", f"frame of {len(data)} bytes exceeds {max_size}",
                       head_id, head_kind)  # fmt: skip
    try:
        msg = json.loads(data)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RpcError("RpcFrameworkError", "message is not valid JSON") from None
    if not isinstance(msg, list) or not msg or type(msg[0]) is not int:
        raise RpcError("RpcFrameworkError", "message is not an array starting with a MessageTypeId")
    kind = msg[0]
    msg_id = msg[1] if len(msg) > 1 else None
    if not isinstance(msg_id, str) or not 0 < len(msg_id) <= MAX_MESSAGE_ID:
        raise RpcError("RpcFrameworkError", "MessageId is not a string of 1-36 characters")
    known = (CALL, CALLRESULT, CALLERROR) + ((CALLRESULTERROR, SEND) if version == "2.1" else ())
    if kind not in known:
        raise RpcError("MessageTypeNotSupported", f"MessageTypeId {kind} is not supported", msg_id)
    if kind in (CALL, SEND):
        if len(msg) != 4 or not isinstance(msg[2], str):
            raise RpcError("RpcFrameworkError", "a CALL is [2, MessageId, Action, Payload]", msg_id)
        if not isinstance(msg[3], dict):
            raise RpcError("FormatViolation", "payload is not a JSON object", msg_id)
        return (Call if kind == CALL else Send)(msg_id, msg[2], msg[3])
    if kind == CALLRESULT:
        if len(msg) != 3 or not isinstance(msg[2], dict):
            raise RpcError("RpcFrameworkError", "a CALLRESULT is [3, MessageId, Payload]", msg_id,
                           kind)  # fmt: skip
        return CallResult(msg_id, msg[2])
    if len(msg) != 5 or not isinstance(msg[2], str) or not isinstance(msg[3], str) \
            or not isinstance(msg[4], dict):  # fmt: skip
        raise RpcError("RpcFrameworkError", "a CALLERROR is [4, MessageId, Code, Text, {}]", msg_id,
                       kind)  # fmt: skip
    return (CallError if kind == CALLERROR else CallResultError)(msg_id, msg[2], msg[3], msg[4])


def _dump(obj: list) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def push_call(msg_id: str, action: str, payload: dict) -> str:
    return _dump([CALL, msg_id, action, payload])


def push_result(msg_id: str, payload: dict) -> str:
    return _dump([CALLRESULT, msg_id, payload])


def push_error(msg_id: str, code: str, description: str, details: dict | None = None,
               *, kind: int = CALLERROR) -> str:  # fmt: skip
    return _dump([kind, msg_id, code, description[:255], details or {}])


# --- schemas ---------------------------------------------------------------------------


@cache
def known_actions(version: str) -> frozenset[str]:
    """Every action the version defines (it has a Request schema)."""
    folder = os.path.join(os.path.dirname(ocpp.messages.__file__), "v" + version.replace(".", ""),
                          "schemas")  # fmt: skip
    return frozenset(n[: -len("Request.json")] for n in os.listdir(folder)
                     if n.endswith("Request.json"))  # fmt: skip


# which CALLERROR a schema violation earns (Part 4 §4.3, Table 9)
_SCHEMA_CODES = {
    "type": "TypeConstraintViolation",
    "maxLength": "TypeConstraintViolation",  # string[n] is part of the data type
    "minLength": "TypeConstraintViolation",
    "required": "OccurrenceConstraintViolation",
    "minItems": "OccurrenceConstraintViolation",
    "maxItems": "OccurrenceConstraintViolation",
    "additionalProperties": "FormatViolation",
    "enum": "PropertyConstraintViolation",
    "minimum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
    "exclusiveMinimum": "PropertyConstraintViolation",
    "exclusiveMaximum": "PropertyConstraintViolation",
    "pattern": "PropertyConstraintViolation",
    "format": "PropertyConstraintViolation",
    "multipleOf": "PropertyConstraintViolation",
}


def schema_error(kind: int, action: str, payload: dict, version: str) -> tuple[str, str] | None:
    """(code, description) for the first schema violation of a payload, None if valid.
    ``kind`` is CALL for a request, CALLRESULT for a response."""
    validator = ocpp.messages.get_validator(kind, action, version)
    error: ValidationError | None = best_match(validator.iter_errors(payload))
    if error is None:
        return None
    code = _SCHEMA_CODES.get(str(error.validator), "FormatViolation")
    where = "/".join(str(p) for p in error.absolute_path) or "payload"
    return code, f"{where}: {error.message}"
