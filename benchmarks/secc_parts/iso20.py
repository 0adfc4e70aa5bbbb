"""The ISO 15118-20 DC_BPT session of benchmarks/secc.py (a part of it, not a benchmark of
its own: benchmarks/*.py are the scripts): our -20 EVCC in dynamic control
(their SECC refuses our scheduled PowerDeliveryReq's power profile with a validation error,
their code), against our SECC over TLS 1.3 (the -20 chain, mutual, as `v2gate secc` sets
it up: -20 is never offered over plain TCP) and against the `iso15118` package's SECC
(PROTOCOLS=ISO_15118_20_DC) over TLS 1.3 too when it can (ENABLE_TLS_1_3 with the same
chain; it then asks for the EV's certificate, OEM root), else over plain TCP, which the
report says. The figure of interest is DC_ChargeLoop's response time."""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host.bench.dcplant import Battery, DcPlant, StageLimits
from host.bench.veth import veth_pair
from host.ev.evcc.ev import SimEv
from host.ev.evcc.iso20 import Iso20Config, Iso20Evcc
from host.pki import files, hierarchy
from host.pki.profiles import PROFILES
from host.secc import iso20_constants as k
from host.secc.controller import ExportRules, SimEvseController
from host.secc.iso20_dc import iso20_dc_factory
from host.secc.serve import tls_context
from host.v2g import constants as c
from host.v2g import sap, tls

LOOP = "DC_ChargeLoopReq"


def _controller() -> SimEvseController:
    plant = DcPlant(StageLimits(voltage_ramp=20_000.0, current_ramp=10_000.0,
                                bleed_rate=20_000.0, max_discharge_current=100.0),
                    Battery(soc=0.6), isolation_time=0.2)  # fmt: skip
    controller = SimEvseController(plant)
    controller.export = ExportRules(True, 10_000.0, 0.2)
    controller.setpoint = -5_000.0  # discharging, the BPT path of the loop
    return controller


@dataclass
class Iso20Session:
    pki2: Path
    pki20: Path
    timed: Any  # secc.py's TimedEvcc: the stopwatch at our EVCC's socket
    their_tls: bool = True  # their SECC over TLS 1.3 (else plain TCP)

    @classmethod
    def make(cls, timed: Any) -> Iso20Session:
        root = Path(tempfile.mkdtemp(prefix="secc-bench-pki-"))
        now = dt.datetime.now(dt.UTC)
        hierarchy.init(root / "iso2", PROFILES["iso2"], hierarchy.Names(), now)
        hierarchy.init(root / "iso20", PROFILES["iso20"], hierarchy.Names(), now)
        return cls(root / "iso2", root / "iso20", timed)

    # our side
    @property
    def offers(self) -> tuple[Any, ...]:
        return (sap.ISO20_DC,)

    @property
    def factories(self) -> dict[str, Any]:
        return {sap.ISO20_DC.namespace: iso20_dc_factory(lambda _c: _controller())}

    @property
    def server_tls(self) -> Any:
        return tls_context(self.pki2, self.pki20, mutual=True)

    @property
    def client_tls(self) -> Any:
        return tls.client_context(self.pki20 / "v2g_root.pem", tls13=True,
                                  cert_chain=self.pki20 / "oem_prov_chain.pem",
                                  key=self.pki20 / "oem_prov.key")  # fmt: skip

    def make_ev(self, timeout: float) -> Any:
        battery = Battery(soc=0.6)
        return self.timed(Iso20Evcc(SimEv(battery, charge_for=1.0, target_soc=0.95),
                                   Iso20Config(service=k.SERVICE_DC_BPT,
                                               control_mode=k.CONTROL_DYNAMIC,
                                               target_soc=0.95, loop_interval=0.05,
                                               msg_timeout=timeout,
                                               loop_msg_timeout=timeout)))  # fmt: skip

    # their side
    @property
    def their_security(self) -> int:
        return c.SECURITY_TLS if self.their_tls else c.SECURITY_NO_TLS

    @property
    def their_client_tls(self) -> Any:
        return self.client_tls if self.their_tls else None

    def their_env(self, folder: Path) -> str:
        """Their .env lines; with TLS, their PKI folder (they read it from
        PKI_PATH/iso15118_2 whatever the protocol) with our -20 SECC chain and OEM root."""
        env = "PROTOCOLS=ISO_15118_20_DC\n"
        if not self.their_tls:
            return env
        certs = folder / "pki" / "iso15118_2" / "certs"
        keys = folder / "pki" / "iso15118_2" / "private_keys"
        certs.mkdir(parents=True, exist_ok=True)
        keys.mkdir(parents=True, exist_ok=True)
        files.write_certs(certs / "cpoCertChain.pem",
                          *files.read_certs(self.pki20 / "secc_chain.pem"))  # fmt: skip
        files.write_certs(certs / "oemRootCACert.pem",
                          *files.read_certs(self.pki20 / "oem_root.pem"))  # fmt: skip
        files.write_key(keys / "seccLeaf.key", files.read_key(self.pki20 / "secc.key"))
        (keys / "seccLeafPassword.txt").write_text("")
        return env + f"PKI_PATH={folder / 'pki'}/\nENABLE_TLS_1_3=True\nSECC_ENFORCE_TLS=True\n"


