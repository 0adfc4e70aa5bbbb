"""The -20 header Signature (host/secc/sig20.py): ECDSA secp521r1/SHA-512 and Ed448 over EXI
fragments of the CommonMessages grammar, verified by the algorithms the signature names."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448

from host.exi import codec
from host.exi.schemas import iso20_common_messages as m
from host.secc import certs, sig20
from tests.host.exi.conftest import jar  # noqa: F401  (the session-wide reference codec)


def element(challenge: bytes = bytes(range(16))) -> m.PnC_AReqAuthorizationModeType:
    return m.PnC_AReqAuthorizationModeType(
        Id="id1", GenChallenge=challenge,
        ContractCertificateChain=m.ContractCertificateChainType(
            Certificate=b"\x01\x02", SubCertificates=m.SubCertificatesType(
                Certificate=[b"\x03"])))  # fmt: skip


KEYS = {"ecdsa-p521": lambda: ec.generate_private_key(ec.SECP521R1()),
        "ed448": ed448.Ed448PrivateKey.generate}


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_a_signature_verifies_with_the_signers_key_and_names_its_algorithms(kind):
    key = KEYS[kind]()
    signature = sig20.sign([("id1", element())], key)
    info = signature.SignedInfo
    assert info.SignatureMethod.Algorithm == sig20.method_of(key)
    assert info.Reference[0].URI == "#id1"
    assert info.Reference[0].DigestMethod.Algorithm == sig20.SHA512
    assert info.Reference[0].DigestValue == hashlib.sha512(sig20.fragment(element())).digest()
    assert len(signature.SignatureValue.value) == (132 if kind == "ecdsa-p521" else 114)
    assert sig20.verify(signature, [("id1", element())], key.public_key()) is None
    # it survives the wire: the header of a -20 message, encoded and decoded
    req = m.AuthorizationReq(Header=m.MessageHeaderType(SessionID=bytes(8), TimeStamp=1,
                                                        Signature=signature),
                             SelectedAuthorizationService=m.authorizationType.PnC,
                             PnC_AReqAuthorizationMode=element())  # fmt: skip
    back = codec.decode(m.NAMESPACE, codec.encode(req, m.NAMESPACE))
    assert sig20.verify(back.Header.Signature, [("id1", back.PnC_AReqAuthorizationMode)],
                        key.public_key()) is None  # fmt: skip


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_a_changed_element_or_another_key_is_refused(kind):
    key = KEYS[kind]()
    signature = sig20.sign([("id1", element())], key)
    other = element(bytes(16))
    assert sig20.verify(signature, [("id1", other)], key.public_key()) == \
        "the digest of #id1 does not match"
    assert sig20.verify(signature, [("id1", element())], KEYS[kind]().public_key()) == \
        "the SignatureValue does not verify with the signer's key"
    assert sig20.verify(signature, [("id2", element())], key.public_key()) == \
        "no Reference to #id2"
    assert sig20.verify(None, [("id1", element())], key.public_key()) == \
        "no Signature in the header"


def test_unknown_algorithms_and_wrong_lengths_are_refused_with_a_reason():
    key = ec.generate_private_key(ec.SECP521R1())
    good = [("id1", element())]
    signature = sig20.sign(good, key)
    signature.SignedInfo.SignatureMethod.Algorithm = certs.ECDSA_SHA256
    assert "SignatureMethod http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" in \
        sig20.verify(signature, good, key.public_key())
    signature = sig20.sign(good, key)
    signature.SignedInfo.Reference[0].DigestMethod.Algorithm = certs.SHA256
    assert sig20.verify(signature, good, key.public_key()) == \
        f"#id1 digested with {certs.SHA256}, not SHA-512"
    signature = sig20.sign(good, key)
    signature.SignedInfo.CanonicalizationMethod.Algorithm = "urn:other"
    assert "CanonicalizationMethod urn:other" in sig20.verify(signature, good, key.public_key())
    signature = sig20.sign(good, key)
    signature.SignatureValue.value = signature.SignatureValue.value[:64]
    assert sig20.verify(signature, good, key.public_key()) == \
        "SignatureValue of 64 bytes, not 132 (r || s)"
    # an Ed448 key behind an ECDSA SignatureMethod, and a -2 (P-256) key
    assert "but the signer's key is for " + sig20.EDDSA_ED448 in sig20.verify(
        sig20.sign(good, key), good, ed448.Ed448PrivateKey.generate().public_key())
    p256 = ec.generate_private_key(ec.SECP256R1())
    assert "secp256r1 key" in sig20.verify(sig20.sign(good, key), good, p256.public_key())
    with pytest.raises(ValueError, match="secp256r1"):
        sig20.sign(good, p256)


def test_ed448_wrong_length_is_refused():
    key = ed448.Ed448PrivateKey.generate()
    signature = sig20.sign([("id1", element())], key)
    signature.SignatureValue.value += b"\x00"
    assert sig20.verify(signature, [("id1", element())], key.public_key()) == \
        "SignatureValue of 115 bytes, not 114 (Ed448)"


@pytest.mark.interop
def test_the_signed_fragment_is_the_reference_codecs(jar):  # noqa: F811
    """EXICodec.jar (what the iso15118 package digests) encodes PnC_AReqAuthorizationMode
    given in the -20 namespace as the same fragment."""
    names = {cls: name for name, cls in m.ELEMENT_CLASSES.items()}
    body = codec._object_to_json(element(), m.JSON_FIELDS, names)
    [answer] = jar.batch([{"op": "encode", "ns": m.NAMESPACE,
                           "json": json.dumps({"PnC_AReqAuthorizationMode": body})}])
    assert bytes.fromhex(answer["hex"]) == sig20.fragment(element())
