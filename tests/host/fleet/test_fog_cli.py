"""`v2gate fog`: every bad argument is one line and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.cli import main


def _fog(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        code = main(["fog", *args])
    except SystemExit as exc:  # argparse's own exit (usage errors)
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("args", "says"), [
    (["--broker", "localhost:x"], "port 'x' is not a number"),
    (["--broker", "localhost:70000"], "port in 1-65535"),
    (["--broker", "h:1883", "--feeder-limit", "f1"], "--feeder-limit f1: expected FEEDER=WATTS"),
    (["--broker", "h:1883", "--feeder-limit", "a/b=5"], "--feeder-limit a/b=5"),
    (["--broker", "h:1883", "--cafile", "/nonexistent/ca.pem"], "/nonexistent/ca.pem: no such file"),
    (["--broker", "h:1883", "--no-tls", "--dr", "f1"], "--dr f1: expected FEEDER=WATTS"),
    (["--broker", "127.0.0.1:1", "--no-tls", "--dr", "f1=-5000"], "is it running?"),
])  # fmt: skip
def test_bad_arguments_one_line(capsys: pytest.CaptureFixture[str], args: list[str],
                                says: str) -> None:  # fmt: skip
    code, err = _fog(capsys, *args)
    assert code == 2, err
    assert says in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_a_ca_file_that_is_not_a_certificate(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:  # fmt: skip
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    code, err = _fog(capsys, "--broker", "h:8883", "--cafile", str(bad))
    assert code == 2 and "TLS files" in err and "Traceback" not in err


@pytest.mark.parametrize("limit", ["f1=-5000", "f1=nan", "f1=inf"])
def test_a_feeder_limit_that_is_not_a_positive_number(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      limit: str) -> None:  # fmt: skip
    # a negative import limit made every charger's "limit" negative: discharge on command
    async def serve(node: object, report: float) -> None:
        pass

    monkeypatch.setattr("host.fleet.cli._serve", serve)
    code, err = _fog(capsys, "--broker", "h:8883", "--no-tls", "--feeder-limit", limit)
    assert code == 2, err
    assert f"--feeder-limit {limit}" in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(("args", "says"), [
    (["--dr", "f1=nan"], "target_w"),
    (["--dr", "f1=-5000", "--duration", "-5"], "duration_s"),
    (["--dr", "f1=-5000", "--duration", "1e9"], "duration_s"),
])  # fmt: skip
def test_a_dr_event_the_fog_would_drop_is_not_sent(capsys: pytest.CaptureFixture[str],
                                                   args: list[str], says: str) -> None:  # fmt: skip
    # the fog refuses these as bad payloads; the sender must say so, not "DR event sent"
    code, err = _fog(capsys, "--broker", "127.0.0.1:1", "--no-tls", *args)
    assert code == 2, err
    assert says in err and "is it running" not in err and len(err.strip().splitlines()) == 1, err
