"""The SECC as `v2gate secc` and the ISO 15118 scenarios of `v2gate simulate` run it: SDP
and the TCP/TLS server on one interface, DIN / ISO 15118-2 / -20 machines on a simulated stage,
TLS contexts from `v2gate pki init` folders."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from host.bench.dcplant import DcPlant, StageLimits
from host.v2g import constants as c
from host.v2g import sap, tls
from host.v2g.commlog import CommLog
from host.v2g.errors import ConfigError
from host.v2g.protocol import ProtocolFactory, SessionContext
from host.v2g.sdp_driver import open_server_socket, serve_sdp, server_address
from host.v2g.server import SeccServer, ServerConfig, host_of, open_listen_socket
from host.v2g.session import V2gConnection

from .controller import EvseController, SimEvseController
from .core import RequestAnswered, SessionEnded
from .din import din_factory
from .iso2 import iso2_factory
from .iso20_ac import iso20_ac_factory
from .iso20_dc import iso20_dc_factory


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise ConfigError(f"missing {what} {path}: make a lab PKI with `v2gate pki init "
                          f"{path.parent}` or point --pki/--pki20 at yours")  # fmt: skip
    return path


def tls_context(pki: Path, pki20: Path | None = None, mutual: bool = False) -> ssl.SSLContext:
    """The SECC's context from `v2gate pki init` folders (host.v2g.tls.server_context)."""
    chain = _need(pki / "secc_chain.pem", "SECC certificate chain")
    key = _need(pki / "secc.key", "SECC private key")
    chain20 = key20 = None
    if pki20 is not None:
        chain20 = _need(pki20 / "secc_chain.pem", "-20 SECC certificate chain")
        key20 = _need(pki20 / "secc.key", "-20 SECC private key")
    roots: list[Path] = []
    if mutual:
        base = pki20 or pki
        roots = [_need(base / "oem_root.pem", "OEM root"), _need(base / "v2g_root.pem", "V2G root")]
    return tls.server_context(chain, key, tls13_chain=chain20, tls13_key=key20,
                              client_roots=roots)  # fmt: skip


def pnc_config(pki: Path, allow_list: Path | None = None, backend: str = "none") -> Any:
    """The SECC's Plug & Charge (``pnc.PncConfig``) from a `v2gate pki init` folder: the MO
    root to check contracts against, mo_sub2.key to sign SalesTariffs; ``allow_list`` a file
    of EMAIDs / ``sha256:HEX`` lines; ``backend`` "local": the in-process CPS (a lab only)
    issues a contract for the folder's OEM provisioning certificate. ConfigError in one line."""
    from host.pki import files

    from . import certs, pnc

    allow = pnc.AllowList()
    if allow_list is not None:
        allow = read_allow_list(allow_list)
    try:
        config = pnc.config_from_folder(pki, allow=allow, local_cps=backend == "local")
    except (files.PkiError, OSError) as exc:
        raise ConfigError(f"Plug & Charge needs the MO root and Sub-CA 2 of {pki}: {exc} "
                          f"(make a lab PKI with `v2gate pki init {pki}`)") from None  # fmt: skip
    cps = config.backend
    if isinstance(cps, pnc.LocalCps) and (pki / "oem_prov.pem").is_file():
        try:  # the lab's EV gets a contract under the lab's EMAID
            oem = files.read_certs(pki / "oem_prov.pem")[0]
            leaf = files.read_certs(pki / "contract.pem")[0]
            cps.contracts[certs.common_name(oem)] = certs.common_name(leaf)
        except (files.PkiError, OSError, IndexError):
            pass  # no lab EV in the folder: the CPS answers FAILED_NoCertificateAvailable
    return config


def pnc20_config(pki20: Path, allow_list: Path | None = None) -> Any:
    """-20 Plug & Charge (``pnc.PncConfig``) from a `v2gate pki init --profile iso20` folder:
    its MO root checks contracts; ``allow_list`` as for -2. ConfigError in one line."""
    from host.pki import files

    from .iso20_pnc import config20_from_folder

    allow = read_allow_list(allow_list) if allow_list is not None else None
    try:
        return config20_from_folder(pki20, allow=allow)
    except (files.PkiError, OSError) as exc:
        raise ConfigError(f"-20 Plug & Charge needs the MO root of {pki20}: {exc} (make a lab "
                          f"PKI with `v2gate pki init {pki20} --profile iso20`)") from None


def read_allow_list(path: Path) -> Any:
    """``pnc.AllowList`` from a file: one EMAID or ``sha256:`` + 64 hex digits a line."""
    from .pnc import AllowList

    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the allow-list {path}: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None  # fmt: skip
    for number, line in enumerate(lines, 1):
        entry = line.split("#", 1)[0].strip()
        if entry.lower().startswith("sha256:"):
            digits = entry[7:]
            if len(digits) != 64 or any(ch not in "0123456789abcdefABCDEF" for ch in digits):
                raise ConfigError(f"{path}:{number}: {entry!r} is not sha256: and 64 hex digits "
                                  "(one EMAID or contract fingerprint a line)")  # fmt: skip
        elif entry and (len(entry) > 40 or not entry.replace("-", "").replace("*", "").isalnum()):
            raise ConfigError(f"{path}:{number}: {entry!r} is not an EMAID (letters and digits, "
                              "dashes allowed) nor sha256:HEX")  # fmt: skip
    return AllowList.from_lines(lines)


