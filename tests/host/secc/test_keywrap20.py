"""The -20 contract-key delivery (host/secc/keywrap20.py): the field layouts the schema and
[V2G20-2499]/[V2G20-2502] fix, and every way the EV side rejects what it got."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, x448
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from host.secc import keywrap20 as kw
from tests.host.secc.install20_setup import oem_pcid, pki20

IV = bytes(range(12))


def _contract() -> tuple[ec.EllipticCurvePrivateKey, object, bytes]:
    p = pki20()
    key = p["contract"].key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key, p["contract"].cert, kw.aad(oem_pcid(), p["contract"].cert)


def test_secp521_layout_and_round_trip():
    p = pki20()
    key, cert, aad = _contract()
    oem_key = p["oem_prov"].key
    dh, enc = kw.encrypt_secp521(key, p["oem_prov"].cert.public_key(), IV, aad)
    assert len(dh) == 133 and dh[0] == 0x04
    assert len(enc) == 94 and enc[:12] == IV  # IV || ciphertext 66 || tag 16
    back = kw.decrypt_secp521(enc, dh, oem_key, aad, cert)
    assert back.private_numbers() == key.private_numbers()


def test_the_plaintext_is_the_value_padded_to_66_bytes_and_the_tag_is_last():
    # decrypt by hand with the session key: proves the layout, not just our own round trip
    p = pki20()
    key, _cert, aad = _contract()
    dh, enc = kw.encrypt_secp521(key, p["oem_prov"].cert.public_key(), IV, aad)
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP521R1(), dh)
    secret = p["oem_prov"].key.exchange(ec.ECDH(), peer)
    plain = AESGCM(kw.session_key(secret)).decrypt(enc[:12], enc[12:], aad)
    assert plain == key.private_numbers().private_value.to_bytes(66, "big")
    assert plain[0] >> 1 == 0  # 7 leading zero bits


def test_aad_is_pcid_then_capital_hex_ski():
    p = pki20()
    aad = kw.aad("ABC123", p["contract"].cert)
    assert aad.startswith(b"ABC123") and aad[6:].decode() == aad[6:].decode().upper()
    ski = p["contract"].cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert bytes.fromhex(aad[6:].decode()) == ski.value.digest
    assert kw.pcid_of(p["oem_prov"].cert) == "OEMPROVLAB"  # "OEM Prov (lab)" cleaned


@pytest.mark.parametrize("damage", ["tag", "ciphertext", "iv", "aad", "wrong_ev"])
def test_anything_altered_fails_the_tag(damage):
    p = pki20()
    key, cert, aad = _contract()
    dh, enc = kw.encrypt_secp521(key, p["oem_prov"].cert.public_key(), IV, aad)
    ev_key = p["oem_prov"].key
    where = {"tag": 93, "ciphertext": 40, "iv": 0}.get(damage)
    if where is not None:
        enc = enc[:where] + bytes([enc[where] ^ 1]) + enc[where + 1:]
    if damage == "aad":
        aad = b"X" + aad[1:]
    if damage == "wrong_ev":
        ev_key = p["secc"].key  # a secp521r1 key, not the one it was sealed for
    with pytest.raises(kw.KeyWrapError, match="tag"):
        kw.decrypt_secp521(enc, dh, ev_key, aad, cert)


def test_a_key_that_is_not_the_contract_certificates_is_refused():
    p = pki20()
    _key, cert, aad = _contract()
    other = ec.generate_private_key(ec.SECP521R1())
    dh, enc = kw.encrypt_secp521(other, p["oem_prov"].cert.public_key(), IV, aad)
    with pytest.raises(kw.KeyWrapError, match="not the contract certificate's"):
        kw.decrypt_secp521(enc, dh, p["oem_prov"].key, aad, cert)


def _seal_raw(plain: bytes, aad: bytes) -> tuple[bytes, bytes]:
    p = pki20()
    fresh = ec.generate_private_key(ec.SECP521R1())
    secret = fresh.exchange(ec.ECDH(), p["oem_prov"].cert.public_key())
    enc = IV + AESGCM(kw.session_key(secret)).encrypt(IV, plain, aad)
    return fresh.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint), enc


def test_top_bits_set_and_zero_value_are_refused():
    p = pki20()
    _key, cert, aad = _contract()
    dh, enc = _seal_raw(b"\x02" + bytes(65), aad)
    with pytest.raises(kw.KeyWrapError, match="top 7 bits"):
        kw.decrypt_secp521(enc, dh, p["oem_prov"].key, aad, cert)
    dh, enc = _seal_raw(bytes(66), aad)
    with pytest.raises(kw.KeyWrapError, match="order"):
        kw.decrypt_secp521(enc, dh, p["oem_prov"].key, aad, cert)


def test_wrong_lengths_and_points_are_refused():
    p = pki20()
    key, cert, aad = _contract()
    dh, enc = kw.encrypt_secp521(key, p["oem_prov"].cert.public_key(), IV, aad)
    with pytest.raises(kw.KeyWrapError, match="93 bytes"):
        kw.decrypt_secp521(enc[:-1], dh, p["oem_prov"].key, aad, cert)
    with pytest.raises(kw.KeyWrapError, match="uncompressed"):
        kw.decrypt_secp521(enc, dh[1:], p["oem_prov"].key, aad, cert)
    with pytest.raises(kw.KeyWrapError, match="not a point"):
        kw.decrypt_secp521(enc, b"\x04" + bytes(132), p["oem_prov"].key, aad, cert)
    with pytest.raises(ValueError, match="secp521r1"):
        kw.encrypt_secp521(ec.generate_private_key(ec.SECP256R1()),
                           p["oem_prov"].cert.public_key(), IV, aad)
    with pytest.raises(ValueError, match="IV"):
        kw.encrypt_secp521(key, p["oem_prov"].cert.public_key(), bytes(16), aad)


def test_x448_layout_and_round_trip():
    ev = x448.X448PrivateKey.generate()
    value = bytes(range(56))
    dh, enc = kw.encrypt_x448(value, ev.public_key(), IV, b"aad")
    assert len(dh) == 57 and dh[0] == 0x04 and len(enc) == 84 and enc[:12] == IV
    assert kw.decrypt_x448(enc, dh, ev, b"aad") == value
    assert kw.decrypt_x448(enc, dh[1:], ev, b"aad") == value  # RFC 8410's raw 56 bytes too
    with pytest.raises(kw.KeyWrapError, match="tag"):
        kw.decrypt_x448(enc, dh, ev, b"other")
    with pytest.raises(kw.KeyWrapError, match="83 bytes"):
        kw.decrypt_x448(enc[:-1], dh, ev, b"aad")
