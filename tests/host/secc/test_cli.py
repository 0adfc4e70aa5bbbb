"""`v2gate secc` and `v2gate ev` as processes: each set-up error in one line with exit 2,
and (root) both sides over a veth pair in two network namespaces to SessionStopRes."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from host import cli
from host.bench.veth import VethPair, in_netns
from host.pki import files, hierarchy
from host.pki.profiles import PROFILES
from host.v2g import sap
from host.v2g.netif import link_local
from host.v2g.server import host_of, open_listen_socket
from tests.host.interop import wait_link_local
from tests.host.test_cli import one_error_line
from tests.host.v2g.membio import handshake

V2GATE = [sys.executable, "-m", "host.cli"]
PORT = 50433


def v2gate(*args: str, ns: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "netns", "exec", ns] if ns else []
    return subprocess.run([*prefix, *V2GATE, *args], capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def fails(*args: str, ns: str | None = None, words: tuple[str, ...] = ()) -> str:
    """`v2gate ARGS` as a process (in namespace ``ns``): exit 2 and one line."""
    done = v2gate(*args, ns=ns)
    assert done.returncode == 2, (done.stdout, done.stderr)
    return one_error_line(done.stderr, *words)


def fails_here(capsys: pytest.CaptureFixture[str], *args: str, words: tuple[str, ...] = ()) -> str:
    """The same in this process (a process costs seconds of imports on a busy machine)."""
    assert cli.main(list(args)) == 2
    return one_error_line(capsys.readouterr().err, *words)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("lab")
    hierarchy.init(directory, PROFILES["iso2"], hierarchy.Names(), dt.datetime.now(dt.UTC))
    return directory


@pytest.fixture(scope="module")
def lab20(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("lab20")
    hierarchy.init(directory, PROFILES["iso20"], hierarchy.Names(), dt.datetime.now(dt.UTC))
    return directory


# --- ISO 15118-20 options -----------------------------------------------------------------


def test_secc_protocols_iso20_offers_dc_and_ac_first() -> None:
    from host.secc.cli import _protocols

    assert _protocols("iso20,iso2,din") == (sap.ISO20_DC, sap.ISO20_AC, sap.ISO2, sap.DIN)
    assert _protocols("din,iso20") == (sap.DIN, sap.ISO20_DC, sap.ISO20_AC)


@pytest.mark.parametrize(("args", "words"), [
    (("--protocols", "iso20,iso2"), ("TLS 1.3 only", "add --tls", "--pki20")),
    (("--protocols", "iso20", "--tls"), ("TLS 1.3 chain", "add --pki20")),
    (("--protocols", "iso20", "--tls", "--pki20", "x", "--soc-floor", "140"),
     ("--soc-floor", "0-100")),
])  # fmt: skip
def test_secc_iso20_errors(capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                           words: tuple[str, ...]) -> None:  # fmt: skip
    fails_here(capsys, "secc", "-i", "lo", *args, words=words)


def test_secc_iso20_with_its_chain_gets_to_the_interface(capsys: pytest.CaptureFixture[str],
                                                         lab: Path, lab20: Path) -> None:
    # the TLS 1.3 context builds; what stops it is lo (no link-local address)
    fails_here(capsys, "secc", "-i", "lo", "--protocols", "iso20,iso2,din", "--tls", "--pki",
               str(lab), "--pki20", str(lab20), "--mutual", words=("lo", "link-local"))


@pytest.mark.parametrize(("args", "words"), [
    (("--protocol", "iso20-dc"), ("TLS 1.3 only", "add --tls")),
    (("--protocol", "iso2-dc", "--control", "dynamic"), ("--control", "ISO 15118-20")),
    (("--protocol", "din", "--target-soc", "90"), ("--target-soc", "ISO 15118-20")),
    (("--protocol", "iso20-dc", "--tls", "--discharge"), ("bidirectional", "iso20-dc-bpt")),
    (("--protocol", "iso20-ac-bpt", "--tls", "--discharge", "--control", "dynamic"),
     ("scheduled control", "setpoint")),
    (("--protocol", "iso20-ac", "--tls", "--soc", "101"), ("--soc", "0-100")),
])  # fmt: skip
def test_ev_iso20_errors(capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                         words: tuple[str, ...]) -> None:  # fmt: skip
    fails_here(capsys, "ev", "-i", "lo", *args, words=words)


def test_pnc_with_iso20_and_a_folder_without_its_contracts(capsys: pytest.CaptureFixture[str],
                                                           lab: Path) -> None:  # fmt: skip
    # a -2 folder where the -20 one belongs: its keys are P-256, not the -20 curves
    fails_here(capsys, "secc", "-i", "lo", "--protocols", "iso20", "--tls", "--pki", str(lab),
               "--pki20", str(lab), "--pnc", words=("-20 Plug & Charge", "--profile iso20"))
    fails_here(capsys, "ev", "-i", "lo", "--protocol", "iso20-dc", "--tls", "--pki", str(lab),
               "--pnc", words=("-20 Plug & Charge", "contract", "--profile iso20"))


def test_ev_pnc_with_iso20_loads_the_contract(capsys: pytest.CaptureFixture[str],
                                              lab20: Path) -> None:  # fmt: skip
    from host.ev.cli import make_evcc

    machine = make_evcc("iso20-dc-bpt", pnc=True, pki=lab20)
    assert machine.config.pnc is not None  # type: ignore[attr-defined]
    fails_here(capsys, "ev", "-i", "lo", "--protocol", "iso20-dc", "--tls", "--pki", str(lab20),
               "--pnc", words=("lo", "link-local"))


def test_ev_unknown_control_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["ev", "-i", "lo", "--protocol", "iso20-dc", "--control", "smart"])
    assert exit_.value.code == 2
    one_error_line(capsys.readouterr().err, "smart")


def test_ev_iso20_with_its_root_gets_to_the_interface(capsys: pytest.CaptureFixture[str],
                                                      lab20: Path) -> None:  # fmt: skip
    fails_here(capsys, "ev", "-i", "lo", "--protocol", "iso20-ac-bpt", "--tls", "--pki",
               str(lab20), "--discharge", words=("lo", "link-local"))


@pytest.mark.parametrize(("protocol", "control", "discharge"), [
    ("iso20-dc", None, False), ("iso20-dc-bpt", "dynamic", False),
    ("iso20-ac", "scheduled", False), ("iso20-ac-bpt", None, True)])
def test_ev_iso20_machines(protocol: str, control: str | None, discharge: bool) -> None:
    from host.ev.cli import make_evcc
    from host.ev.evcc.iso20 import Iso20Evcc
    from host.secc import iso20_constants as k

    machine = make_evcc(protocol, control=control, discharge=discharge, target_soc=90.0)
    assert isinstance(machine, Iso20Evcc)
    service = {"iso20-dc": k.SERVICE_DC, "iso20-dc-bpt": k.SERVICE_DC_BPT,
               "iso20-ac": k.SERVICE_AC, "iso20-ac-bpt": k.SERVICE_AC_BPT}[protocol]
    assert machine.config.service == service
    assert machine.config.control_mode == (k.CONTROL_DYNAMIC if control == "dynamic"
                                           else k.CONTROL_SCHEDULED)  # fmt: skip
    assert machine.config.discharge is discharge and machine.config.target_soc == 0.9


def test_secc_sim_controller_for_bpt() -> None:
    from host.secc.serve import sim_controller_for

    controller = sim_controller_for(10_000.0, 0.3, -5_000.0)(None)  # type: ignore[arg-type]
    assert controller.export.export_enabled and controller.export.export_limit_w == 10_000.0
    assert controller.export.soc_floor == 0.3 and controller.setpoint == -5_000.0
    assert controller.plant.limits.max_discharge_current > 0
    closed = sim_controller_for()(None)  # type: ignore[arg-type]
    assert not closed.export.export_enabled and closed.setpoint is None


@pytest.mark.parametrize("side", [("secc",), ("ev", "--protocol", "iso2-dc")])
def test_missing_interface(side: tuple[str, ...]) -> None:
    fails(*side, "--interface", "nosuch7", words=("nosuch7", "interface"))


@pytest.mark.parametrize("side", [("secc",), ("ev", "--protocol", "iso2-ac")])
def test_no_link_local_address(capsys: pytest.CaptureFixture[str], side: tuple[str, ...]) -> None:
    # lo has ::1 (host scope) and never a link-local address
    fails_here(capsys, *side, "--interface", "lo", words=("lo", "link-local"))


def test_secc_missing_certificates(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fails_here(capsys, "secc", "-i", "lo", "--tls", "--pki", str(tmp_path),
          words=("missing", "secc_chain.pem", "v2gate pki init"))  # fmt: skip


def test_ev_missing_v2g_root(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fails_here(capsys, "ev", "-i", "lo", "--protocol", "iso2-dc", "--tls", "--pki", str(tmp_path),
          words=("missing", "v2g_root.pem"))  # fmt: skip


def test_secc_unwritable_comm_log(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the log's folder should be
    fails_here(capsys, "secc", "-i", "lo", "--comm-log", str(blocker / "comm.log"),
               words=("communication log", "--comm-log"))  # fmt: skip


def test_secc_din_only_over_tls_is_refused(capsys: pytest.CaptureFixture[str], lab: Path) -> None:
    fails_here(capsys, "secc", "-i", "lo", "--tls", "--pki", str(lab), "--protocols", "din",
          words=("DIN", "TLS"))  # fmt: skip


def test_secc_unknown_protocol_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["secc", "-i", "lo", "--protocols", "iso2,chademo"])
    assert exit_.value.code == 2
    one_error_line(capsys.readouterr().err, "chademo")


def test_ev_pnc_flag_passes_with_a_lab_contract(capsys: pytest.CaptureFixture[str],
                                                lab: Path) -> None:  # fmt: skip
    # the contract loads; what stops it is lo (no link-local address)
    fails_here(capsys, "ev", "-i", "lo", "--protocol", "iso2-dc", "--pnc", "--tls",
               "--pki", str(lab), words=("lo", "link-local"))  # fmt: skip


@pytest.mark.parametrize(("args", "words"), [
    (("--protocol", "iso2-ac", "--pnc"), ("TLS only", "add --tls")),
    (("--protocol", "din", "--pnc"), ("DIN", "no Plug & Charge")),
])  # fmt: skip
def test_ev_pnc_errors(capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                       words: tuple[str, ...]) -> None:  # fmt: skip
    fails_here(capsys, "ev", "-i", "lo", *args, words=words)


def test_ev_pnc_without_contract_files(capsys: pytest.CaptureFixture[str], lab: Path,
                                       tmp_path: Path) -> None:  # fmt: skip
    (tmp_path / "v2g_root.pem").write_bytes((lab / "v2g_root.pem").read_bytes())
    fails_here(capsys, "ev", "-i", "lo", "--protocol", "iso2-dc", "--pnc", "--tls", "--pki",
               str(tmp_path), words=("Plug & Charge", "contract_chain.pem", "v2gate pki init"))


@pytest.mark.parametrize(("args", "words"), [
    (("--allow-list", "x.txt"), ("Plug & Charge options", "add --pnc")),
    (("--cert-backend", "local"), ("Plug & Charge options", "add --pnc")),
    (("--pnc",), ("TLS only", "add --tls")),
    (("--pnc", "--tls", "--protocols", "din"), ("ISO 15118-2", "add iso2")),
])  # fmt: skip
def test_secc_pnc_option_errors(capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                                words: tuple[str, ...]) -> None:  # fmt: skip
    fails_here(capsys, "secc", "-i", "lo", *args, words=words)


def test_secc_pnc_without_mo_files(capsys: pytest.CaptureFixture[str], lab: Path,
                                   tmp_path: Path) -> None:  # fmt: skip
    for name in ("secc_chain.pem", "secc.key"):
        (tmp_path / name).write_bytes((lab / name).read_bytes())
    fails_here(capsys, "secc", "-i", "lo", "--tls", "--pnc", "--pki", str(tmp_path),
               words=("Plug & Charge", "mo_root.pem"))  # fmt: skip


def test_secc_cert_backend_local_needs_the_v2g_root_key(capsys: pytest.CaptureFixture[str],
                                                        lab: Path, tmp_path: Path) -> None:  # fmt: skip
    for name in ("secc_chain.pem", "secc.key", "mo_root.pem", "mo_sub2.key", "mo_sub2.pem",
                 "mo_sub1.pem", "v2g_root.pem"):  # fmt: skip
        (tmp_path / name).write_bytes((lab / name).read_bytes())
    fails_here(capsys, "secc", "-i", "lo", "--tls", "--pnc", "--cert-backend", "local",
               "--pki", str(tmp_path), words=("v2g_root.key",))  # fmt: skip


@pytest.mark.parametrize(("content", "words"), [
    (None, ("cannot read the allow-list", "No such file")),
    ("# ours\nDE-V2G-C00000001\nsha256:abc\n", (":3:", "sha256:abc", "64 hex digits")),
    ("DE V2G C1\n", (":1:", "not an EMAID")),
])  # fmt: skip
def test_secc_bad_allow_list(capsys: pytest.CaptureFixture[str], lab: Path, tmp_path: Path,
                             content: str | None, words: tuple[str, ...]) -> None:  # fmt: skip
    listed = tmp_path / "allow.txt"
    if content is not None:
        listed.write_text(content)
    fails_here(capsys, "secc", "-i", "lo", "--tls", "--pnc", "--pki", str(lab), "--allow-list",
               str(listed), words=words)  # fmt: skip


def test_allow_list_file_is_read_as_the_list(tmp_path: Path) -> None:
    from host.secc.serve import read_allow_list

    fingerprint = "ab" * 32
    listed = tmp_path / "allow.txt"
    listed.write_text(f"# utility's V2G list\nde-v2g-c00000001  # a car\n\nsha256:{fingerprint}\n")
    allow = read_allow_list(listed)
    assert allow.emaids == {"DEV2GC00000001"} and allow.fingerprints == {bytes.fromhex(fingerprint)}


def test_secc_port_busy(veth: VethPair) -> None:
    wait_link_local(veth.ns_evse, veth.if_evse)
    link = in_netns(veth.ns_evse, lambda: link_local(veth.if_evse))
    assert link is not None
    held = in_netns(veth.ns_evse, lambda: open_listen_socket(host_of(link), PORT))
    try:
        fails("secc", "-i", veth.if_evse, "--port", str(PORT), ns=veth.ns_evse,
              words=(str(PORT), "another SECC"))  # fmt: skip
    finally:
        held.close()


def test_tls_context_from_lab_folders(lab: Path, tmp_path: Path) -> None:
    import ssl

    from host.secc.serve import tls_context
    from host.v2g.errors import ConfigError

    lab20 = tmp_path / "lab20"
    hierarchy.init(lab20, PROFILES["iso20"], hierarchy.Names(), dt.datetime.now(dt.UTC))
    assert tls_context(lab).verify_mode == ssl.CERT_NONE  # -2: no client certificate
    ctx = tls_context(lab, lab20, mutual=True)
    assert ctx.verify_mode == ssl.CERT_OPTIONAL and ctx.sni_callback is not None
    (lab20 / "oem_root.pem").unlink()
    with pytest.raises(ConfigError, match="missing OEM root"):
        tls_context(lab, lab20, mutual=True)


def _pair(veth: VethPair, secc_args: list[str], ev_args: list[str]) -> tuple[subprocess.CompletedProcess[str], str, str, int]:
    """`v2gate secc` (one session) and `v2gate ev` as processes in the two namespaces."""
    wait_link_local(veth.ns_evse, veth.if_evse)
    wait_link_local(veth.ns_pev, veth.if_pev)
    secc = subprocess.Popen(["ip", "netns", "exec", veth.ns_evse, *V2GATE, "secc", "-i",
                             veth.if_evse, "--port", str(PORT), "--sessions", "1", *secc_args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        ev = v2gate("ev", "-i", veth.if_pev, "--charge-for", "0.5", *ev_args, ns=veth.ns_pev)
        secc_out, secc_err = secc.communicate(timeout=30)
    finally:
        if secc.poll() is None:
            secc.kill()
            secc.communicate()
    return ev, secc_out, secc_err, secc.returncode


# (protocol, `v2gate secc` args, `v2gate ev` args, the charge loop's request): -2 DC EIM
# over TLS 1.2, and -20 DC_BPT over TLS 1.3 (mutual) in dynamic control on the station's
# -5 kW setpoint, export enabled, the EV at 80 % (floor 40 %): it discharges
PROCESS_SESSIONS = {
    "iso2-dc": (["--protocols", "iso2,din"], [], "CurrentDemandReq"),
    "iso20-dc-bpt": (["--protocols", "iso20,iso2,din", "--pki20", "{lab20}", "--mutual",
                      "--export-limit", "10000", "--setpoint", "-5000"],
                     ["--control", "dynamic", "--soc", "80", "--target-soc", "95"],
                     "DC_ChargeLoopReq"),
}  # fmt: skip


@pytest.mark.system
@pytest.mark.parametrize("protocol", list(PROCESS_SESSIONS))
def test_secc_and_ev_processes_over_veth_eim_over_tls(veth: VethPair, lab: Path, lab20: Path,
                                                      tmp_path: Path, protocol: str) -> None:
    secc_extra, ev_extra, loop = PROCESS_SESSIONS[protocol]
    secc_extra = [a.format(lab20=lab20) for a in secc_extra]
    ev_pki = lab20 if protocol.startswith("iso20") else lab
    log = tmp_path / "comm" / "communication.log"
    ev, secc_out, secc_err, code = _pair(veth, ["--tls", "--pki", str(lab), *secc_extra,
                                                "--comm-log", str(log)],
                                         ["--protocol", protocol, "--tls", "--pki", str(ev_pki),
                                          *ev_extra])  # fmt: skip
    lines = log.read_text().splitlines()
    answer = loop.removesuffix("Req") + "Res"
    # one line per message each way, and the session's end with its reason code
    assert any(" in " in line and loop in line for line in lines), lines[:5]
    assert any(" out " in line and answer in line for line in lines), lines[:5]
    assert "reason=0x00" in lines[-1], lines[-3:]
    assert ev.returncode == 0, (ev.stdout, ev.stderr, secc_out)
    # one line per response
    assert "SessionStopRes OK" in ev.stdout and "session stopped" in ev.stdout, ev.stdout
    assert f"{answer} OK" in ev.stdout, ev.stdout
    assert code == 0, (secc_out, secc_err)
    assert "SessionStopReq -> OK" in secc_out and "session ended: SessionStop" in secc_out
    assert "over TLS" in secc_out and "; EIM" in secc_out
    assert "AuthorizationReq -> OK" in secc_out and "PaymentDetailsReq" not in secc_out
    assert f"{loop} -> OK" in secc_out, secc_out
    assert not secc_err and not ev.stderr
    if protocol.startswith("iso20"):
        text = "\n".join(lines)
        assert "protocol=iso20-dc" in text, text[:2000]
        # the station's -5 kW setpoint: current flowed out of the car
        assert re.search(r" out DC_ChargeLoopRes code=OK .*EVSEPresentCurrent=-[\d.]+ ", text)


@pytest.mark.system
@pytest.mark.parametrize("protocol", ["iso2-ac", "iso2-dc", "iso20-dc-bpt"])
def test_pnc_secc_and_ev_processes_over_veth(veth: VethPair, lab: Path, lab20: Path,
                                             protocol: str) -> None:  # fmt: skip
    security = ["--tls", "--pki", str(lab)]
    secc_args, ev_args = [*security, "--pnc", "--cert-backend", "local"], security
    requests: tuple[str, ...] = ("PaymentServiceSelectionReq", "PaymentDetailsReq")
    if protocol.startswith("iso20"):  # the -20 contract signs AuthorizationReq, mutual TLS
        secc_args = [*security, "--pnc", "--protocols", "iso20", "--pki20", str(lab20),
                     "--mutual"]
        ev_args, requests = ["--tls", "--pki", str(lab20)], ("AuthorizationSetupReq",)
    ev, secc_out, secc_err, code = _pair(veth, secc_args,
                                         ["--protocol", protocol, "--pnc", *ev_args])
    assert ev.returncode == 0, (ev.stdout, ev.stderr, secc_out, secc_err)
    assert code == 0, (secc_out, secc_err)
    assert "over TLS" in secc_out and "Plug & Charge and EIM" in secc_out
    for request in (*requests, "AuthorizationReq", "SessionStopReq"):
        assert f"{request} -> OK" in secc_out, secc_out
    emaid = ev.stdout.split("Plug & Charge: contract ", 1)[1].split()[0]
    assert f"Plug & Charge: contract {emaid} authorized" in secc_out
    loop = {"iso2-ac": "ChargingStatusReq -> OK", "iso2-dc": "CurrentDemandReq -> OK",
            "iso20-dc-bpt": "DC_ChargeLoopReq -> OK"}[protocol]
    assert loop in secc_out and "SessionStopRes OK" in ev.stdout
    assert not ev.stderr and not secc_err


def test_secc_pnc_options_reach_the_sessions(lab: Path, tmp_path: Path) -> None:
    """--pnc, --allow-list and --cert-backend local become the -2 SECC's PncConfig (the
    refusal itself: tests/host/secc/test_iso2_pnc.py and the iso2-dc-pnc scenario test)."""
    from host.secc import cli as secc_cli
    from host.secc.backend import LocalCps
    from host.secc.pnc import PncConfig

    listed = tmp_path / "allow.txt"
    listed.write_text("DE-XYZ-C12345678-9\n")
    args = argparse.Namespace(pnc=True, tls=True, allow_list=listed, cert_backend="local",
                              protocols=(sap.ISO2,), pki=lab)  # fmt: skip
    config = secc_cli.pnc_options(args)[0]["pnc"]
    assert isinstance(config, PncConfig) and config.allow.emaids == {"DEXYZC123456789"}
    assert isinstance(config.backend, LocalCps) and config.tariff_key is not None
    assert list(config.backend.contracts.values()) == [_cn(lab / "contract.pem")]
    args.cert_backend, args.allow_list = "none", None
    config = secc_cli.pnc_options(args)[0]["pnc"]
    assert config.backend is None and not config.allow.emaids
    assert secc_cli.pnc_options(argparse.Namespace(pnc=False, allow_list=None,
                                                   cert_backend="none")) == ({}, {})  # fmt: skip


def test_secc_pnc20_options_reach_the_sessions(lab: Path, lab20: Path, tmp_path: Path) -> None:
    """--pnc with iso20 gives the -20 SECC a PncConfig with the MO root of --pki20 and the
    allow-list; -2's keeps --pki's; the -20 machines the server makes get it."""
    from host.secc import cli as secc_cli
    from host.secc.pnc import PncConfig
    from host.secc.serve import factories
    from host.v2g.protocol import SessionContext

    listed = tmp_path / "allow.txt"
    listed.write_text("DE-XYZ-C12345678-9\n")
    args = argparse.Namespace(pnc=True, tls=True, allow_list=listed, cert_backend="none",
                              protocols=(sap.ISO20_DC, sap.ISO20_AC, sap.ISO2), pki=lab,
                              pki20=lab20)  # fmt: skip
    iso2, iso20 = secc_cli.pnc_options(args)
    config = iso20["pnc"]
    assert isinstance(config, PncConfig) and config.allow.emaids == {"DEXYZC123456789"}
    assert config.mo_roots[0] == files.read_certs(lab20 / "mo_root.pem")[0]
    assert iso2["pnc"].mo_roots[0] == files.read_certs(lab / "mo_root.pem")[0]
    made = factories([sap.ISO20_DC], iso20_options=iso20)
    machine = made[sap.ISO20_DC.namespace](SessionContext(sap.ISO20_DC, 1, True, "fe80::2",
                                                          0.0, 0.0))  # fmt: skip
    assert machine.pnc is config
    args.protocols = (sap.ISO20_DC, sap.ISO20_AC)
    assert secc_cli.pnc_options(args)[0] == {}


def _cn(path: Path) -> str:
    from host.secc.certs import common_name

    return common_name(files.read_certs(path)[0])


@pytest.mark.parametrize(("args", "words"), [
    # a NaN setpoint clamped to the full discharge the export rules allow
    (("--setpoint", "nan"), ("--setpoint", "finite")),
    (("--export-limit", "inf"), ("--export-limit", "finite")),
    (("--export-limit", "-5000"), ("--export-limit", "0 or more")),
    (("--soc-floor", "nan"), ("--soc-floor",)),
])  # fmt: skip
def test_secc_iso20_garbage_values(capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                                   words: tuple[str, ...]) -> None:  # fmt: skip
    fails_here(capsys, "secc", "-i", "lo", "--protocols", "iso20", "--tls", "--pki20", "x",
               *args, words=words)


@pytest.mark.parametrize("option", [("--export-limit", "5000"), ("--setpoint", "-5000"),
                                    ("--soc-floor", "500")])  # fmt: skip
def test_secc_iso20_options_without_iso20(capsys: pytest.CaptureFixture[str],
                                          option: tuple[str, ...]) -> None:  # fmt: skip
    # without an iso20 offer they would change nothing: say so rather than ignore them
    fails_here(capsys, "secc", "-i", "lo", "--protocols", "iso2,din", *option,
               words=(option[0], "add iso20"))


def _handshake(client_ctx: Any, server_ctx: Any) -> str:
    """The TLS version a handshake over memory BIOs settles on; ssl.SSLError if none."""
    return str(handshake(client_ctx, server_ctx)[0].version())


def test_ev_iso20_never_settles_for_tls12(lab20: Path) -> None:
    # the EV offers only -20 in SupportedAppProtocol: over TLS 1.2 it would offer -20 where
    # [V2G20-1235] wants TLS 1.3, so a SECC that serves TLS 1.2 only gets no handshake
    import ssl

    from host.ev.cli import check
    from host.v2g import tls

    args = argparse.Namespace(protocol="iso20-dc", tls=True, pki=lab20, pnc=False, control=None,
                              discharge=False, target_soc=None, soc=None)  # fmt: skip
    ev = check(args)
    only12 = tls.server_context(lab20 / "secc_chain.pem", lab20 / "secc.key", tls13=False)
    with pytest.raises(ssl.SSLError):
        _handshake(ev, only12)
    both = tls.server_context(lab20 / "secc_chain.pem", lab20 / "secc.key")
    assert _handshake(check(args), both) == "TLSv1.3"


@pytest.mark.parametrize("args", [("ev", "-i", "lo", "--protocol", "iso2-dc", "--charge-for", "nan"),
                                  ("ev", "-i", "lo", "--protocol", "iso2-dc", "--timeout", "-1"),
                                  ("ev", "-i", "lo", "--protocol", "din", "--timeout", "inf"),
                                  ("meter", "poll", "--tcp", "127.0.0.1:502", "--interval", "nan")])  # fmt: skip
def test_durations_and_counts_must_be_finite_and_above_zero(capsys: pytest.CaptureFixture[str],
                                                            args: tuple[str, ...]) -> None:  # fmt: skip
    # a NaN charge time never ends the charge; a negative timeout gave up at once
    with pytest.raises(SystemExit) as exit_:
        cli.main(list(args))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "must be above 0 and finite" in err and "Traceback" not in err
