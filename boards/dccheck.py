"""The checks of a board's `dc` section (DC charger hardware, firmware/app/dc.py), apart
from boards/__init__.py so that only DC boards load them."""

from boards import BoardError, _get

# (min, max) of each field of the `dc` section (0.1 V, ms)
DC_RANGES = {
    "precharge_ms": (500, 30000), "precharge_tol_dv": (10, 500), "weld_check_ms": (200, 5000),
    "safe_dv": (100, 1200), "isolation_ms": (100, 60000), "rated_dv": (500, 15000),
}
DC_PINS = ("dc_plus_drive", "dc_minus_drive", "dc_plus_aux", "dc_minus_aux", "dc_link_adc",
           "imd_alarm", "power_stage_enable")


def validate_dc(board):
    name = board["name"]
    d = board["dc"]
    for key in d:
        if key not in DC_RANGES and key not in ("precharge_relay", "imd_alarm_kohm", "link_cal"):
            raise BoardError("board %s: unknown field 'dc.%s'" % (name, key))
    for key in DC_RANGES:
        lo, hi = DC_RANGES[key]
        v = _get(board, "dc." + key)
        if not isinstance(v, int) or isinstance(v, bool) or not (lo <= v <= hi):
            raise BoardError("board %s: field 'dc.%s' is %r, allowed %d..%d" % (name, key, v, lo, hi))
    if _get(board, "dc.precharge_relay") not in (True, False):
        raise BoardError("board %s: field 'dc.precharge_relay' must be true or false" % name)
    if board["port"] == "unix":
        return
    pins = board["pins"]
    for role in DC_PINS + (("dc_precharge_drive",) if d["precharge_relay"] else ()):
        if pins.get(role) is None:
            raise BoardError("board %s: missing field 'pins.%s' (needed by 'dc')" % (name, role))
    cal = d.get("link_cal")
    if not isinstance(cal, tuple) or len(cal) != 3 or cal[0] <= 0 or cal[1] <= 0:
        raise BoardError("board %s: field 'dc.link_cal' must be (num > 0, den > 0, offset_dv): "
                         "the dc_link_v divider (firmware/hal/mcudc.py)" % name)
