"""OCMF records: parse, verify with each supported algorithm, reject what is wrong."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jsonschema
import ocpp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from host.meter import ocmf

pytestmark = pytest.mark.unit

PAYLOAD = {
    "FV": "1.0", "GI": "v2gate test", "GS": "GW1", "PG": "T7", "MV": "v2gate",
    "MS": "SIM0001", "IS": False,
    "RD": [{"TM": "2026-12-01T01:02:03,456+0000 S", "TX": "B", "RV": 12.345,
            "RI": "1-b:1.8.0", "RU": "kWh", "ST": "G"},
           {"TM": "2026-12-01T01:02:03,456+0000 S", "TX": "B", "RV": 2.5,
            "RI": "1-b:2.8.0", "RU": "kWh", "ST": "G"}],
}


def keypair(sa: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ocmf.CURVES[sa]())


@pytest.mark.parametrize("sa", sorted(ocmf.CURVES))
@pytest.mark.parametrize("se", ["hex", "base64"])
def test_each_supported_algorithm_signs_and_verifies(sa: str, se: str) -> None:
    key = keypair(sa)
    text = ocmf.sign(PAYLOAD, key, sa, se)
    record = ocmf.parse(text)
    ocmf.verify(record, key.public_key())
    assert record.payload == PAYLOAD
    assert record.readings[0].kind == "import" and record.readings[0].wh == 12_345.0
    assert record.readings[1].kind == "export"


def test_the_signature_covers_the_payload_text_as_sent() -> None:
    key = keypair("ECDSA-secp256r1-SHA256")
    text = ocmf.sign(PAYLOAD, key, "ECDSA-secp256r1-SHA256")
    # same JSON meaning, different bytes: not what was signed
    respaced = text.replace('"PG":"T7"', '"PG": "T7"')
    with pytest.raises(ocmf.OcmfError, match="bad signature"):
        ocmf.verify(ocmf.parse(respaced), key.public_key())


def test_a_changed_value_or_another_key_is_a_bad_signature() -> None:
    sa = "ECDSA-secp384r1-SHA256"
    key = keypair(sa)
    text = ocmf.sign(PAYLOAD, key, sa)
    with pytest.raises(ocmf.OcmfError, match="bad signature"):
        ocmf.verify(ocmf.parse(text.replace("12.345", "12.346")), key.public_key())
    with pytest.raises(ocmf.OcmfError, match="bad signature"):
        ocmf.verify(ocmf.parse(text), keypair(sa).public_key())


def test_a_key_on_another_curve_than_the_sa_is_refused() -> None:
    key = keypair("ECDSA-secp256r1-SHA256")
    text = ocmf.sign(PAYLOAD, key, "ECDSA-secp256r1-SHA256")
    with pytest.raises(ocmf.OcmfError, match="record says"):
        ocmf.verify(ocmf.parse(text), keypair("ECDSA-secp384r1-SHA256").public_key())


def test_unsupported_and_unknown_algorithms_are_named() -> None:
    key = keypair("ECDSA-secp256r1-SHA256")
    text = ocmf.sign(PAYLOAD, key, "ECDSA-secp256r1-SHA256")
    for sa, word in (("ECDSA-secp192k1-SHA256", "unsupported"), ("RSA-PSS", "unknown")):
        with pytest.raises(ocmf.OcmfError, match=word):
            ocmf.verify(ocmf.parse(text.replace("ECDSA-secp256r1-SHA256", sa)),
                        key.public_key())


@pytest.mark.parametrize("text,why", [
    ("XOCMF|{}|{}", "header"),
    ("OCMF|{\"PG\":\"T1\"|{}", "payload is not JSON"),
    ("OCMF|{\"PG\":\"T1\",\"MS\":\"1\",\"RD\":[]}|{\"SA\":\"x\",\"SD\":\"00\"}", "RD"),
    ("OCMF|{\"MS\":\"1\",\"RD\":[1]}|{\"SA\":\"x\",\"SD\":\"00\"}", "lacks PG"),
    ("OCMF|{\"PG\":\"T1\",\"MS\":\"1\",\"RD\":[{\"TM\":\"yesterday\",\"RV\":1,\"RU\":\"kWh\","
     "\"ST\":\"G\"}]}|{\"SA\":\"x\",\"SD\":\"00\"}", "TM"),
    ("OCMF|{\"PG\":\"T1\",\"MS\":\"1\",\"RD\":[{\"TM\":\"2026-12-01T01:02:03,456+0000 S\","
     "\"RV\":\"1\",\"RU\":\"kWh\",\"ST\":\"G\"}]}|{\"SA\":\"x\",\"SD\":\"00\"}", "RV"),
    ("OCMF|{\"PG\":\"T1\",\"MS\":\"1\",\"RD\":[{\"TM\":\"2026-12-01T01:02:03,456+0000 S\","
     "\"RV\":1,\"RU\":\"kWh\",\"ST\":\"G\"}]}|{\"SD\":\"00\"}", "SA"),
    ("OCMF|{\"PG\":\"T1\",\"MS\":\"1\",\"RD\":[{\"TM\":\"2026-12-01T01:02:03,456+0000 S\","
     "\"RV\":1,\"RU\":\"kWh\",\"ST\":\"G\"}]}|{\"SA\":\"x\",\"SD\":\"00\"}junk", "trailing"),
])
def test_malformed_records_say_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(ocmf.OcmfError, match=why):
        ocmf.parse(text)


@given(st.text(max_size=200))
def test_random_text_is_a_record_or_a_clean_error(text: str) -> None:
    for candidate in (text, "OCMF|" + text, "OCMF|{\"PG\":\"T1\"}|" + text):
        try:
            ocmf.parse(candidate)
        except ocmf.OcmfError:
            pass


def test_public_keys_load_from_pem_der_and_hex() -> None:
    pub = keypair("ECDSA-secp256r1-SHA256").public_key()
    der = ocmf.public_key_der(pub)
    pem = pub.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    for form in (der, pem, der.hex().upper()):
        assert ocmf.public_key_der(ocmf.load_public_key(form)) == der
    with pytest.raises(ocmf.OcmfError):
        ocmf.load_public_key(b"not a key")


def test_the_signed_meter_value_fits_the_ocpp_201_schema() -> None:
    sa = "ECDSA-secp384r1-SHA256"
    key = keypair(sa)
    record = ocmf.parse(ocmf.sign(PAYLOAD, key, sa))
    smv = ocmf.signed_meter_value(record, key.public_key())
    assert base64.b64decode(smv["signedMeterData"]).decode() == record.text
    assert smv["signingMethod"] == sa and smv["encodingMethod"] == "OCMF"
    assert ocmf.load_public_key(base64.b64decode(smv["publicKey"]))
    schema = json.loads((Path(ocpp.__file__).parent / "v201" / "schemas" /
                         "MeterValuesRequest.json").read_text())
    request = {"evseId": 1, "meterValue": [{
        "timestamp": "2026-12-01T01:02:03Z",
        "sampledValue": [{"value": 2500.0, "measurand": "Energy.Active.Export.Register",
                          "signedMeterValue": smv}]}]}
    jsonschema.validate(request, schema)


def test_mismatch_between_signed_and_register_energy() -> None:
    key = keypair("ECDSA-secp256r1-SHA256")
    record = ocmf.parse(ocmf.sign(PAYLOAD, key, "ECDSA-secp256r1-SHA256"))
    regs = {"import": 12_345.0, "export": 2_500.0}
    assert ocmf.mismatch(record, regs, slack_wh=0, tolerance_wh=10) is None
    # the meter counted on after the registers were read: within the slack
    assert ocmf.mismatch(record, {**regs, "import": 12_300.0}, 50, 10) is None
    # signed below the register: never possible
    assert "does not match" in (ocmf.mismatch(record, {**regs, "import": 12_400.0}, 50, 10)
                                or "")
    assert "does not match" in (ocmf.mismatch(record, {**regs, "export": 1_000.0}, 50, 10)
                                or "")
