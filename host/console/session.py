"""The console's asyncio side: the link (a LinkDriver whose client hands every frame
to the ConsoleState as well), the sim board when asked, the prompt and the screen.

The sim board is the firmware `v2gate simulate` runs (host/bench/processes.py) on a
pty of our own; its faults are injected through the sim HAL's inject file (a line per
fault, firmware/hal/sim.py), the same plant parameters the bench scenarios schedule,
started now instead of at a time fixed before boot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import tempfile
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO

from firmware.link import frame
from firmware.link import messages as m
from host.bench import processes as proc
from host.console import commands as cmds
from host.console.screen import Screen, read_keys
from host.console.state import ConsoleState
from host.link import events as ev
from host.link.driver import LinkDriver
from host.link.protocol import LinkClient

# the sim EV plugs in this long after boot, so the console shows the CP go A -> B, and
# charges until told otherwise
SIM_DEFAULTS: dict[str, Any] = {"plug_ms": 2500, "charge_ms": 3_600_000}
REDRAW_S = 0.1
RESTART_WINDOW_S = 3.0  # the sim firmware ending this soon after a `reset` is its reboot


class _TappedReader:
    """The client's FrameReader, handing each good payload to `tap` as it is taken."""

    def __init__(self, reader: frame.FrameReader, tap: Any) -> None:
        self.reader = reader
        self.tap = tap

    def feed(self, data: bytes) -> None:
        self.reader.feed(data)

    def next_payload(self) -> bytes | None:
        p = self.reader.next_payload()
        if p is not None:
            self.tap("rx", bytes(p))
        return p


class TappedClient(LinkClient):
    """A LinkClient that shows the console every frame, both ways."""

    def __init__(self, state: ConsoleState, clock: Any) -> None:
        super().__init__()
        self.state = state
        self.clock = clock
        self.plain_reader = self.reader
        self.reader = _TappedReader(self.reader, self._tap)  # type: ignore[assignment]
        self._tx = frame.FrameReader()  # unpacks our own frames for the log

    def _tap(self, direction: str, payload: bytes) -> None:
        self.state.frame(self.clock(), direction, payload)

    def data_to_send(self) -> list[bytes]:
        out = super().data_to_send()
        for wire in out:
            self._tx.feed(wire)
            while (p := self._tx.next_payload()) is not None:
                self._tap("tx", bytes(p))
        return out


