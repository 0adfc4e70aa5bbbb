"""Get15118EVCertificate (OCPP Part 2 M01/M02) for the SECC; the station's own
certificates are certificates.py.

``OcppCertificateBackend`` is the SECC's ``CertificateBackend`` (host/secc/backend.py) over OCPP. The SECC has already checked the
EV's request; the backend sends it to the CSMS as ``exiRequest`` and hands the CSMS's
``exiResponse`` (a V2G_Message whose header carries the CPS's Signature) back as the
response body and that Signature. ``exiRequest`` is the request re-encoded as a
V2G_Message without the EV's header signature: the backend interface gets the decoded
request, not its bytes (*verify* whether a CSMS insists on the EV's original stream).

The SECC calls its backend synchronously, inside its session; the OCPP round trip is
asynchronous. ``ask`` bridges the two: a function (action, payload) -> (response or
None, why); ``threadsafe_ask`` builds one for a SECC running in another thread than the
station's event loop, and tests pass one that drives a StationConnection in-process.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from host.exi import codec
from host.exi.runtime import ExiError
from host.exi.schemas import iso2 as i
from host.secc.backend import Provisioned

ISO2_SCHEMA = i.NAMESPACE  # iso15118SchemaVersion: the schema namespace of the session
EXI_REQUEST_MAX = 11000  # Get15118EVCertificateRequest.exiRequest maxLength
FAILED = "FAILED"  # the -2 response code when the CSMS has no answer

Ask = Callable[[str, dict], tuple[dict | None, str]]


def exi_request(req: Any) -> str:
    message = i.V2G_Message(Header=i.MessageHeaderType(SessionID=bytes(8)),
                            Body=i.BodyType(BodyElement=req))  # fmt: skip
    return base64.b64encode(codec.encode(message, i.NAMESPACE)).decode("ascii")


def exi_response(res: Any, signature: Any, session_id: bytes = bytes(8)) -> str:
    """What a CSMS answers with: the response as a V2G_Message, the CPS's Signature in
    its header (for tests and the test CSMS)."""
    message = i.V2G_Message(Header=i.MessageHeaderType(SessionID=session_id, Signature=signature),
                            Body=i.BodyType(BodyElement=res))  # fmt: skip
    return base64.b64encode(codec.encode(message, i.NAMESPACE)).decode("ascii")


def read_exi(text: str) -> tuple[Any, Any]:
    """(body element, header Signature) of a base64 V2G_Message; ValueError if it is none."""
    try:
        data = base64.b64decode(text, validate=True)
        message = codec.decode(i.NAMESPACE, data)
    except (binascii.Error, ExiError) as e:
        raise ValueError(f"not a base64 ISO 15118-2 V2G_Message: {e}") from None
    if not isinstance(message, i.V2G_Message) or message.Body.BodyElement is None:
        raise ValueError("not a V2G_Message with a body")
    return message.Body.BodyElement, message.Header.Signature


class OcppCertificateBackend:
    """host.secc.backend.CertificateBackend over Get15118EVCertificate."""

    def __init__(self, ask: Ask) -> None:
        self.ask = ask

    def install(self, req: i.CertificateInstallationReq, now: dt.datetime) -> Provisioned:
        return self._get(req, "Install", i.CertificateInstallationRes)

    def update(self, req: i.CertificateUpdateReq, now: dt.datetime) -> Provisioned:
        return self._get(req, "Update", i.CertificateUpdateRes)

    def _get(self, req: Any, action: str, kind: type) -> Provisioned:
        exi = exi_request(req)
        if len(exi) > EXI_REQUEST_MAX:
            return Provisioned(FAILED, why=f"exiRequest of {len(exi)} characters exceeds "
                                           f"{EXI_REQUEST_MAX}")  # fmt: skip
        payload = {"iso15118SchemaVersion": ISO2_SCHEMA, "action": action, "exiRequest": exi}
        res, why = self.ask("Get15118EVCertificate", payload)
        if res is None:
            return Provisioned(FAILED, why=f"Get15118EVCertificate: {why}")
        if res["status"] != "Accepted":
            info = res.get("statusInfo", {})
            return Provisioned(FAILED, why=f"CSMS: {res['status']} {info.get('reasonCode', '')} "
                                           f"{info.get('additionalInfo', '')}".strip())  # fmt: skip
        try:
            body, signature = read_exi(res["exiResponse"])
        except ValueError as e:
            return Provisioned(FAILED, why=f"CSMS exiResponse: {e}")
        if not isinstance(body, kind):
            return Provisioned(FAILED, why=f"CSMS exiResponse is a {type(body).__name__}, "
                                           f"not a {kind.__name__}")  # fmt: skip
        code = str(body.ResponseCode.value)  # type: ignore[attr-defined]  # kind is a -2 *Res
        if not code.startswith("OK"):
            return Provisioned(code, why="the CSMS's CPS refused")
        return Provisioned("OK", body, signature)


def threadsafe_ask(st: Any, loop: asyncio.AbstractEventLoop, kick: Callable[[], None],
                   timeout: float = 30.0) -> Ask:  # fmt: skip
    """An ``ask`` for a caller outside ``loop`` (the SECC's thread): the CALL goes through
    the StationConnection ``st`` on its loop; the caller waits up to ``timeout`` s."""

    def ask(action: str, payload: dict) -> tuple[dict | None, str]:
        async def round_trip() -> tuple[dict | None, str]:
            done: asyncio.Future[tuple[dict | None, str]] = loop.create_future()
            def answered(res: dict | None, why: str) -> None:
                if not done.done():
                    done.set_result((res, why))

            st.call_with_result(action, payload, time.time(), answered)
            kick()
            return await done

        try:
            return asyncio.run_coroutine_threadsafe(round_trip(), loop).result(timeout)
        except TimeoutError:
            return None, f"no answer within {timeout:.0f} s"

    return ask
