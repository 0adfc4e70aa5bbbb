"""Compare our codec with the reference jar on a batch of messages, both directions.

Differences the jar itself explains are classified, not hidden:
- `jar error`: the jar throws (it has no mapping for ISO 15118-20 ACDP and WPT messages,
  for abstract elements, and crashes on some base64 fields for want of javax.mail);
- `jar default`: the jar writes 0 for an absent optional integer (SupportedAppProtocolRes
  SchemaID, ISO 15118-2 MeteringReceiptReq SAScheduleTupleID, SalesTariffEntry EPriceLevel):
  its message classes hold those as Java primitives;
- `jar template`: the jar never encodes an xmldsig SignedInfo as given. It builds one from a
  template (the ISO 15118-2 algorithms: canonical EXI, ECDSA-SHA256, SHA-256, one canonical-EXI
  Transform per Reference) keeping only each Reference's URI and DigestValue, and fails when a
  Reference has no URI. There its bytes must equal ours for that template, and its decoding of
  our bytes must equal our message.
Anything else is a mismatch, and tests fail on it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from host import exi


@dataclass
class Report:
    equal: int = 0  # bytes and JSON identical both ways
    jar_errors: Counter = field(default_factory=Counter)
    jar_defaults: int = 0
    jar_template: int = 0
    mismatches: list[str] = field(default_factory=list)

    def summary(self) -> str:
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(self.jar_errors.items()))
        return (f"{self.equal} identical, {self.jar_defaults} with jar-filled defaults, "
                f"{self.jar_template} SignedInfo through the jar's template, "
                f"jar errors [{errors}], {len(self.mismatches)} mismatches")


def _without_added_zeros(theirs: Any, ours: Any) -> Any:
    """`theirs` minus keys that `ours` lacks and that hold 0 (the jar's primitive defaults)."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        return {k: _without_added_zeros(v, ours.get(k)) for k, v in theirs.items()
                if k in ours or v != 0}
    if isinstance(theirs, list) and isinstance(ours, list) and len(theirs) == len(ours):
        return [_without_added_zeros(t, o) for t, o in zip(theirs, ours, strict=True)]
    return theirs


C14N_EXI = "http://www.w3.org/TR/canonical-exi/"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


def jar_signed_info(obj: dict) -> dict:
    """The SignedInfo the jar encodes when given `obj` (see `jar template` above)."""
    refs = [{"URI": r["URI"], "Transforms": {"Transform": [{"Algorithm": C14N_EXI}]},
             "DigestMethod": {"Algorithm": SHA256}, "DigestValue": r["DigestValue"]}
            for r in obj["SignedInfo"]["Reference"]]
    return {"SignedInfo": {"CanonicalizationMethod": {"Algorithm": C14N_EXI},
                           "SignatureMethod": {"Algorithm": ECDSA_SHA256}, "Reference": refs}}


def _error_kind(text: str) -> str:
    for marker in ("MimeMultipart", "was not found in the project", "Missing class indicator"):
        if marker in text:
            return marker
    return text.splitlines()[0][:80]


def compare(jar, cases: list[tuple[str, str, Any]]) -> Report:
    """cases: (namespace, label, message). Two jar batches: encode our JSON, decode our bytes."""
    ours = [(ns, label, msg, exi.encode(msg, ns), exi.to_json(msg, ns)) for ns, label, msg in cases]
    encoded = jar.batch([{"op": "encode", "ns": ns, "json": json.dumps(j)}
                         for ns, _, _, _, j in ours])
    decoded = jar.batch([{"op": "decode", "ns": ns, "hex": b.hex()} for ns, _, _, b, _ in ours])
    report = Report()
    for (ns, label, _msg, data, obj), enc, dec in zip(ours, encoded, decoded, strict=True):
        if "error" in enc:
            report.jar_errors[_error_kind(enc["error"])] += 1
            continue
        if "error" in dec:
            report.jar_errors["decode: " + _error_kind(dec["error"])] += 1
            continue
        jar_bytes = bytes.fromhex(enc["hex"])
        jar_json = json.loads(dec["json"])
        if "SignedInfo" in obj and jar_json == obj and jar_bytes != data:
            template = jar_signed_info(obj)
            if jar_bytes == exi.encode(exi.from_json(ns, template), ns):
                report.jar_template += 1
                continue
        if jar_bytes == data and jar_json == obj:
            report.equal += 1
            continue
        # is the jar's output our message plus zero defaults? (the jar's own reading of it:
        # an out-of-range default such as SAScheduleTupleID 0 it writes as untyped text)
        answer = jar.decode(ns, jar_bytes)
        theirs = json.loads(answer["json"]) if "json" in answer else None
        if (_without_added_zeros(theirs, obj) == obj
                and _without_added_zeros(jar_json, obj) == obj):
            report.jar_defaults += 1
            continue
        report.mismatches.append(f"{label}: ours {data.hex()} jar {enc['hex']}\n"
                                 f"  ours {json.dumps(obj)}\n  jar  {dec['json']}")
    return report