class Console:
    def __init__(self, state: ConsoleState, driver: LinkDriver, screen: Screen,
                 inject: Path | None) -> None:
        self.state = state
        self.driver = driver
        self.screen = screen
        self.inject_path = inject
        self.lease: m.PowerLease | None = None
        self.done = asyncio.Event()
        self.reset_at = -1e9  # when `reset` (reboot) was last sent
        self.loop = asyncio.get_running_loop()
        self.t0 = self.loop.time()

    def now(self) -> float:
        return self.loop.time() - self.t0

    def tell(self, text: str) -> None:
        """Advice about what was typed: above the prompt, and in the log (where plain
        output, with no prompt line, shows it)."""
        self.screen.message = text
        self.state.say(self.now(), f"! {text}")

    def typed(self, line: str) -> None:
        try:
            c = cmds.parse(line)
        except cmds.CommandError as e:
            self.tell(str(e))
            return
        if c is None:
            return
        self.state.note(self.now(), f"> {line.strip()}")
        self.screen.message = ""
        if c.kind == "send":
            assert c.message is not None
            if isinstance(c.message, m.Reset) and c.message.what == m.RESET_REBOOT:
                self.reset_at = self.now()
            self.driver.send(c.message)
        elif c.kind == "lease":
            self._lease(c.lease)
        elif c.kind == "inject":
            self._inject(c.fault)
        elif c.kind == "help":
            for text in cmds.HELP:
                self.state.say(self.now(), text)
        elif c.kind == "keys":
            self.state.say(self.now(), "  ".join(cmds.key_list()))
        elif c.kind == "quit":
            self.done.set()

    def _lease(self, lease: m.PowerLease | None) -> None:
        if lease is None:
            self.lease = None
            self.state.lease = "none"
            self.driver.send(m.PowerLease(0, 0, 0, cmds.LEASE_EXPIRY_MS))
            return
        self.lease = lease
        way = "export" if lease.direction else "charge"
        self.state.lease = f"{way} {lease.current_da / 10:g} A" + (f" {lease.power_w} W" if lease.power_w else "")
        self.driver.send(lease)

    def _inject(self, fault: str) -> None:
        if self.inject_path is None:
            self.tell("inject: only on the sim board (v2gate console --sim)")
            return
        with self.inject_path.open("a") as f:
            f.write(fault + "\n")

    async def renew(self) -> None:
        """A lease is never sticky (DESIGN.md): renewed well before it expires."""
        while True:
            await asyncio.sleep(cmds.LEASE_EXPIRY_MS / 3000)
            if self.lease is not None and self.driver.is_up:
                self.driver.send(self.lease)

    async def events(self) -> None:
        while True:
            e = await self.driver.events.get()
            self.state.event(self.now(), e)
            if isinstance(e, ev.LinkUp) and self.lease is not None:
                self.driver.send(self.lease)

    async def redraw(self) -> None:
        client = self.driver.client
        assert isinstance(client, TappedClient)
        drops = (0, 0)
        while True:
            self.state.reader_drops(client.plain_reader)
            now = (self.state.count.crc, self.state.count.resyncs)
            if now != drops and self.state.record is not None:
                self.state.record({"t": round(self.now(), 3), "crc": now[0], "resyncs": now[1]})
            drops = now
            self.screen.draw(self.state.panel(), list(self.state.log), self.state.added)
            await asyncio.sleep(REDRAW_S)

    def on_stdin(self) -> None:
        data = read_keys()
        if not data:  # end of input (a script piped in): stop listening, keep showing
            self.loop.remove_reader(sys.stdin.fileno())
            return
        for line in self.screen.editor.keys(data):
            self.typed(line)

    async def plant(self, fw: asyncio.subprocess.Process) -> None:
        """The sim plant's events and anything else the firmware says, into the log."""
        assert fw.stderr is not None
        async for raw in fw.stderr:
            line = raw.decode(errors="replace").strip()
            try:
                rec = json.loads(line)
            except ValueError:
                rec = None
            if isinstance(rec, dict) and "plant" in rec:
                if rec["plant"] not in ("coil-on", "coil-off", "applied"):
                    self.state.note(self.now(), f"sim plant: {rec['plant']} at fw {rec['fw_ms']} ms")
            elif line:
                self.state.note(self.now(), f"firmware: {line}")


class SimBoard:
    """The sim firmware on a pty of its own, and the file its faults are injected by.
    The pty outlives the firmware process, as a board's UART outlives a reboot."""

    def __init__(self, pty: proc.Pty, params: dict[str, Any], runtime: str) -> None:
        self.pty = pty
        self.params = params
        self.runtime = runtime
        self.fw: asyncio.subprocess.Process | None = None

    @property
    def port(self) -> str:
        return self.pty.path

    @property
    def inject(self) -> Path:
        return Path(self.params["inject"])

    async def start(self) -> asyncio.subprocess.Process:
        """(Re)start the firmware: the sim board's reboot is the process ending. The
        inject file starts empty, so the new boot does not replay the old faults."""
        await proc.stop(self.fw)
        self.inject.write_bytes(b"")
        self.fw = await proc.start_firmware(self.pty, self.params, self.runtime)
        return self.fw


@contextlib.asynccontextmanager
async def sim_board(sim: dict[str, Any], runtime: str) -> AsyncIterator[SimBoard]:
    with tempfile.TemporaryDirectory(prefix="v2gate-sim-") as tmp:
        inject = Path(tmp) / "inject"
        inject.touch()
        board = SimBoard(proc.Pty.open(), {**SIM_DEFAULTS, **sim, "inject": str(inject)}, runtime)
        try:
            await board.start()
            yield board
        finally:
            await proc.stop(board.fw)
            board.pty.close()


