"""The raw-REPL device itself, driven by mpremote's transport: both ways of sending code
(raw-paste with flow control, and the plain raw REPL), the OK/0x04 framing of output and
errors, globals kept between executions and dropped by a soft reset."""

from __future__ import annotations

import pytest
from mpremote.transport import TransportExecError
from mpremote.transport_serial import SerialTransport

from tests.host.flash.conftest import RawDevice
from tests.host.flash.rawdev import WINDOW

pytestmark = [pytest.mark.system, pytest.mark.timeout(60)]


@pytest.mark.parametrize("paste", [True, False])
def test_code_longer_than_a_window_runs(device: RawDevice, paste: bool) -> None:
    t = SerialTransport(device.port, timeout=5)
    try:
        t.use_raw_paste = paste
        t.enter_raw_repl()
        code = "total = 0\n" + "".join(f"total += {i}\n" for i in range(200))
        assert len(code) > 4 * WINDOW
        assert t.exec(code + "print(total)").strip() == b"19900"
        assert t.eval("total") == 19900  # globals persist between executions
        assert t.use_raw_paste is paste  # the device did not refuse raw-paste mode
        with pytest.raises(TransportExecError) as e:
            t.exec("1/0")
        assert e.value.error_output.rstrip().endswith("ZeroDivisionError: divide by zero")
        t.enter_raw_repl(soft_reset=True)
        assert t.eval("'total' in globals()") is False  # a soft reset starts afresh
    finally:
        t.close()


def test_files_land_under_the_scratch_root(device: RawDevice) -> None:
    t = SerialTransport(device.port, timeout=5)
    try:
        t.enter_raw_repl()
        t.fs_mkdir("/lib")
        t.fs_writefile("/lib/x.txt", b"\x00\x04\xc0abc" * 100)
        assert t.fs_readfile("/lib/x.txt") == b"\x00\x04\xc0abc" * 100
    finally:
        t.close()
    assert (device.root / "lib/x.txt").read_bytes() == b"\x00\x04\xc0abc" * 100
