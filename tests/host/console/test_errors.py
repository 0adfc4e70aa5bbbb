"""Every bad argument of `v2gate console` and `v2gate grid` is one line on stderr and
a non-zero exit, before anything else happens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from host import cli
from host.bench.processes import Pty

pytestmark = pytest.mark.timeout(60)


def one_line(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as e:  # argparse's own errors
        code = int(e.code or 0)
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    return code, err.strip()


@pytest.fixture
def held_port() -> Iterator[str]:
    """A pty another program holds exclusively (a station, another console)."""
    pty = Pty.open()
    try:
        with serial.Serial(pty.path, exclusive=True):
            yield pty.path
    finally:
        pty.close()


@pytest.fixture
def silent_port() -> Iterator[str]:
    pty = Pty.open()  # nobody on the other side
    try:
        yield pty.path
    finally:
        pty.close()


@pytest.mark.parametrize("command", ["console", "grid"])
def test_no_port(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, line = one_line(capsys, command)
    assert code == 2
    assert line == f"v2gate {command}: say where the firmware is: --port PORT (e.g. /dev/ttyACM0), or --sim"


@pytest.mark.parametrize("command", ["console", "grid"])
def test_missing_port(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, line = one_line(capsys, command, "--port", "/dev/ttyNOSUCH9")
    assert code == 2
    assert line.startswith(f"v2gate {command}: cannot open /dev/ttyNOSUCH9: no such file or directory;")


@pytest.mark.parametrize("command", ["console", "grid"])
def test_busy_port(capsys: pytest.CaptureFixture[str], held_port: str, command: str) -> None:
    code, line = one_line(capsys, command, "--port", held_port)
    assert code == 2
    assert f"cannot open {held_port}: busy, another program holds it" in line


@pytest.mark.parametrize("command", ["console", "grid"])
def test_port_and_sim_together(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, line = one_line(capsys, command, "--port", "/dev/ttyACM0", "--sim")
    assert code == 2
    assert "not allowed with argument" in line


@pytest.mark.parametrize("command", ["console", "grid"])
def test_unknown_sim_parameter_and_runtime(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, line = one_line(capsys, command, "--sim", "--sim-set", "plugms=5")
    assert code == 2
    assert line.startswith(f"v2gate {command}: --sim-set plugms=5: no sim parameter 'plugms' (one of ")
    code, line = one_line(capsys, command, "--sim", "--sim-set", "plug_ms=soon")
    assert code == 2 and "the value is not JSON" in line
    code, line = one_line(capsys, command, "--sim", "--runtime", "jython")
    assert code == 2 and "invalid choice: 'jython'" in line


@pytest.mark.parametrize("threshold", ["5", "0", "-0.05", "nan", "0.0004"])
def test_threshold_out_of_range(capsys: pytest.CaptureFixture[str], threshold: str) -> None:
    code, line = one_line(capsys, "grid", "--port", "/dev/ttyACM0", "--phase-align", "--threshold", threshold)
    assert code == 2
    assert line.endswith("rad is out of range: the firmware takes 0.001..1 rad")


def test_threshold_not_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    code, line = one_line(capsys, "grid", "--port", "/dev/ttyACM0", "--phase-align", "--threshold", "wide")
    assert code == 2 and "invalid float value: 'wide'" in line


def test_grid_no_firmware_answers(capsys: pytest.CaptureFixture[str], silent_port: str) -> None:
    code, line = one_line(capsys, "grid", "--port", silent_port, "--timeout", "0.5")
    assert code == 1
    assert line.startswith(f"v2gate grid: no answer from {silent_port} within 0.5 s: check the baud rate")


def test_replay_unreadable_or_not_a_recording(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, line = one_line(capsys, "console", "--replay", str(tmp_path / "none.jsonl"))
    assert code == 2
    assert line == f"v2gate console: cannot read {tmp_path / 'none.jsonl'}: No such file or directory"
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"t": 0.1, "rx": "8200"}\nhello\n')
    code, line = one_line(capsys, "console", "--replay", str(junk))
    assert code == 2
    assert line == f"v2gate console: {junk}:2: not a console recording line (v2gate console --log)"


def test_log_unwritable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, line = one_line(capsys, "console", "--sim", "--log", str(tmp_path / "no" / "such" / "dir.log"))
    assert code == 2
    assert line.startswith("v2gate console: cannot write ") and "No such file or directory" in line


@pytest.mark.parametrize("command", ["console", "grid"])
@pytest.mark.parametrize("baud", ["0", "-5"])
def test_bad_baud_is_one_line(capsys: pytest.CaptureFixture[str], silent_port: str, command: str,
                              baud: str) -> None:  # fmt: skip
    # pyserial's ValueError("Not a valid baudrate") came out as a traceback
    code, line = one_line(capsys, command, "--port", silent_port, "--baud", baud)
    assert code == 2
    assert line == f"v2gate {command}: --baud {baud}: a baud rate is a positive number (e.g. 115200)"


@pytest.mark.parametrize("record", ['{"t": 1, "rx": 5}', '{"t": 1, "rx": "zz"}', '{"t": 1, "say": 5}',
                                    '{"t": 1, "crc": 3}'])  # fmt: skip
def test_replay_of_a_damaged_recording_line_names_it(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path, record: str) -> None:  # fmt: skip
    junk = tmp_path / "damaged.jsonl"
    junk.write_text('{"t": 0.1, "say": "link up"}\n' + record + "\n")
    code, line = one_line(capsys, "console", "--replay", str(junk))
    assert code == 2
    assert line == f"v2gate console: {junk}:2: not a console recording line (v2gate console --log)"
