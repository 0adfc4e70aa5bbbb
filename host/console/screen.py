"""The console's terminal: a full-screen ANSI redraw with a prompt line, or plain lines
when stdout is not a terminal (a pipe, a file, a replay).

No curses: the screen is a list of lines drawn from the top on each change, which
works in any terminal emulator and in tmux, and the input is read a key at a time in
cbreak mode (Ctrl-C still interrupts) with its own small line editor.
"""

from __future__ import annotations

import os
import shutil
import sys
import termios
import tty
from typing import Any, TextIO


class LineEditor:
    """Keys in, finished lines out: printable characters, backspace, Enter, Ctrl-U."""

    def __init__(self) -> None:
        self.buffer = ""

    def keys(self, data: str) -> list[str]:
        done: list[str] = []
        for ch in data:
            if ch in "\r\n":
                done.append(self.buffer)
                self.buffer = ""
            elif ch in "\x7f\b":
                self.buffer = self.buffer[:-1]
            elif ch == "\x15":  # Ctrl-U: the line is wrong, start again
                self.buffer = ""
            elif ch.isprintable():
                self.buffer += ch
        return done


class Screen:
    """Full-screen output on a terminal; `interactive` when stdin is one too."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.editor = LineEditor()
        self.message = "type help for the commands"
        self._saved: Any = None  # termios attributes to restore
        self._printed = 0  # plain mode: log lines already written

    def __enter__(self) -> Screen:
        if self.tty:
            self.out.write("\x1b[?1049h\x1b[H\x1b[2J")  # the alternate screen, as pagers use
            self.out.flush()
        if sys.stdin.isatty():
            fd = sys.stdin.fileno()
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)
        if self.tty:
            self.out.write("\x1b[?1049l")
            self.out.flush()

    def draw(self, panel: list[str], log: list[str], added: int) -> None:
        """`log`: the newest log entries; `added`: how many were ever added (plain
        output prints those it has not printed yet)."""
        if not self.tty:
            new = min(added - self._printed, len(log))
            for entry in log[len(log) - new:]:
                self.out.write(entry + "\n")
            self._printed = added
            self.out.flush()
            return
        try:  # the terminal's own size: $COLUMNS is stale once the window is resized
            width, height = os.get_terminal_size(self.out.fileno())
        except OSError:
            width, height = shutil.get_terminal_size()
        log_lines = [part for entry in log for part in entry.split("\n")]
        room = max(0, height - len(panel) - 3)
        rows = [*panel, "-" * width, *log_lines[-room:]] if room else list(panel)
        rows = rows[: height - 2]
        rows += [""] * (height - 2 - len(rows))
        rows += [self.message, "> " + self.editor.buffer]
        self.out.write("\x1b[H" + "\n".join(r[:width] + "\x1b[K" for r in rows))
        self.out.flush()


def read_keys() -> str:
    """What stdin has now (called when it is readable); '' at its end."""
    return os.read(sys.stdin.fileno(), 1024).decode(errors="replace")
