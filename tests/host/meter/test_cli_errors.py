"""`v2gate meter`: a subcommand of `v2gate`, and every error one line with exit 2."""

from __future__ import annotations

import socket

import pytest

from host.cli import main

pytestmark = pytest.mark.unit


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors leave through exit()
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_meter_is_a_v2gate_subcommand(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["meter", "poll", "--help"])
    assert exc.value.code == 0
    assert "usage: v2gate meter poll" in capsys.readouterr().out


def _busy_port() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, s.getsockname()[1]


@pytest.mark.parametrize("argv, words", [
    (["meter", "poll", "--tcp", "abc"], "'abc' is not HOST:PORT"),
    (["meter", "poll", "--tcp", "127.0.0.1:70000"], "port 0-65535"),
    (["meter", "sim", "--tcp", "127.0.0.1:-1"], "port 0-65535"),
    (["meter", "poll", "--tcp", ":1", "--count", "0"], "--count: '0' must be above 0"),
    (["meter", "poll", "--tcp", ":1", "--interval", "x"], "'x' is not a number"),
    (["meter", "poll", "--tcp", ":1", "--unit", "300"], "not a Modbus unit id"),
    (["meter", "poll", "--tcp", ":1", "--public-key", "ABCD"], "--public-key: not a public key"),
    (["meter", "poll", "--tcp", ":1", "--public-key", "/no/such/key.pem"], "No such file"),
    (["meter", "sim", "--rtu", "/no/such/tty"], "cannot serve a meter on /no/such/tty"),
    (["meter", "sim", "--tcp", "192.0.2.1:5020"], "cannot serve a meter on 192.0.2.1:5020"),
])  # fmt: skip
def test_errors_are_one_line_and_exit_2(argv: list[str], words: str, capsys) -> None:
    code, err = run(argv, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("v2gate meter") and words in lines[0]
    assert "Traceback" not in err


def test_a_busy_port_is_one_line(capsys) -> None:
    s, port = _busy_port()
    with s:
        code, err = run(["meter", "sim", "--tcp", f"127.0.0.1:{port}"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"cannot serve a meter on 127.0.0.1:{port}" in err
