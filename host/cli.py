"""The `v2gate` command.

Each subcommand lives beside the code it drives and exposes ``add_parser(subparsers)``;
the parser it adds sets ``func(args) -> int``. This file only lists them, so adding a
subcommand is one line here.

What no subcommand should have to repeat lives in `main`: an interrupt or an error of the
environment ends in one line on stderr and the exit code a shell expects, never a
traceback. Exit codes:
  0/1  what the subcommand says (1: it ran and the answer is no, e.g. a scenario failed)
  2    usage, or the environment cannot do what was asked (no such port, interface...)
  130  Ctrl-C (SIGINT), 143 SIGTERM: as the shell reports a process killed by them, after
       the subcommand has cleaned up (children stopped, network namespaces removed)
  141  the reader of stdout went away (`v2gate ... | head`): quietly, as a C tool that
       SIGPIPE kills would, so `set -o pipefail` scripts see it as `yes | head` does
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.metadata
import os
import signal
import sys
import threading
from types import FrameType
from typing import NoReturn

# module path of each subcommand, in the order `v2gate --help` shows them
SUBCOMMANDS = [
    "host.bench.cli",
    "host.slac.cli",
    "host.exi.cli",
    "host.flash.cli",
    "host.station.cli",
    "host.pki.cli",
    "host.secc.cli",
    "host.ev.cli",
    "host.console.cli",
    "host.console.grid",
    "host.fleet.cli",
    "host.ocpp.cli",
    "host.meter.cli",
]

EXIT_USAGE = 2
EXIT_SIGPIPE = 128 + signal.SIGPIPE
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM


class OneLineParser(argparse.ArgumentParser):
    """Usage errors in one line, pointing at --help instead of repeating the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def version() -> str:
    try:
        return importlib.metadata.version("v2gate")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="v2gate", description="Controller for bidirectional (V2G) EV chargers."
    )
    parser.add_argument("--version", action="version", version=f"v2gate {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


class _Signals:
    """SIGTERM takes the path Ctrl-C takes, so one cleanup serves both.

    Inside `asyncio.run` the SIGINT handler is asyncio's: it cancels the main task, whose
    `finally` blocks then stop child processes and remove namespaces before
    KeyboardInterrupt leaves `asyncio.run`. Outside it, the default handler raises
    KeyboardInterrupt at once. A second SIGTERM during that cleanup is ignored.
    """

    def __init__(self) -> None:
        self.terminated = False

    def on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if self.terminated:
            return
        self.terminated = True
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler) and handler is not signal.default_int_handler:
            handler(signal.SIGINT, frame)  # asyncio.run's: cancels its main task
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise KeyboardInterrupt from None
        # a loop without asyncio's SIGINT handler (SIGINT ignored, as in a shell's
        # background job): do what that handler does, cancel the main task
        first = _first_task(loop)
        if first is not None:
            first.cancel()


def _first_task(loop: asyncio.AbstractEventLoop) -> asyncio.Task[object] | None:
    """The task `asyncio.run` started: the oldest of the loop (default names count up)."""
    numbered = [(int(t.get_name()[5:]), t) for t in asyncio.all_tasks(loop)
                if t.get_name().startswith("Task-") and t.get_name()[5:].isdigit()]  # fmt: skip
    return min(numbered, key=lambda nt: nt[0])[1] if numbered else None


def _say(prog: str, text: str) -> None:
    try:
        print(f"{prog}: {text}", file=sys.stderr, flush=True)
    except OSError:  # stderr itself gone: nothing left to tell
        pass


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the flush at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def describe_os_error(exc: OSError) -> str:
    if isinstance(exc, TimeoutError) and not str(exc):
        return "timed out"
    if exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    signals = _Signals()
    in_main = threading.current_thread() is threading.main_thread()  # signals need it
    previous = signal.signal(signal.SIGTERM, signals.on_sigterm) if in_main else None
    prog = "v2gate"
    try:
        args = build_parser().parse_args(argv)
        prog = f"v2gate {args.command}"
        code = int(args.func(args))
        sys.stdout.flush()  # here, so a closed pipe shows now and not at interpreter exit
        return code
    except (KeyboardInterrupt, asyncio.CancelledError):
        if signals.terminated:
            _say(prog, "terminated")
            return EXIT_SIGTERM
        _say(prog, "interrupted")
        return EXIT_SIGINT
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_SIGPIPE
    except OSError as exc:  # a port, interface, file or program that is missing or busy
        _say(prog, describe_os_error(exc))
        return EXIT_USAGE
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
