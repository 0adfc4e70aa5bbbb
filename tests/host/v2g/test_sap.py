"""SupportedAppProtocol negotiation (ISO 15118-2 §8.2.1) and its EXI, golden both ways.

Golden bytes: the DIN-only request is FACTS.md's; the others were made by the reference
codec (the iso15118 package's EXICodec.jar, 0.31.2) from the JSON in each comment.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.exi import codec
from host.exi.schemas import app_protocol as ap
from host.v2g import sap
from host.v2g.errors import RemoteProtocolError
from host.v2g.sap import DIN, ISO2, ISO20, ISO20_DC, AppProtocol, Code, negotiate

# FACTS.md: DIN 2.0 only, SchemaID 1, Priority 1
REQ_DIN = bytes.fromhex("8000dbab9371d3234b71d1b981899189d191818991d26b9b3a232b30020000040040")
# reference codec: [ISO2 2.0 SchemaID 1 Priority 1, DIN 2.0 SchemaID 2 Priority 2]
REQ_ISO2_DIN = bytes.fromhex(
    "8000ebab9371d34b9b79d189a98989c1d191d191818999d26b9b3a232b30020000040001b75726e3a64696e"
    "3a37303132313a323031323a4d73674465660040000100880")
# reference codec: {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 1}
RES_OK_1 = bytes.fromhex("80400040")
# reference codec: {"ResponseCode": "OK_SuccessfulNegotiationWithMinorDeviation", "SchemaID": 3}
RES_MINOR_3 = bytes.fromhex("804400c0")
# ours, no SchemaID (the reference codec decodes it as Failed_NoNegotiation; given JSON
# without SchemaID it writes SchemaID 0 instead: 80480000, which we decode as well)
RES_FAILED = bytes.fromhex("804880")


def _entry(p: AppProtocol, schema_id: int, priority: int, major: int | None = None,
           minor: int | None = None) -> ap.AppProtocolType:  # fmt: skip
    return ap.AppProtocolType(ProtocolNamespace=p.namespace,
                              VersionNumberMajor=p.major if major is None else major,
                              VersionNumberMinor=p.minor if minor is None else minor,
                              SchemaID=schema_id, Priority=priority)  # fmt: skip


def _req(*entries: ap.AppProtocolType) -> ap.supportedAppProtocolReq:
    return ap.supportedAppProtocolReq(AppProtocol=list(entries))


def test_request_golden_both_ways() -> None:
    assert sap.pull_request(REQ_DIN) == _req(_entry(DIN, 1, 1))
    assert sap.push_request([(DIN, 1, 1)]) == REQ_DIN
    assert sap.pull_request(REQ_ISO2_DIN) == _req(_entry(ISO2, 1, 1), _entry(DIN, 2, 2))
    assert sap.push_request([(ISO2, 1, 1), (DIN, 2, 2)]) == REQ_ISO2_DIN


@pytest.mark.parametrize(("code", "schema_id", "data"), [
    (Code.OK_SuccessfulNegotiation, 1, RES_OK_1),
    (Code.OK_SuccessfulNegotiationWithMinorDeviation, 3, RES_MINOR_3),
    (Code.Failed_NoNegotiation, None, RES_FAILED),
])  # fmt: skip
def test_response_golden_both_ways(code: ap.responseCodeType, schema_id: int | None,
                                   data: bytes) -> None:  # fmt: skip
    chosen = None if schema_id is None else ISO2
    assert sap.push_response(sap.Negotiation(code, schema_id, chosen, None)) == data
    res = sap.pull_response(data)
    assert (res.ResponseCode, res.SchemaID) == (code, schema_id)


def test_reference_codecs_failed_response_decodes() -> None:
    res = sap.pull_response(bytes.fromhex("80480000"))
    assert res.ResponseCode is Code.Failed_NoNegotiation


def test_golden_din_request_negotiates_din() -> None:
    result = negotiate(sap.pull_request(REQ_DIN), [ISO2, DIN])
    assert (result.code, result.schema_id, result.chosen) == (Code.OK_SuccessfulNegotiation, 1, DIN)
    assert sap.push_response(result) == RES_OK_1


def test_ev_priority_decides_by_default() -> None:
    req = _req(_entry(DIN, 7, 2), _entry(ISO2, 9, 1))
    assert negotiate(req, [DIN, ISO2]).chosen is ISO2
    assert negotiate(req, [DIN, ISO2]).schema_id == 9


def test_secc_order_decides_when_configured() -> None:
    req = _req(_entry(DIN, 7, 2), _entry(ISO2, 9, 1))
    result = negotiate(req, [DIN, ISO2], prefer="secc")
    assert (result.chosen, result.schema_id) == (DIN, 7)


def test_tie_on_ev_priority_goes_to_our_order() -> None:
    req = _req(_entry(ISO2, 4, 1), _entry(DIN, 5, 1))
    assert negotiate(req, [DIN, ISO2]).chosen is DIN
    assert negotiate(req, [ISO2, DIN]).chosen is ISO2


def test_only_offered_protocols_are_chosen() -> None:
    req = _req(_entry(ISO20_DC, 1, 1), _entry(DIN, 2, 2))
    assert negotiate(req, [DIN, ISO2]).chosen is DIN
    assert negotiate(req, [ISO20_DC, DIN]).chosen is ISO20_DC


def test_major_must_match() -> None:
    req = _req(_entry(ISO2, 1, 1, major=3), _entry(DIN, 2, 2, major=1))
    result = negotiate(req, [ISO2, DIN])
    assert (result.code, result.schema_id, result.chosen) == (Code.Failed_NoNegotiation, None, None)
    assert not result.ok


def test_a_major_mismatch_falls_through_to_the_next_entry() -> None:
    req = _req(_entry(ISO2, 1, 1, major=3), _entry(DIN, 2, 2))
    assert negotiate(req, [ISO2, DIN]).chosen is DIN


@pytest.mark.parametrize("minor", [1, 5])
def test_other_minor_is_a_minor_deviation(minor: int) -> None:
    result = negotiate(_req(_entry(ISO2, 3, 1, minor=minor)), [ISO2])
    assert (result.code, result.schema_id) == (Code.OK_SuccessfulNegotiationWithMinorDeviation, 3)


def test_our_minor_above_the_evs_is_a_deviation_too() -> None:
    newer = AppProtocol(ISO2.namespace, 2, 1, "iso2")
    result = negotiate(_req(_entry(ISO2, 3, 1)), [newer])
    assert result.code is Code.OK_SuccessfulNegotiationWithMinorDeviation


def test_iso20_common_messages_namespace() -> None:
    result = negotiate(_req(_entry(ISO20, 1, 1), _entry(ISO2, 2, 2)), [ISO20, ISO2])
    assert result.chosen is ISO20


def test_empty_or_unknown_gives_failed() -> None:
    assert negotiate(_req(), [ISO2]).code is Code.Failed_NoNegotiation
    odd = ap.AppProtocolType(ProtocolNamespace="urn:x", VersionNumberMajor=2,
                             VersionNumberMinor=0, SchemaID=1, Priority=1)  # fmt: skip
    assert negotiate(_req(odd), [ISO2, DIN]).code is Code.Failed_NoNegotiation


@pytest.mark.parametrize("data", [b"", b"\x80", b"\x00\x00", RES_OK_1, b"\x80\xff\xff\xff"])
def test_bad_request_bytes_are_a_remote_error(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        sap.pull_request(data)
    assert caught.value.code == "bad_sap_request"


_NAMESPACES = [DIN.namespace, ISO2.namespace, ISO20.namespace, ISO20_DC.namespace, "urn:x:y"]
_entries = st.lists(st.builds(
    lambda ns, major, minor, sid, prio: ap.AppProtocolType(
        ProtocolNamespace=ns, VersionNumberMajor=major, VersionNumberMinor=minor,
        SchemaID=sid, Priority=prio),
    st.sampled_from(_NAMESPACES), st.integers(0, 3), st.integers(0, 3),
    st.integers(0, 255), st.integers(1, 20)), min_size=1, max_size=20)  # fmt: skip


@given(_entries, st.permutations([DIN, ISO2, ISO20_DC]), st.sampled_from(["ev", "secc"]))
def test_negotiation_invariants(entries: list, offers: list, prefer: str) -> None:
    req = _req(*entries)
    assert sap.pull_request(codec.encode(req, sap.NAMESPACE)) == req  # EXI round trip
    result = negotiate(req, offers, prefer)  # type: ignore[arg-type]
    usable = [e for e in entries for o in offers
              if e.ProtocolNamespace == o.namespace and e.VersionNumberMajor == o.major]
    if not usable:
        assert (result.code, result.schema_id, result.chosen) == (Code.Failed_NoNegotiation, None, None)
        return
    entry = result.ev_entry
    assert entry in usable and result.schema_id == entry.SchemaID
    assert result.chosen is not None and result.chosen.namespace == entry.ProtocolNamespace
    if prefer == "ev":
        assert entry.Priority == min(e.Priority for e in usable)
    else:
        rank = [o.namespace for o in offers]
        assert rank.index(entry.ProtocolNamespace) == min(rank.index(e.ProtocolNamespace) for e in usable)
    same_minor = entry.VersionNumberMinor == result.chosen.minor
    assert result.code is (Code.OK_SuccessfulNegotiation if same_minor
                           else Code.OK_SuccessfulNegotiationWithMinorDeviation)  # fmt: skip