async def run(port: str | None, sim: dict[str, Any] | None, runtime: str, raw: bool,
              log: TextIO | None, baud: int = 115200) -> int:
    """Until `quit` (0), Ctrl-C, or the sim firmware exits (1)."""
    # the terminal closing (SIGHUP: a closed window, a lost ssh, tmux kill-server) ends
    # the console as Ctrl-C does, so the sim firmware and its files go with it
    main = asyncio.current_task()
    if main is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, main.cancel)
    async with contextlib.AsyncExitStack() as stack:
        board = None
        if sim is not None:
            board = await stack.enter_async_context(sim_board(sim, runtime))
            port = board.port
        assert port is not None
        state = ConsoleState(raw, f"{'sim board, ' + runtime if board is not None else port}")
        if log is not None:
            def record(rec: dict[str, object]) -> None:
                log.write(json.dumps(rec) + "\n")
                log.flush()
            state.record = record
        return await _serve(state, port, baud, board)


async def _serve(state: ConsoleState, port: str, baud: int, board: SimBoard | None) -> int:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    driver = LinkDriver(port, baud, client=TappedClient(state, lambda: loop.time() - t0))
    tasks: list[asyncio.Future[Any]] = []
    try:
        driver.start()  # serial.SerialException: the caller says it in one line
        with Screen() as screen:
            console = Console(state, driver, screen, board.inject if board is not None else None)
            console.t0 = t0
            with contextlib.suppress(OSError, ValueError):  # no stdin, or one epoll refuses
                loop.add_reader(sys.stdin.fileno(), console.on_stdin)
            tasks = [asyncio.ensure_future(c) for c in (console.renew(), console.events(), console.redraw())]
            code = await _until_done(console, board, tasks)
            if console.lease is not None and driver.is_up:  # leave nothing granted behind
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(driver.command(m.PowerLease(0, 0, 0, cmds.LEASE_EXPIRY_MS)), 0.5)
    finally:
        with contextlib.suppress(OSError, ValueError):
            loop.remove_reader(sys.stdin.fileno())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        driver.close()
    if code is not None:
        print(f"v2gate console: the sim firmware exited with code {code}", file=sys.stderr)
        return 1
    return 0


async def _until_done(console: Console, board: SimBoard | None,
                      tasks: list[asyncio.Future[Any]]) -> int | None:
    """Until `quit` (None) or the sim firmware ends by itself (its exit code); after a
    `reset` it ends by design (the sim board's reboot) and is started again."""
    done = asyncio.ensure_future(console.done.wait())
    tasks.append(done)
    while True:
        waits: list[asyncio.Future[Any]] = [done]
        if board is not None and board.fw is not None:
            tasks.append(asyncio.ensure_future(console.plant(board.fw)))
            waits.append(asyncio.ensure_future(board.fw.wait()))
            tasks.append(waits[-1])
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if done.done() or board is None or board.fw is None:
            return None
        if console.now() - console.reset_at > RESTART_WINDOW_S:
            return board.fw.returncode
        console.state.note(console.now(), "sim board rebooted: firmware started again")
        await board.start()


def _replay_line(state: ConsoleState, rec: Any) -> None:
    t = float(rec["t"])
    if "rx" in rec or "tx" in rec:
        d = "rx" if "rx" in rec else "tx"
        state.frame(t, d, bytes.fromhex(rec[d]))
    elif "say" in rec:
        say = rec["say"]
        state.say(t, str(say))
        state.up = say.startswith("link up") or (state.up and not say.startswith("link down"))
    elif "crc" in rec:
        state.count.crc, state.count.resyncs = int(rec["crc"]), int(rec["resyncs"])


def replay(path: Path, raw: bool, out: TextIO | None = None) -> int:
    """A recorded session (--log) as the frame log and the final panel, as plain text."""
    out = out or sys.stdout
    state = ConsoleState(raw, f"replay of {path}")
    screen = Screen(out)
    screen.tty = False
    lines: deque[str] = state.log
    with path.open() as f:
        for n, text in enumerate(f, 1):
            try:  # a damaged line, whatever its field holds, is named, not a traceback
                _replay_line(state, json.loads(text))
            except (ValueError, KeyError, TypeError, AttributeError):
                raise ValueError(f"{path}:{n}: not a console recording line (v2gate console --log)") from None
            screen.draw([], list(lines), state.added)
    out.write("\n".join(["-" * 40, *state.panel()]) + "\n")
    return 0
