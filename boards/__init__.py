"""Board definitions: one module per board, each with a BOARD dict.

Used by the firmware at boot (pins, calibration, timings) and by host tools
(port, mpy-cross architecture). `load(name)` validates the definition and raises
BoardError naming the field when it is wrong, so a bad board file stops boot with a
message instead of driving the wrong pin.
"""

REQUIRED = ("name", "port", "march", "uart", "pins", "link_timeout_ms", "control_period_ms")
PORTS = ("rp2", "esp32", "stm32", "unix")


class BoardError(ValueError):
    pass


def validate(board):
    for key in REQUIRED:
        if key not in board:
            raise BoardError("board %s: missing field '%s'" % (board.get("name", "?"), key))
    name = board["name"]
    if board["port"] not in PORTS:
        raise BoardError("board %s: field 'port' is %r, not one of %s" % (name, board["port"], PORTS))
    seen = {}
    for role, pin in board["pins"].items():
        if pin is None:
            continue
        if pin in seen:
            raise BoardError(
                "board %s: pin %r used twice ('pins.%s' and 'pins.%s')" % (name, pin, seen[pin], role)
            )
        seen[pin] = role
    t = board["link_timeout_ms"]
    if not (200 <= t <= 2000):
        raise BoardError("board %s: field 'link_timeout_ms' is %d, allowed 200..2000" % (name, t))
    p = board["control_period_ms"]
    if not (1 <= p <= 50):
        raise BoardError("board %s: field 'control_period_ms' is %d, allowed 1..50" % (name, p))
    return board


NAMES = ("sim", "rp2040", "esp32s3", "stm32")


def load(name):
    if name not in NAMES:
        raise BoardError("unknown board %r (known: %s)" % (name, ", ".join(NAMES)))
    mod = __import__("boards." + name, None, None, ("BOARD",))
    return validate(mod.BOARD)
