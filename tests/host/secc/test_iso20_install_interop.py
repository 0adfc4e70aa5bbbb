"""Why there is no -20 CertificateInstallation run of the `iso15118` package's EVCC against
our SECC.

Their EVCC (0.31.2, evcc/states/iso15118_20_states.py) does send CertificateInstallationReq
when AuthorizationSetupRes offers the service and its controller says a certificate is
needed, but the state that would take the answer is

    class CertificateInstallation(StateEVCC):
        async def process_message(self, message, message_exi=None):
            raise NotImplementedError("CertificateInstallation not yet implemented")

so no session of theirs gets past our CertificateInstallationRes; and the request itself is
signed with -2's ``create_signature`` (test_iso20_pnc_interop.py: OverflowError on a
secp521r1 OEM key, -2 algorithms on a P-256 one, which our SECC answers
FAILED_SignatureError). This test calls their state's handler and pins that; when a release
of theirs implements it the test fails, and a veth session belongs here instead."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.host.interop import peer_python

pytestmark = pytest.mark.interop

PROBE = """
import asyncio, json
from iso15118.evcc.states import iso15118_20_states as s

state = object.__new__(s.CertificateInstallation)  # no session: only the handler runs
try:
    asyncio.run(state.process_message(None))
    out = {"result": "handled"}
except NotImplementedError as exc:
    out = {"result": f"NotImplementedError: {exc}"}
sent = "CertificateInstallationReq(" in open(s.__file__).read()
print(json.dumps({**out, "requests_it": sent}))
"""


def test_their_evcc_cannot_take_a_certificate_installation_res(tmp_path: Path) -> None:
    python = peer_python()
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    run = subprocess.run([str(python), str(probe)], capture_output=True, text=True,
                         timeout=120, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"\ntheir -20 CertificateInstallation state: {out}")
    assert out == {"result": "NotImplementedError: CertificateInstallation not yet implemented",
                   "requests_it": True}