def sim_controller(_context: SessionContext) -> EvseController:
    """A fresh simulated DC stage per connection, quick to test isolation and pre-charge."""
    plant = DcPlant(StageLimits(max_voltage=600.0, voltage_ramp=20_000.0), isolation_time=0.3,
                    now=time.monotonic())  # fmt: skip
    return SimEvseController(plant)


def sim_controller_for(export_limit: float = 0.0, soc_floor: float = 0.4,
                       setpoint: float | None = None,
                       ) -> Callable[[SessionContext], EvseController]:  # fmt: skip
    """``sim_controller`` with a bidirectional stage for -20 BPT: the grid operator's
    export enable on when ``export_limit`` (W) > 0, the owner's ``soc_floor`` (0..1), the
    station's ``setpoint`` (W, dynamic control; negative discharges)."""
    from .controller import ExportRules

    def make(_context: SessionContext) -> EvseController:
        plant = DcPlant(StageLimits(max_voltage=600.0, voltage_ramp=20_000.0,
                                    max_discharge_current=100.0 if export_limit > 0 else 0.0),
                        isolation_time=0.3, now=time.monotonic())  # fmt: skip
        controller = SimEvseController(plant)
        controller.export = ExportRules(export_limit > 0, export_limit, soc_floor)
        controller.setpoint = setpoint
        return controller
    return make


def wall_clock_offset() -> float:
    """SeccServer's clock (time.monotonic) -> seconds since 1970: -20's TimeStamps."""
    return time.time() - time.monotonic()


def factories(offers: Sequence[sap.AppProtocol],
              controller_for: Callable[[SessionContext], EvseController] = sim_controller,
              iso2_options: Mapping[str, Any] | None = None,
              wall_offset: Callable[[], float] = wall_clock_offset,
              iso20_options: Mapping[str, Any] | None = None,
              ) -> dict[str, ProtocolFactory]:  # fmt: skip
    """``iso2_options``: what Iso2Secc takes beyond the controller (Plug & Charge: its
    payment options, roots and backend, when the PnC SECC is in); ``iso20_options`` the
    same for Iso20Secc (``pnc``: -20 Plug & Charge); ``wall_offset``: the server's clock to
    the wall clock, for -20's TimeStamps (real time by default)."""
    more = dict(iso20_options or {})
    made = {sap.DIN.namespace: din_factory(controller_for),
            sap.ISO2.namespace: iso2_factory(controller_for, **(iso2_options or {})),
            sap.ISO20_DC.namespace: iso20_dc_factory(controller_for, wall_offset=wall_offset,
                                                     **more),
            sap.ISO20_AC.namespace: iso20_ac_factory(controller_for, wall_offset=wall_offset,
                                                     **more)}  # fmt: skip
    return {o.namespace: made[o.namespace] for o in offers}


def check_offers(offers: Sequence[sap.AppProtocol], tls_on: bool) -> None:
    if tls_on and all(o is sap.DIN for o in offers):
        raise ConfigError("DIN SPEC 70121 runs without TLS ([V2G-DC-618]): drop --tls or "
                          "add iso2 to --protocols")  # fmt: skip


async def start_secc(ifname: str, port: int, offers: Sequence[sap.AppProtocol],
                     ctx: ssl.SSLContext | None, *,
                     controller_for: Callable[[SessionContext], EvseController] = sim_controller,
                     on_event: Callable[[V2gConnection, object], None] | None = None,
                     iso2_options: Mapping[str, Any] | None = None,
                     iso20_options: Mapping[str, Any] | None = None,
                     commlog: CommLog | None = None,
                     ) -> tuple[SeccServer, asyncio.DatagramTransport]:  # fmt: skip
    """SDP and the server on ``ifname``; close both to stop. ConfigError for what the
    interface or the port cannot do."""
    check_offers(offers, ctx is not None)
    link = server_address(ifname)  # ConfigError: no such interface / no link-local address
    config = ServerConfig(host=host_of(link), port=port, offers=tuple(offers), tls=ctx)
    try:
        listen = open_listen_socket(config.host, port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on port {port} of {ifname} ({exc.strerror}): "
                          "another SECC there? choose another --port") from None  # fmt: skip
    try:
        security = c.SECURITY_NO_TLS if ctx is None else c.SECURITY_TLS
        transport, _sdp = await serve_sdp(open_server_socket(ifname), link, {security: port})
    except OSError as exc:
        listen.close()
        raise ConfigError(f"cannot answer SDP on UDP {c.SDP_PORT} of {ifname}: "
                          f"{exc.strerror or exc}") from None  # fmt: skip
    server = SeccServer(config, factories(offers, controller_for, iso2_options,
                                          iso20_options=iso20_options),
                        on_event=on_event, commlog=commlog)  # fmt: skip
    await server.start(listen)
    return server, transport


def authorized_contract(conn: V2gConnection, event: object) -> str | None:
    """The EMAID a Plug & Charge AuthorizationReq was just accepted for, else None."""
    if not (isinstance(event, RequestAnswered) and event.request == "AuthorizationReq"
            and event.response_code == "OK"):  # fmt: skip
        return None
    machine = getattr(conn, "machine", None)
    if getattr(machine, "contract", None) is None:
        return None  # EIM
    return str(getattr(machine, "emaid", "")) or None


def describe(event: object) -> str | None:
    if isinstance(event, RequestAnswered):
        return f"{event.request} -> {event.response_code}"
    if isinstance(event, SessionEnded):
        return f"session ended: {event.reason.value}" + (f" ({event.detail})" if event.detail else "")
    return None
