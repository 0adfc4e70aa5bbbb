"""A MicroPython board behind a serial port, through mpremote's transport.

Everything the flash needs from the board is one raw-REPL execution each: who it is
(`sys.implementation`), the sha256 of every file the build holds (one round trip for
the whole list, so a resumed copy costs one query), file writes (mpremote's
`fs_writefile`) and the soft reset that boots the firmware.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import io
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import serial

from host.flash.build import MpyFormat
from host.link import events as ev
from host.link.protocol import LinkClient

if TYPE_CHECKING:
    from mpremote.transport_serial import SerialTransport

CHUNK = 1024  # bytes per write execution; raw-paste flow control keeps the board's buffer safe

HASHES = """
import hashlib, binascii
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    h = hashlib.sha256()
    b = bytearray(512)
    m = memoryview(b)
    while True:
        n = f.readinto(b)
        if not n:
            break
        h.update(m[:n])
    f.close()
    return binascii.hexlify(h.digest()).decode()
print(repr({p: _h(p) for p in %r}))
del _h
"""

IDENTIFY = (
    "import sys\nprint(repr((sys.implementation.name, tuple(sys.implementation.version[:3]),"
    " getattr(sys.implementation, '_mpy', 0), sys.platform)))"
)


class DeviceError(OSError):
    """The board did something the flash cannot go on from (one line for the user)."""


@dataclass(frozen=True)
class Identity:
    name: str
    version: tuple[int, int, int]
    mpy: MpyFormat | None
    platform: str

    def __str__(self) -> str:
        v = ".".join(str(x) for x in self.version)
        fmt = f", {self.mpy}" if self.mpy else ", no .mpy support reported"
        return f"{self.name} {v} on {self.platform}{fmt}"


class Device:
    def __init__(self, port: str, timeout: float = 10.0) -> None:
        self.port = port
        self.timeout = timeout
        self.t: SerialTransport | None = None
        self._error: type[Exception] = Exception  # mpremote's TransportError, once imported

    def open(self) -> None:
        try:  # here, not at the top: every other v2gate command runs without the extra
            from mpremote.transport import TransportError
            from mpremote.transport_serial import SerialTransport
        except ImportError:
            raise DeviceError("mpremote is not installed (pip install 'v2gate[flash]')") from None
        quiet = io.StringIO()  # mpremote prints what it read on failure: we say one line
        try:
            with contextlib.redirect_stdout(quiet):
                self.t = SerialTransport(self.port, baudrate=115200, timeout=self.timeout)
            self._error = TransportError
        except TransportError as e:
            raise DeviceError(f"cannot open {self.port} ({e})") from None
        try:
            with contextlib.redirect_stdout(quiet):
                self.t.enter_raw_repl(soft_reset=True, timeout_overall=self.timeout)
        except TransportError:
            self.close()
            raise DeviceError(
                f"{self.port}: no MicroPython raw REPL answered within {self.timeout:g} s "
                "(is a board there, and is its REPL on this port?)",
            ) from None

    def close(self) -> None:
        if self.t is not None:
            with contextlib.suppress(OSError, serial.SerialException):
                self.t.close()
            self.t = None

    def _exec(self, code: str) -> bytes:
        assert self.t is not None
        try:
            return bytes(self.t.exec(code))
        except self._error as e:
            last = str(e).strip().splitlines()[-1:] or ["?"]
            raise DeviceError(f"{self.port}: the board said {last[0]}") from None

    def identify(self) -> Identity:
        name, version, mpy, plat = ast.literal_eval(self._exec(IDENTIFY).decode().strip())
        return Identity(name, tuple(version), MpyFormat.from_sys(mpy) if mpy else None, plat)

    def hashes(self, paths: list[str]) -> dict[str, str | None]:
        out = self._exec(HASHES % (paths,))
        return dict(ast.literal_eval(out.decode().strip()))

    def remove(self, path: str) -> None:
        self._exec(f"import os\ntry:\n os.remove({path!r})\nexcept OSError:\n pass")

    def makedirs(self, folders: list[str]) -> None:
        code = f"import os\nfor d in {folders!r}:\n try:\n  os.mkdir(d)\n except OSError:\n  pass"
        self._exec(code)

    def write(self, path: str, data: bytes) -> None:
        assert self.t is not None
        try:
            self.t.fs_writefile(path, data, chunk_size=CHUNK)
        except (self._error, OSError) as e:
            raise DeviceError(f"{self.port}: writing {path} failed: {e}") from None

    def boot(self) -> bytes:
        """Soft reset from the friendly REPL, which runs /main.py (the raw REPL's reset
        does not). Returns what the board printed up to the reboot line."""
        assert self.t is not None
        t = self.t
        t.exit_raw_repl()
        t.read_until(1, b">>> ", timeout=2)
        t.serial.write(b"\x04")
        return bytes(t.read_until(1, b"soft reboot\r\n", timeout=self.timeout))

    def watch(self, seconds: float) -> None:
        """After the reset: a firmware that runs keeps the REPL away; one that stopped
        (an exception at boot) gives the REPL's prompt back within `seconds`."""
        assert self.t is not None
        seen = bytes(self.t.read_until(1, REPL_PROMPT, timeout=seconds, timeout_overall=seconds))
        stopped = repl_came_back(seen)
        if stopped is not None:
            raise DeviceError(f"{self.port}: the firmware stopped at boot: {stopped}")


REPL_PROMPT = b"\r\n>>> "


def repl_came_back(seen: bytes) -> str | None:
    """The reason main.py ended, if `seen` ends at the friendly REPL's prompt: the
    traceback's last line, or what was printed last."""
    if REPL_PROMPT not in seen:
        return None
    text = seen[: seen.index(REPL_PROMPT)].decode("utf-8", "replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("MicroPython", "Type \"help()\""))]
    return lines[-1] if lines else "main.py ended without a word"


def wait_hello(port: str, timeout: float) -> ev.LinkUp:
    """Say HostHello on the link until the firmware answers (it may still be booting)."""
    client = LinkClient()
    console = b""  # on a board whose link is its console, the REPL coming back shows here
    try:  # exclusive, as the station opens it: a second program on the link gets a clear no
        s = serial.Serial(port, 115200, timeout=0.02, exclusive=True)
    except serial.SerialException as e:
        busy = e.errno in (errno.EAGAIN, errno.EWOULDBLOCK)
        why = "busy, another program holds it (a console or station?)" if busy else str(e)
        raise DeviceError(f"{port}: cannot open the link port: {why}") from None
    with s:
        start = time.monotonic()
        client.connect(start)
        while True:
            now = time.monotonic()
            if now - start > timeout:
                raise DeviceError(f"{port}: no firmware Hello within {timeout:g} s after reset")
            for chunk in client.data_to_send():
                s.write(chunk)
            data = s.read(4096)
            if data:
                client.receive(data, now)
                console = (console + data)[-4096:]
                stopped = repl_came_back(console)
                if stopped is not None:
                    raise DeviceError(f"{port}: the firmware stopped at boot: {stopped}")
            when = client.get_timer()
            if when is not None and now >= when:
                client.handle_timer(now)
            while (event := client.next_event()) is not None:
                if isinstance(event, ev.LinkUp):
                    return event
                if isinstance(event, ev.CommandTimedOut):  # still booting: ask again
                    client.connect(now)