def iso20_part(bench: Any, sessions: int, warm_up: bool, no_veth: str | None,
               no_java: str | None) -> dict[str, Any]:  # fmt: skip
    """The -20 DC_BPT session (this module): DC_ChargeLoop p50/p99, ours
    (TLS 1.3) vs theirs, and the ratio."""
    ours_loopback, ours_veth, report = bench.ours_loopback, bench.ours_veth, bench.report
    theirs_veth, TARGET_RATIO = bench.theirs_veth, bench.TARGET_RATIO  # noqa: N806
    session = Iso20Session.make(bench.TimedEvcc)
    out: dict[str, Any] = {}
    print("-20 DC_BPT, dynamic control, DC_ChargeLoop only:")
    if no_veth is not None:
        runs = [ours_loopback(session) for _ in range(sessions + warm_up)][warm_up:]
        out["ours"] = report("  our SECC (loopback TLS 1.3, no SDP)", runs,
                             "TCP connect -> SessionStopRes", LOOP)  # fmt: skip
        print(f"  iso15118 SECC left out: {no_veth}")
        return out
    with veth_pair("s20") as veth:
        runs = [ours_veth(veth, session) for _ in range(sessions + warm_up)][warm_up:]
        out["ours"] = report("  our SECC (veth, SDP+TLS 1.3)", runs, "SDP -> SessionStopRes",
                             LOOP)  # fmt: skip
        if no_java is not None:
            print(f"  iso15118 SECC left out: {no_java}")
            return out
        folder = Path(tempfile.mkdtemp(prefix="secc-bench-20-"))
        try:
            theirs = theirs_veth(veth, folder, sessions, warm_up, session)
            how = "SDP+TLS 1.3"
        except SystemExit as exc:  # their SECC over TLS 1.3 failed: say so, try plain TCP
            print(f"  iso15118 SECC over TLS 1.3 failed ({str(exc)[:200]}...); plain TCP")
            session.their_tls = False
            theirs = theirs_veth(veth, Path(tempfile.mkdtemp(prefix="secc-bench-20-")),
                                 sessions, warm_up, session)  # fmt: skip
            how = "SDP+TCP, no TLS"
        out["theirs"] = report(f"  iso15118 SECC (veth, {how})", theirs,
                               "SDP -> SessionStopRes", LOOP)  # fmt: skip
    ours, theirs_f = out["ours"], out["theirs"]
    r50, r99 = theirs_f["p50_ms"] / ours["p50_ms"], theirs_f["p99_ms"] / ours["p99_ms"]
    out["ratio_p50"], out["ratio_p99"] = r50, r99
    print(f"  DC_ChargeLoop target p99 <= 5 ms: {ours['p99_ms']:.2f} ms, "
          f"{'met' if ours['p99_ms'] <= 5.0 else 'NOT met'}; ratio (theirs / ours): p50 "
          f"{r50:.1f}x, p99 {r99:.1f}x; target >= {TARGET_RATIO:.0f}x: "
          f"{'met' if min(r50, r99) >= TARGET_RATIO else 'NOT met'}")  # fmt: skip
    return out
