"""Why there is no -20 Plug & Charge run of the `iso15118` package's EVCC against our SECC.

Their EVCC (0.31.2, evcc/states/iso15118_20_states.py, AuthorizationSetup) does select PnC
when offered, loads the contract chain and key from its PKI folder and signs
PnC_AReqAuthorizationMode with ``shared/security.py: create_signature``, which is -2's
(its own "TODO: Need a signature for ISO 15118-20, not ISO 15118-2"): ECDSA-SHA256, SHA-256
digests, r and s cut to 32 bytes each. With a -20 contract key (secp521r1) that raises
OverflowError, which its state catches only as PrivateKeyReadError: the session dies there.
With a -2 (P-256) contract it signs, but with algorithms -20 does not name, which our SECC
answers FAILED_SignatureError (test_iso20_pnc.py::test_a_minus_2_style_signature_is_refused).
This test runs their function on our lab keys and pins both facts; when a release of theirs
signs -20 properly it fails, and a veth session belongs here instead. Their EXI codec
(Java) is stubbed out: only the signature step is under test, and it fails before or after
any EXI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from host.pki import hierarchy
from host.pki.profiles import PROFILES
from host.secc import certs, sig20
from tests.host.interop import peer_python

pytestmark = pytest.mark.interop

PROBE = """
import json, sys
from cryptography.hazmat.primitives.serialization import load_pem_private_key
import iso15118.shared.security as security

class NoJava:  # their SignedInfo encoding is not what fails here
    def to_exi(self, *args):
        return bytes.fromhex("8000")

security.EXI = NoJava
out = {}
for name, path in (("iso20", sys.argv[1]), ("iso2", sys.argv[2])):
    key = load_pem_private_key(open(path, "rb").read(), None)
    try:
        sig = security.create_signature([("id1", bytes.fromhex("8000"))], key)
    except Exception as exc:
        out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    else:
        ref = sig.signed_info.reference[0]
        out[name] = {"method": sig.signed_info.signature_method.algorithm,
                     "digest": ref.digest_method.algorithm,
                     "length": len(sig.signature_value.value)}
print(json.dumps(out))
"""


def test_their_evcc_cannot_sign_a_minus_20_contract(tmp_path: Path) -> None:
    python = peer_python()
    now = dt.datetime.now(dt.UTC)
    for profile in ("iso20", "iso2"):
        hierarchy.init(tmp_path / profile, PROFILES[profile], hierarchy.Names(), now)
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    run = subprocess.run([str(python), str(probe), str(tmp_path / "iso20" / "contract.key"),
                          str(tmp_path / "iso2" / "contract.key")],
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"\ntheir create_signature: {out}")
    assert out["iso20"] == {"error": "OverflowError: int too big to convert"}
    assert out["iso2"] == {"method": certs.ECDSA_SHA256, "digest": certs.SHA256, "length": 64}
    assert out["iso2"]["method"] not in sig20.METHODS
