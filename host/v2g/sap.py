"""SupportedAppProtocol: the handshake that picks DIN 70121, ISO 15118-2 or ISO 15118-20
before any session (ISO 15118-2 §8.2.1, [V2G2-165]..[V2G2-168]; DIN SPEC 70121 §8.2;
ISO 15118-20 §8.2).

The EV lists up to 20 protocols, each with a namespace, major and minor version, a SchemaID
it chose and a Priority (1 highest). The SECC answers with the SchemaID of the one it picked:
- a protocol can be picked only if we offer its namespace with the same major version;
- OK_SuccessfulNegotiation when the minor versions match too,
  OK_SuccessfulNegotiationWithMinorDeviation when only the major one does (-2 §8.2.4.2
  "Minor Deviation": only for an actual deviation; EVerest answered it for every match
  once and an EV emulator choked on it, EVerest issue #1409),
  Failed_NoNegotiation (and no SchemaID) when nothing can be picked.
Among the candidates, ``prefer="ev"`` takes the EV's best Priority (our order breaks ties),
``prefer="secc"`` takes the first of our configured order (the EV's Priority breaks ties).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from host.exi import codec
from host.exi.runtime import ExiError
from host.exi.schemas import app_protocol as ap

from .errors import RemoteProtocolError

_M = TypeVar("_M")

NAMESPACE = "urn:iso:15118:2:2010:AppProtocol"
MAX_ENTRIES = 20  # [V2G2-167]
Code = ap.responseCodeType


@dataclass(frozen=True, slots=True)
class AppProtocol:
    """A protocol we offer: its namespace and the version we implement."""

    namespace: str
    major: int
    minor: int
    name: str


DIN = AppProtocol("urn:din:70121:2012:MsgDef", 2, 0, "din")
ISO2 = AppProtocol("urn:iso:15118:2:2013:MsgDef", 2, 0, "iso2")
# -20 names its protocol by the energy service's namespace (the iso15118 package's EVCC
# offers -20:DC, -20:AC ...); CommonMessages is what the brief and some EVs use.
ISO20 = AppProtocol("urn:iso:std:iso:15118:-20:CommonMessages", 1, 0, "iso20")
ISO20_AC = AppProtocol("urn:iso:std:iso:15118:-20:AC", 1, 0, "iso20-ac")
ISO20_DC = AppProtocol("urn:iso:std:iso:15118:-20:DC", 1, 0, "iso20-dc")
ISO20_WPT = AppProtocol("urn:iso:std:iso:15118:-20:WPT", 1, 0, "iso20-wpt")
ISO20_ACDP = AppProtocol("urn:iso:std:iso:15118:-20:ACDP", 1, 0, "iso20-acdp")
KNOWN = {p.name: p for p in (DIN, ISO2, ISO20, ISO20_AC, ISO20_DC, ISO20_WPT, ISO20_ACDP)}


@dataclass(frozen=True, slots=True)
class Negotiation:
    code: ap.responseCodeType
    schema_id: int | None
    chosen: AppProtocol | None
    ev_entry: ap.AppProtocolType | None

    @property
    def ok(self) -> bool:
        return self.chosen is not None

    def response(self) -> ap.supportedAppProtocolRes:
        return ap.supportedAppProtocolRes(ResponseCode=self.code, SchemaID=self.schema_id)


def negotiate(request: ap.supportedAppProtocolReq, offers: Sequence[AppProtocol],
              prefer: Literal["ev", "secc"] = "ev") -> Negotiation:  # fmt: skip
    """Pick a protocol for ``request`` among ``offers`` (our priority order)."""
    rank = {offer.namespace: i for i, offer in enumerate(offers)}
    candidates = []
    for entry in request.AppProtocol[:MAX_ENTRIES]:
        i = rank.get(entry.ProtocolNamespace)
        if i is not None and offers[i].major == entry.VersionNumberMajor:
            key = (entry.Priority, i) if prefer == "ev" else (i, entry.Priority)
            candidates.append((key, entry, offers[i]))
    if not candidates:
        return Negotiation(Code.Failed_NoNegotiation, None, None, None)
    _key, entry, offer = min(candidates, key=lambda item: item[0])
    code = (Code.OK_SuccessfulNegotiation if entry.VersionNumberMinor == offer.minor
            else Code.OK_SuccessfulNegotiationWithMinorDeviation)  # fmt: skip
    return Negotiation(code, entry.SchemaID, offer, entry)


def pull_request(payload: bytes) -> ap.supportedAppProtocolReq:
    """The EV's request from its EXI payload; RemoteProtocolError for anything else."""
    return _pull(payload, ap.supportedAppProtocolReq, "bad_sap_request")


def push_response(negotiation: Negotiation) -> bytes:
    return codec.encode(negotiation.response(), NAMESPACE)


def push_request(entries: Sequence[tuple[AppProtocol, int, int]]) -> bytes:
    """The EV side: ``entries`` of (protocol, SchemaID, Priority)."""
    return codec.encode(ap.supportedAppProtocolReq(AppProtocol=[
        ap.AppProtocolType(ProtocolNamespace=p.namespace, VersionNumberMajor=p.major,
                           VersionNumberMinor=p.minor, SchemaID=schema_id, Priority=priority)
        for p, schema_id, priority in entries
    ]), NAMESPACE)  # fmt: skip


def pull_response(payload: bytes) -> ap.supportedAppProtocolRes:
    return _pull(payload, ap.supportedAppProtocolRes, "bad_sap_response")


def _pull(payload: bytes, kind: type[_M], code: str) -> _M:
    try:
        message = codec.decode(NAMESPACE, payload)
    except (ExiError, ValueError, IndexError) as exc:
        raise RemoteProtocolError(f"{kind.__name__} does not decode: {exc}", code) from exc
    if not isinstance(message, kind):
        raise RemoteProtocolError(f"expected {kind.__name__}, got {type(message).__name__}", code)
    return message
