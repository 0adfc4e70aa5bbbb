"""A MicroPython board on a pty, for tests of `v2gate flash` without hardware.

The MicroPython unix port has no raw REPL (FACTS.md), so mpremote cannot drive it. This
process speaks the REPL side of the serial protocol on a pty, the way a board's USB
CDC port does, and runs what it receives in a real `micropython` process whose
filesystem root is a scratch folder (vfs.VfsPosix mounted at /):

  friendly REPL  Ctrl-A: raw REPL; Ctrl-B: banner; Ctrl-D: soft reboot, which runs
                 /main.py as a board does (its stdin/stdout are then the pty itself, so a
                 firmware that talks on stdio owns the line until it exits)
  raw REPL       text, then Ctrl-D: "OK", output, 0x04, error text, 0x04, ">";
                 Ctrl-D on an empty line: soft reboot (a fresh interpreter, no main.py);
                 Ctrl-C: drop the line; Ctrl-B: friendly REPL;
                 Ctrl-E 'A' Ctrl-A: raw-paste mode ("R\\x01", window size, one 0x01 per
                 window consumed, Ctrl-D ends the code and is echoed back)

Globals persist between raw-REPL executions until a soft reboot (mpremote's file
writes define `w` in one execution and call it in the next).

    python rawdev.py --root DIR [--micropython BIN]   # first line out: the pty's path
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import struct
import subprocess
import sys
import tty

WINDOW = 128  # raw-paste flow-control window, as small boards announce
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_BANNER = (
    b"MicroPython (rawdev: the unix port behind a raw-REPL pty)\r\n"
    b'Type "help()" for more information.\r\n>>> '
)

MOUNT = "import os, vfs\nvfs.mount(vfs.VfsPosix(%r), '/')\nos.chdir('/')\n"
# the interpreter behind the raw REPL: length-prefixed code in, framed results out
WORKER = """
import sys, io
rd = sys.stdin.buffer.read
wr = sys.stdout.buffer.write
g = {'__name__': '__main__'}
def readn(n):
    b = b''
    while len(b) < n:
        c = rd(n - len(b))
        if not c:
            raise SystemExit
        b += c
    return b
while True:
    n = int.from_bytes(readn(4), 'little')
    code = readn(n).decode()
    err = ''
    try:
        exec(code, g)
    except BaseException as e:
        s = io.StringIO()
        sys.print_exception(e, s)
        err = s.getvalue()
    wr(b'\\x04' + err.encode() + b'\\x04>')
"""
RUN_MAIN = """
try:
    f = open('/main.py')
except OSError:
    f = None
if f is not None:
    src = f.read()
    f.close()
    exec(src, {'__name__': '__main__'})
"""

FRIENDLY, RAW, PASTE, RUN = "friendly", "raw", "paste", "run"


class Device:
    def __init__(self, root: str, micropython: str) -> None:
        self.root = os.path.abspath(root)
        self.micropython = micropython
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.mode = FRIENDLY
        self.line = bytearray()
        self.paste_left = 0
        self.pending = b""  # raw-paste: waiting for 'A' Ctrl-A after Ctrl-E
        self.worker: subprocess.Popen[bytes] | None = None
        self.main: subprocess.Popen[bytes] | None = None

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    # ------------------------------------------------------------ interpreters

    def start_worker(self) -> None:
        self.stop_worker()
        self.worker = subprocess.Popen(
            [self.micropython, "-c", MOUNT % self.root + WORKER],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.kill()
            self.worker.wait()
            self.worker = None

    def run_main(self) -> None:
        """Soft reboot from the friendly REPL: /main.py runs with the pty as its stdio."""
        self.stop_worker()
        self.mode = RUN
        self.main = subprocess.Popen(
            [self.micropython, "-c", MOUNT % self.root + RUN_MAIN],
            stdin=self.master, stdout=self.master, stderr=self.master,
        )

    def execute(self, code: bytes) -> None:
        assert self.worker is not None and self.worker.stdin is not None
        self.worker.stdin.write(struct.pack("<I", len(code)) + code)
        self.worker.stdin.flush()

    # ------------------------------------------------------------ the REPL

    def soft_reboot(self) -> None:
        self.write(b"MPY: soft reboot\r\n")
        self.line.clear()
        if self.mode == RAW:
            self.start_worker()
            self.write(RAW_BANNER)
        else:
            self.run_main()

    def feed(self, data: bytes) -> None:
        for b in data:
            if self.mode == RUN:  # main.py started mid-chunk: the rest was meant for it
                return
            self.byte(b)

    def byte(self, b: int) -> None:
        if self.mode == PASTE:
            if b == 0x04:
                self.write(b"\x04")
                self.mode = RAW
                code, self.line = bytes(self.line), bytearray()
                self.execute(code)
                return
            self.line.append(b)
            self.paste_left -= 1
            if self.paste_left == 0:
                self.write(b"\x01")
                self.paste_left = WINDOW
            return
        if self.pending:
            self.pending += bytes([b])
            if len(self.pending) == 3:
                if self.pending == b"\x05A\x01":
                    self.write(b"R\x01" + struct.pack("<H", WINDOW))
                    self.mode = PASTE
                    self.paste_left = WINDOW
                self.pending = b""
            return
        if b == 0x01:
            self.mode = RAW
            self.line.clear()
            if self.worker is None:
                self.start_worker()
            self.write(b"\r\n" + RAW_BANNER)
        elif b == 0x02:
            self.mode = FRIENDLY
            self.write(b"\r\n" + FRIENDLY_BANNER)
        elif b == 0x03:
            self.line.clear()
            if self.mode == FRIENDLY:
                self.write(b"\r\n>>> ")
        elif b == 0x04:
            if self.mode == RAW and self.line:
                code, self.line = bytes(self.line), bytearray()
                self.write(b"OK")
                self.execute(code)
            else:
                self.soft_reboot()
        elif b == 0x05 and self.mode == RAW and not self.line:
            self.pending = b"\x05"
        elif self.mode == RAW:
            self.line.append(b)
        elif b == 0x0D:
            self.write(b"\r\n>>> ")
        else:
            self.write(bytes([b]))  # the friendly REPL echoes

    def serve(self) -> None:
        while True:
            if self.mode == RUN:
                assert self.main is not None
                if self.main.poll() is None:
                    select.select([], [], [], 0.05)
                    continue
                self.main = None
                self.mode = FRIENDLY
                self.write(FRIENDLY_BANNER)
            fds = [self.master]
            if self.worker is not None and self.worker.stdout is not None:
                fds.append(self.worker.stdout.fileno())
            ready, _, _ = select.select(fds, [], [], 1.0)
            if self.worker is not None and self.worker.stdout is not None:
                out = self.worker.stdout.fileno()
                if out in ready:
                    data = os.read(out, 4096)
                    if data:
                        self.write(data)
                    else:  # the interpreter died: as a board's hard fault, start again
                        self.start_worker()
            if self.master in ready:
                self.feed(os.read(self.master, 4096))

    def close(self) -> None:
        self.stop_worker()
        if self.main is not None:
            self.main.kill()
            self.main.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--micropython", default="micropython")
    args = ap.parse_args()
    dev = Device(args.root, args.micropython)

    def stop(signum: int, frame: object) -> None:
        dev.close()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(dev.path, flush=True)
    try:
        dev.serve()
    finally:
        dev.close()


if __name__ == "__main__":
    main()
