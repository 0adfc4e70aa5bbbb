"""`v2gate secc` and `v2gate ev` as processes: each set-up error in one line with exit 2,
and (root) both sides over a veth pair in two network namespaces to SessionStopRes."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from host import cli
from host.bench.veth import VethPair, in_netns
from host.pki import hierarchy
from host.pki.profiles import PROFILES
from host.v2g.netif import link_local
from host.v2g.server import host_of, open_listen_socket
from tests.host.interop import wait_link_local
from tests.host.test_cli import one_error_line

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


def test_secc_din_only_over_tls_is_refused(capsys: pytest.CaptureFixture[str], lab: Path) -> None:
    fails_here(capsys, "secc", "-i", "lo", "--tls", "--pki", str(lab), "--protocols", "din",
          words=("DIN", "TLS"))  # fmt: skip


def test_secc_unknown_protocol_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["secc", "-i", "lo", "--protocols", "iso2,chademo"])
    assert exit_.value.code == 2
    one_error_line(capsys.readouterr().err, "chademo")


def test_ev_pnc_flag(capsys: pytest.CaptureFixture[str], lab: Path) -> None:
    from host.bench.v2g_scenario import pnc_ready

    line = fails_here(capsys, "ev", "-i", "lo", "--protocol", "iso2-dc", "--pnc", "--tls",
                      "--pki", str(lab))  # fmt: skip
    if pnc_ready():  # the PnC EVCC is in (Iso2Config.pnc): the flag passes, lo has no address
        assert "link-local" in line
    else:
        assert "Plug & Charge not available in this build" in line


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


@pytest.mark.system
@pytest.mark.parametrize(("protocol", "tls"), [("iso2-dc", True)])  # DIN: the din-dc scenario
def test_secc_and_ev_processes_over_veth(veth: VethPair, lab: Path, protocol: str,
                                         tls: bool) -> None:  # fmt: skip
    wait_link_local(veth.ns_evse, veth.if_evse)
    wait_link_local(veth.ns_pev, veth.if_pev)
    security = ["--tls", "--pki", str(lab)] if tls else []
    secc = subprocess.Popen(["ip", "netns", "exec", veth.ns_evse, *V2GATE, "secc", "-i",
                             veth.if_evse, "--port", str(PORT), "--sessions", "1",
                             "--protocols", "iso2,din", *security],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        ev = v2gate("ev", "-i", veth.if_pev, "--protocol", protocol, "--charge-for", "0.5",
                    *security, ns=veth.ns_pev)  # fmt: skip
        secc_out, secc_err = secc.communicate(timeout=30)
    finally:
        if secc.poll() is None:
            secc.kill()
            secc.communicate()
    assert ev.returncode == 0, (ev.stdout, ev.stderr, secc.stdout)
    assert "SessionStopRes OK" in ev.stdout and "session stopped" in ev.stdout, ev.stdout
    assert secc.returncode == 0, (secc_out, secc_err)
    assert "SessionStopReq -> OK" in secc_out and "session ended: SessionStop" in secc_out
    assert ("over TLS" in secc_out) is tls
    loop = "CurrentDemandReq -> OK"
    assert loop in secc_out, secc_out
    assert not secc_err and not ev.stderr


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
