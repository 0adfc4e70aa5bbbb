"""Register maps of bidirectional meters, as data, and the codec for their values.

A map names each quantity once: which table (input registers, function 4, or holding
registers, function 3), the first register, the wire type and the factor to SI units
(V, A, W, Hz, Wh). The poller reads the blocks `read_plan()` derives from the map, and
the simulator writes the same fields with `push_value`, so both sides share one
description and a wrong address shows up as a wrong value in the tests.

Sources (register tables as published by the makers):

- Eastron SDM630 Modbus V2: "SDM630 Modbus Protocol" (Eastron, input registers 3X,
  IEEE-754 float, high word first): 30001-30006 phase voltages (0x0000-0x0004), 30007-30012
  phase currents (0x0006-0x000A), 30013-30018 phase active power (0x000C-0x0010), 30053
  total system power (0x0034), 30071 frequency (0x0046), 30073 import active energy kWh
  (0x0048), 30075 export active energy kWh (0x004A).
- ABB B23/B24: "B23/B24 User Manual", ABB document 2CMC485003M0201, chapter 9 (holding
  registers 4X, big-endian, high word first): 0x5000 active import energy and 0x5004 active
  export energy (uint64, 0.01 kWh), 0x5B00-0x5B04 voltage L1-L3-N (uint32, 0.1 V),
  0x5B0C-0x5B10 current L1-L3 (uint32, 0.01 A), 0x5B14 total and 0x5B16-0x5B1A phase active
  power (int32, 0.01 W), 0x5B2C frequency (uint16, 0.01 Hz).

The site controller's export-enable bit (holding register 0x4002, bit 0) belongs to the
site, not to a meter model: SITE_EXPORT_ENABLE describes it on its own unit id.

Neither model signs its readings. Meters that do (OCMF) expose the record as text in a
block of holding registers whose place differs by maker; `OcmfBlock` says where, and the
simulator's signing variant of each map puts it at OCMF_BLOCK (our choice, documented here).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field, replace

INPUT = 4      # Modbus function code: read input registers
HOLDING = 3    # Modbus function code: read holding registers

# wire type -> (struct format, register count)
TYPES: dict[str, tuple[str, int]] = {
    "u16": (">H", 1),
    "s16": (">h", 1),
    "u32": (">I", 2),
    "s32": (">i", 2),
    "u64": (">Q", 4),
    "f32": (">f", 2),
}

MAX_READ = 100        # registers per request (Modbus allows 125; meters often fewer)
MERGE_GAP = 16        # read across a gap this small instead of sending another request

PHASE_FIELDS = ("voltage", "current", "power")   # each as name_l1, name_l2, name_l3
SCALAR_FIELDS = ("power_total", "frequency", "import_wh", "export_wh")
ENERGY_FIELDS = ("import_wh", "export_wh")


@dataclass(frozen=True)
class Field:
    name: str
    table: int          # INPUT or HOLDING
    address: int        # first register, zero-based as on the wire
    type: str           # key of TYPES
    scale: float        # wire value * scale = SI value

    @property
    def count(self) -> int:
        return TYPES[self.type][1]


@dataclass(frozen=True)
class OcmfBlock:
    """Where a signing meter exposes its latest OCMF record: a length register (bytes of
    text) followed by the UTF-8 text, two bytes per register, high byte first."""
    table: int
    length_address: int
    max_registers: int

    @property
    def data_address(self) -> int:
        return self.length_address + 1


@dataclass(frozen=True)
class Read:
    table: int
    address: int
    count: int


@dataclass(frozen=True)
class MeterMap:
    name: str
    source: str
    fields: tuple[Field, ...]
    resolution_wh: float              # smallest energy step the registers can show
    ocmf: OcmfBlock | None = None
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})
        missing = set(all_field_names()) - set(self.by_name)
        if missing:
            raise ValueError(f"map {self.name} lacks {sorted(missing)}")

    def signing(self, block: OcmfBlock) -> MeterMap:
        return replace(self, name=self.name + "+ocmf", ocmf=block)


def all_field_names() -> list[str]:
    names = [f"{n}_l{p}" for n in PHASE_FIELDS for p in (1, 2, 3)]
    return names + list(SCALAR_FIELDS)


def read_plan(fields: tuple[Field, ...] | list[Field]) -> list[Read]:
    """Contiguous blocks covering the fields, one request each, per table."""
    plan: list[Read] = []
    for table in (INPUT, HOLDING):
        spans = sorted((f.address, f.address + f.count) for f in fields if f.table == table)
        start: int | None = None
        end = 0
        for lo, hi in spans:
            if start is not None and lo - end <= MERGE_GAP and hi - start <= MAX_READ:
                end = max(end, hi)
                continue
            if start is not None:
                plan.append(Read(table, start, end - start))
            start, end = lo, hi
        if start is not None:
            plan.append(Read(table, start, end - start))
    return plan


def pull_value(f: Field, registers: list[int]) -> float:
    """The SI value of `f` from `registers` (the field's own registers, high word first)."""
    fmt, count = TYPES[f.type]
    if len(registers) != count:
        raise ValueError(f"{f.name}: {len(registers)} registers, want {count}")
    raw = struct.unpack(fmt, struct.pack(f">{count}H", *registers))[0]
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ValueError(f"{f.name}: not a number")
    if isinstance(raw, int) and abs(raw) > 2 ** 53:
        # no meter counts this far (9e15 units); a float could not hold it exactly either
        raise ValueError(f"{f.name}: {raw} is beyond any real reading")
    return float(raw) * f.scale


def push_value(f: Field, value: float) -> list[int]:
    """The registers that make `pull_value` give `value` (rounded to the wire type)."""
    fmt, count = TYPES[f.type]
    raw = value / f.scale
    packed = struct.pack(fmt, raw if f.type == "f32" else round(raw))
    return list(struct.unpack(f">{count}H", packed))


def pull_fields(fields: tuple[Field, ...], blocks: dict[Read, list[int]]) -> dict[str, float]:
    """Every field's value from the registers read for `read_plan(fields)`."""
    out: dict[str, float] = {}
    for f in fields:
        for rd, regs in blocks.items():
            if rd.table == f.table and rd.address <= f.address and \
                    f.address + f.count <= rd.address + rd.count:
                off = f.address - rd.address
                out[f.name] = pull_value(f, regs[off:off + f.count])
                break
        else:
            raise ValueError(f"{f.name}: not covered by the registers read")
    return out


def _phases(name: str, table: int, first: int, step: int, type_: str,
            scale: float) -> list[Field]:
    return [Field(f"{name}_l{p}", table, first + (p - 1) * step, type_, scale)
            for p in (1, 2, 3)]


SDM630 = MeterMap(
    name="eastron-sdm630",
    source="Eastron SDM630 Modbus Protocol V2, input registers 30001-30076",
    fields=tuple(
        _phases("voltage", INPUT, 0x0000, 2, "f32", 1.0)
        + _phases("current", INPUT, 0x0006, 2, "f32", 1.0)
        + _phases("power", INPUT, 0x000C, 2, "f32", 1.0)
        + [Field("power_total", INPUT, 0x0034, "f32", 1.0),
           Field("frequency", INPUT, 0x0046, "f32", 1.0),
           Field("import_wh", INPUT, 0x0048, "f32", 1000.0),
           Field("export_wh", INPUT, 0x004A, "f32", 1000.0)]),
    # the display and the registers step in 0.01 kWh; the float's own step is added
    # per value (see `float_step_wh`)
    resolution_wh=10.0,
)

ABB_B23 = MeterMap(
    name="abb-b23",
    source="ABB B23/B24 User Manual 2CMC485003M0201, ch. 9 (registers 0x5000-0x5B2C)",
    fields=tuple(
        _phases("voltage", HOLDING, 0x5B00, 2, "u32", 0.1)
        + _phases("current", HOLDING, 0x5B0C, 2, "u32", 0.01)
        + _phases("power", HOLDING, 0x5B16, 2, "s32", 0.01)
        + [Field("power_total", HOLDING, 0x5B14, "s32", 0.01),
           Field("frequency", HOLDING, 0x5B2C, "u16", 0.01),
           Field("import_wh", HOLDING, 0x5000, "u64", 10.0),
           Field("export_wh", HOLDING, 0x5004, "u64", 10.0)]),
    resolution_wh=10.0,
)

MAPS = {m.name: m for m in (SDM630, ABB_B23)}

# Our simulator's signing meters put their OCMF record here (holding registers; 0x1000 is
# free in both maps above). 400 registers hold 800 bytes: a two-reading record with a
# secp384r1 signature is about 600.
OCMF_BLOCK = OcmfBlock(HOLDING, 0x1000, 400)

# The site controller (grid connection point) allows export with bit 0 of holding register
# 0x4002; any other bit is reserved. Unreadable counts as "not allowed".
SITE_EXPORT_ENABLE = Field("export_enable", HOLDING, 0x4002, "u16", 1.0)
SITE_EXPORT_BIT = 0x0001


def float_step_wh(f: Field, value_wh: float) -> float:
    """The step of the wire type near `value_wh`: a float32 kWh register at 100 MWh moves
    in 7.8 Wh steps, which a monotonic check must tolerate."""
    if f.type != "f32":
        return f.scale
    raw = value_wh / f.scale
    return (math.ulp(struct.unpack(">f", struct.pack(">f", raw))[0]) * 2 ** 29) * f.scale \
        if raw else f.scale * 1e-6
